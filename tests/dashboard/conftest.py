"""Fixtures for the dashboard: a user, a logged-in Django test client, sessions built inline."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sessions_app.models import Session

PASSWORD = "a-long-test-password-42"


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("operator", password=PASSWORD)


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
