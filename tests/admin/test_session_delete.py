"""Deleting a session from the admin goes through services.delete_session: auth state too."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from sessions_app.models import Session, SessionGrant, SessionStatusChange
from webhooks_app.models import Delivery, Webhook

from .helpers import HOOK_URL_SHOWN, admin_url, give_auth_state, make_delivery, make_session

pytestmark = pytest.mark.django_db

PERMS_LACKING = "your account doesn't have permission"


def test_the_confirmation_lists_what_goes_with_the_session(admin_client: Client) -> None:
    session = make_session()

    html = admin_client.get(admin_url(Session, "delete", session.pk)).content.decode()

    assert "Are you sure" in html and PERMS_LACKING not in html
    assert HOOK_URL_SHOWN in html  # its webhook row


def test_deleting_a_session_removes_it_and_wipes_its_auth_state(admin_client: Client) -> None:
    session = make_session()
    make_delivery(session)
    auth = give_auth_state(session)

    response = admin_client.post(admin_url(Session, "delete", session.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Session.objects.filter(pk=session.pk).exists()
    assert not Webhook.objects.exists() and not SessionStatusChange.objects.exists()
    assert not auth.exists()
    # Deliveries are the record of what was sent: they outlive the session.
    assert Delivery.objects.get().webhook is None


def test_deleting_several_sessions_at_once(admin_client: Client) -> None:
    alpha, bravo, charlie = (make_session(name) for name in ("alpha", "bravo", "charlie"))
    auths = [give_auth_state(alpha), give_auth_state(bravo)]
    selected = {"action": "delete_selected", "_selected_action": [alpha.pk, bravo.pk]}

    asked = admin_client.post(admin_url(Session, "changelist"), selected)
    admin_client.post(admin_url(Session, "changelist"), {**selected, "post": "yes"})

    assert PERMS_LACKING not in asked.content.decode()
    assert list(Session.objects.values_list("name", flat=True)) == [charlie.name]
    assert not any(auth.exists() for auth in auths)


def test_staff_with_delete_permission_on_sessions_alone_can_delete(client: Client) -> None:
    session = make_session()
    staff = User.objects.create_user("deleter", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(
        codename__in=["view_session", "delete_session"]))
    SessionGrant.objects.create(user=staff, session=session, can_delete=True)
    client.force_login(staff)

    asked = client.get(admin_url(Session, "delete", session.pk)).content.decode()
    client.post(admin_url(Session, "delete", session.pk), {"post": "yes"})

    assert PERMS_LACKING not in asked
    assert not Session.objects.exists()


def test_staff_without_delete_permission_cannot_delete(client: Client) -> None:
    session = make_session()
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_session"))
    client.force_login(staff)

    response = client.post(admin_url(Session, "delete", session.pk), {"post": "yes"})

    assert response.status_code == 403
    assert Session.objects.exists()
