"""Fixtures for the dashboard: a superuser, a logged-in Django test client, sessions built
inline; a scoped user (not a superuser) and their grants."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sessions_app.models import Session, SessionGrant

PASSWORD = "a-long-test-password-42"


@pytest.fixture
def user(db: None) -> User:
    """A superuser: sees and does everything."""
    return User.objects.create_superuser("operator", password=PASSWORD)


@pytest.fixture
def scoped_user(db: None) -> User:
    """Not a superuser: reaches only the sessions granted to them."""
    return User.objects.create_user("agent", password=PASSWORD)


@pytest.fixture
def scoped_browser(scoped_user: User) -> Client:
    client = Client()
    client.force_login(scoped_user)
    return client


def grant(user: User, session: Session, **actions: bool) -> SessionGrant:
    """WAHA's default actions (all but delete), changed by `actions` (control=False, ...)."""
    row = SessionGrant(user=user, session=session)
    row.actions = {**row.actions, **actions}
    row.save()
    return row


@pytest.fixture
def browser(user: User) -> Client:
    """A logged-in client (CSRF checks off, as Django's test client does by default)."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def strict_browser(user: User) -> Client:
    """A logged-in client that enforces CSRF like a real browser request would meet it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def make_session(name: str, **fields: Any) -> Session:
    return Session.objects.create(name=name, **fields)


def management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def form_data(**fields: Any) -> dict[str, Any]:
    """A create/edit POST: no metadata rows and no webhook blocks unless given."""
    data: dict[str, Any] = {**management("metadata", 0), **management("webhooks", 0)}
    data.update(fields)
    return data
