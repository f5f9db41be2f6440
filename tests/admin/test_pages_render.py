"""Every admin page renders for staff, with objects present; anonymous users go to the login."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from sessions_app import access
from sessions_app.models import ApiKey, EngineProcess, Session, SessionGrant
from webhooks_app.models import Delivery, Target, Webhook

from .helpers import (
    HOOK_URL_SHOWN,
    admin_url,
    make_delivery,
    make_engine_process,
    scanning_session,
    working_session,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects() -> dict[str, int | str]:
    session = working_session("alpha")
    scanning_session("beta")
    delivery = make_delivery(session)
    process = make_engine_process()
    target = Target.objects.create(origin="https://hooks.example.com:443",
                                   consecutive_failures=5, open_until=delivery.created_at,
                                   last_error="HTTP 503")
    key, _ = access.create_key(is_admin=False, session="alpha", is_active=True, actions={})
    user = User.objects.create_user("granted", password="pw")
    SessionGrant.objects.create(user=user, session=session)
    return {"session": session.pk, "webhook": session.webhooks.get().pk,
            "delivery": delivery.pk, "process": process.pk, "target": target.pk,
            "key": key.pk, "user": user.pk}


def pages(objects: dict[str, int | str]) -> list[str]:
    return [
        "/admin/",
        "/admin/sessions_app/",
        "/admin/webhooks_app/",
        admin_url(Session, "changelist"),
        admin_url(Session, "changelist") + "?_facets=True",
        admin_url(Session, "change", objects["session"]),
        admin_url(Session, "history", objects["session"]),
        admin_url(Session, "delete", objects["session"]),
        admin_url(Webhook, "changelist"),
        admin_url(Webhook, "change", objects["webhook"]),
        admin_url(Webhook, "history", objects["webhook"]),
        admin_url(Delivery, "changelist"),
        admin_url(Delivery, "changelist") + "?_facets=True",
        admin_url(Delivery, "change", objects["delivery"]),
        admin_url(Delivery, "history", objects["delivery"]),
        admin_url(EngineProcess, "changelist"),
        admin_url(EngineProcess, "change", objects["process"]),
        admin_url(Target, "changelist"),
        admin_url(Target, "change", objects["target"]),
        admin_url(ApiKey, "changelist"),
        admin_url(ApiKey, "add"),
        admin_url(ApiKey, "change", objects["key"]),
        admin_url(User, "change", objects["user"]),
    ]


def test_every_page_renders_for_a_superuser(admin_client: Client, objects: dict) -> None:
    for url in pages(objects):
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_every_page_renders_for_staff_with_view_permissions(client: Client,
                                                           objects: dict) -> None:
    staff = User.objects.create_user("support", password="pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    SessionGrant.objects.create(user=staff, session_id=objects["session"])
    client.force_login(staff)

    for url in pages(objects):
        if url.endswith("/delete/") or "/apikey/" in url:
            assert client.get(url).status_code == 403, url
        else:
            assert client.get(url).status_code == 200, url


def test_the_session_page_shows_status_phone_history_and_webhooks(admin_client: Client) -> None:
    session = working_session("alpha")

    html = admin_client.get(admin_url(Session, "change", session.pk)).content.decode()

    assert "WORKING" in html
    assert "4915112345678@c.us" in html and "Ana Support" in html
    assert "Status history" in html and "seen by the engine" in html
    assert HOOK_URL_SHOWN in html
    assert "Authorization" in html  # the header's name; its value is masked


def test_the_delivery_page_shows_attempts_with_a_truncated_response(admin_client: Client
                                                                   ) -> None:
    delivery = make_delivery(working_session())

    html = admin_client.get(admin_url(Delivery, "change", delivery.pk)).content.decode()

    assert "oops xxx" in html
    assert "x" * 1_000 not in html
    assert "HTTP 500" in html and "42" in html


def test_the_changelists_show_their_columns(admin_client: Client) -> None:
    session = working_session("alpha")
    make_delivery(session, event_id="evt_01jcolumns")
    make_engine_process()

    sessions = admin_client.get(admin_url(Session, "changelist")).content.decode()
    deliveries = admin_client.get(admin_url(Delivery, "changelist")).content.decode()
    processes = admin_client.get(admin_url(EngineProcess, "changelist")).content.decode()

    for text in ("alpha", "WORKING", "4915112345678@c.us", "Ana Support", "engine-a"):
        assert text in sessions
    for text in ("message", "alpha", HOOK_URL_SHOWN, "failed", "500"):
        assert text in deliveries
    for text in ("engine-a", "fake", "host-1", "4242"):
        assert text in processes


def test_nothing_can_be_added_or_edited_in_a_form(admin_client: Client) -> None:
    session = working_session("alpha")
    delivery = make_delivery(session)

    for model in (Session, Webhook, Delivery, EngineProcess):
        assert admin_client.get(admin_url(model, "add")).status_code == 403
    html = admin_client.get(admin_url(Session, "change", session.pk)).content.decode()
    assert 'name="config"' not in html and 'name="name"' not in html
    assert admin_client.post(admin_url(Session, "change", session.pk),
                             {"name": "renamed"}).status_code == 403
    assert admin_client.post(admin_url(Delivery, "change", delivery.pk),
                             {"url": "https://evil.example.com"}).status_code == 403
    session.refresh_from_db()
    assert session.name == "alpha"


@pytest.mark.parametrize("url", ["/admin/", "/admin/sessions_app/session/",
                                 "/admin/webhooks_app/delivery/"])
def test_anonymous_users_are_sent_to_the_login(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_anonymous_users_cannot_run_an_action(client: Client) -> None:
    session = make_delivery(working_session()).pk

    response = client.post(admin_url(Delivery, "changelist"),
                           {"action": "send_again", "_selected_action": [session]})

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Delivery.objects.count() == 1
