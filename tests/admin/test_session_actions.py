"""Start, stop, restart and logout from the admin go through `services` and say how many."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client

from sessions_app.models import Session, SessionGrant, SessionStatus

from .helpers import admin_url, give_auth_state, make_session, working_session

pytestmark = pytest.mark.django_db


def run_action(client: Client, action: str, *sessions: Session, **extra: str):
    return client.post(
        admin_url(Session, "changelist"),
        {"action": action, "_selected_action": [session.pk for session in sessions], **extra},
        follow=True,
    )


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_start_sets_should_run_and_bumps_the_generation(admin_client: Client) -> None:
    alpha, beta = make_session("alpha"), make_session("beta")

    response = run_action(admin_client, "start_sessions", alpha, beta)

    for session in (alpha, beta):
        before = session.generation
        session.refresh_from_db()
        assert session.should_run and session.generation == before + 1
        assert session.display_status == SessionStatus.STARTING
    assert "Start requested for 2 sessions." in texts(response)


def test_stop_clears_should_run(admin_client: Client) -> None:
    session = working_session()

    response = run_action(admin_client, "stop_sessions", session)

    session.refresh_from_db()
    assert not session.should_run
    assert session.display_status == SessionStatus.STOPPED
    assert "Stop requested for 1 session." in texts(response)


def test_restart_bumps_the_generation_of_a_running_session(admin_client: Client) -> None:
    session = working_session()
    before = session.generation

    response = run_action(admin_client, "restart_sessions", session)

    session.refresh_from_db()
    assert session.should_run and session.generation == before + 1
    assert "Restart requested for 1 session." in texts(response)


def test_logout_asks_first_then_clears_me(admin_client: Client) -> None:
    session = working_session()

    asked = run_action(admin_client, "logout_sessions", session)
    session.refresh_from_db()
    assert "Yes, log out" in asked.content.decode() and session.me is not None

    response = run_action(admin_client, "logout_sessions", session, confirmed="yes")

    session.refresh_from_db()
    assert session.me is None and session.device_jid == ""
    # It was running: its engine unlinks the device, then it starts again with a new QR.
    assert session.logout_pending and session.should_run
    assert "Logout requested for 1 session." in texts(response)


def test_logout_of_a_stopped_session_wipes_its_auth_state_here(admin_client: Client) -> None:
    session = make_session()
    Session.objects.filter(pk=session.pk).update(me={"id": "1@c.us"})
    auth = give_auth_state(session)

    run_action(admin_client, "logout_sessions", session, confirmed="yes")

    session.refresh_from_db()
    assert session.me is None and not auth.exists()


def test_an_action_is_written_to_the_session_history(admin_client: Client) -> None:
    session = make_session()

    run_action(admin_client, "start_sessions", session)

    entry = LogEntry.objects.get(object_id=str(session.pk))
    assert entry.change_message == "Start from the admin"
    html = admin_client.get(admin_url(Session, "history", session.pk)).content.decode()
    assert "Start from the admin" in html


def test_the_change_page_buttons_run_the_same_operations(admin_client: Client) -> None:
    session = make_session()
    page = admin_client.get(admin_url(Session, "change", session.pk)).content.decode()
    start_url = f"/admin/sessions_app/session/{session.pk}/operate/start/"
    assert f'action="{start_url}"' in page

    response = admin_client.post(start_url)

    assert response.status_code == 302
    assert response["Location"] == admin_url(Session, "change", session.pk)
    session.refresh_from_db()
    assert session.should_run and session.generation == 1


def test_the_logout_button_asks_first(admin_client: Client) -> None:
    session = working_session()
    url = f"/admin/sessions_app/session/{session.pk}/operate/logout/"

    asked = admin_client.post(url)
    session.refresh_from_db()
    assert asked.status_code == 200 and session.me is not None

    admin_client.post(url, {"confirmed": "yes"})
    session.refresh_from_db()
    assert session.me is None


def test_the_buttons_take_only_posts_and_known_operations(admin_client: Client) -> None:
    session = make_session()
    base = f"/admin/sessions_app/session/{session.pk}/operate"

    assert admin_client.get(f"{base}/start/").status_code == 405
    assert admin_client.post(f"{base}/explode/").status_code == 403
    missing = admin_client.post("/admin/sessions_app/session/999999/operate/start/")
    assert missing.status_code == 302


def test_staff_who_may_only_view_cannot_act(client: Client) -> None:
    session = make_session()
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_session"))
    client.force_login(staff)

    changelist = client.get(admin_url(Session, "changelist")).content.decode()
    page = client.get(admin_url(Session, "change", session.pk)).content.decode()
    refused = client.post(f"/admin/sessions_app/session/{session.pk}/operate/start/")
    run_action(client, "start_sessions", session)

    assert "start_sessions" not in changelist and "operate/start" not in page
    assert refused.status_code == 403
    session.refresh_from_db()
    assert not session.should_run


def test_staff_with_change_permission_can_act(client: Client) -> None:
    session = make_session()
    staff = User.objects.create_user("operator", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(
        codename__in=["view_session", "change_session"]))
    SessionGrant.objects.create(user=staff, session=session)  # control by default
    client.force_login(staff)

    run_action(client, "start_sessions", session)

    session.refresh_from_db()
    assert session.should_run
