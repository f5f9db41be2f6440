"""What the audit log records (sessions_app/audit.py): one row per state-changing request that
reaches a view, from the API, the dashboard and the admin, refusals included; never a secret."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from sessions_app.models import AuditEntry, Session

from ..conftest import API_KEY

PASSWORD = "a-long-test-password-42"
COLUMNS = ("actor_kind", "actor_id", "operation", "session", "status", "summary")


def rows() -> list[dict[str, Any]]:
    """Oldest first, as the requests were made."""
    return list(AuditEntry.objects.order_by("id").values(*COLUMNS))


async def arows() -> list[dict[str, Any]]:
    return await sync_to_async(rows)()


def row(actor_kind: str, actor_id: str, operation: str, session: str, status: int,
        summary: str) -> dict[str, Any]:
    return dict(zip(COLUMNS, (actor_kind, actor_id, operation, session, status, summary),
                    strict=True))


async def create_session(api: httpx.AsyncClient, name: str) -> None:
    response = await api.post("/api/sessions", json={"name": name, "start": False})
    assert response.status_code == 201, response.text


async def create_key(api: httpx.AsyncClient, **body: object) -> dict[str, Any]:
    response = await api.post("/api/keys", json={"isAdmin": False, "isActive": True, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- the API -----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_a_session_created_with_the_env_key_is_one_row_naming_env(api):
    await create_session(api, "alpha")

    assert await arows() == [
        row("env", "WAHA_API_KEY", "session-create", "alpha", 201, "POST /api/sessions")]


@pytest.mark.django_db(transaction=True)
async def test_a_session_created_without_a_name_is_recorded_with_the_name_it_was_given(api):
    created = await api.post("/api/sessions", json={"start": False})

    [entry] = await arows()
    assert entry["session"] == created.json()["name"]
    assert entry["session"].startswith("session_")


@pytest.mark.django_db(transaction=True)
async def test_a_logout_with_a_session_key_names_the_key_by_its_id(api, keyless):
    await create_session(api, "alpha")
    created = await create_key(api, session="alpha")

    response = await keyless.post("/api/sessions/alpha/logout",
                                headers={"X-Api-Key": created["key"]})

    assert response.status_code == 201
    assert (await arows())[1:] == [
        row("env", "WAHA_API_KEY", "key-create", "alpha", 201, "POST /api/keys"),
        row("key", created["id"], "session-logout", "alpha", 201,
            "POST /api/sessions/alpha/logout"),
    ]


@pytest.mark.django_db(transaction=True)
async def test_a_delete_refused_for_want_of_the_delete_action_is_recorded_as_a_403(api, keyless):
    await create_session(api, "alpha")
    created = await create_key(api, session="alpha")  # `delete` is off by default

    response = await keyless.delete("/api/sessions/alpha", headers={"X-Api-Key": created["key"]})

    assert response.status_code == 403
    assert (await arows())[-1] == row("key", created["id"], "session-destroy", "alpha", 403,
                                      "DELETE /api/sessions/alpha")
    assert await sync_to_async(Session.objects.filter(name="alpha").exists)()


@pytest.mark.django_db(transaction=True)
async def test_a_session_a_key_cannot_see_is_recorded_as_the_404_it_got(api, keyless):
    await create_session(api, "alpha")
    await create_session(api, "beta")
    created = await create_key(api, session="alpha")

    response = await keyless.post("/api/sessions/beta/stop", headers={"X-Api-Key": created["key"]})

    assert response.status_code == 404
    assert (await arows())[-1] == row("key", created["id"], "session-stop", "beta", 404,
                                      "POST /api/sessions/beta/stop")


@pytest.mark.django_db(transaction=True)
async def test_reads_and_requests_without_a_valid_key_write_nothing(api, keyless):
    await create_session(api, "alpha")
    before = await arows()

    await api.get("/api/sessions/alpha")
    await api.get("/api/sessions?all=true")
    unauthorized = [await keyless.post("/api/sessions/alpha/stop"),
                    await keyless.delete("/api/sessions/alpha", headers={"X-Api-Key": "wrong"})]

    assert [r.status_code for r in unauthorized] == [401, 401]
    assert await arows() == before


@pytest.mark.django_db(transaction=True)
async def test_no_secret_of_a_config_nor_a_key_in_the_query_string_reaches_a_row(api, keyless):
    hmac_key = "hmac-secret-5f2a9c"
    password = "proxy-password-8d1e7b"
    await create_session(api, "alpha")
    created = await create_key(api, session="alpha")

    put = await api.put("/api/sessions/alpha", json={"config": {
        "webhooks": [{"url": "https://hooks.example.com/in", "events": ["message"],
                      "hmac": {"key": hmac_key}}],
        "proxy": {"server": "proxy.example.com:3128", "username": "u", "password": password},
    }})
    stop = await keyless.post(f"/api/sessions/alpha/stop?x-api-key={created['key']}")
    refused = await keyless.post(f"/api/keys?x-api-key={created['key']}",
                               json={"isAdmin": True, "session": None, "isActive": True})

    assert (put.status_code, stop.status_code, refused.status_code) == (200, 201, 403)
    entries = await arows()
    assert entries[-3:] == [
        row("env", "WAHA_API_KEY", "session-update", "alpha", 200, "PUT /api/sessions/alpha"),
        row("key", created["id"], "session-stop", "alpha", 201, "POST /api/sessions/alpha/stop"),
        row("key", created["id"], "key-create", "", 403, "POST /api/keys"),
    ]
    written = " ".join(str(value) for entry in entries for value in entry.values())
    for secret in (hmac_key, password, created["key"], API_KEY):
        assert secret not in written


@pytest.mark.django_db(transaction=True)
async def test_routes_naming_their_session_in_the_body_record_it(api):
    await create_session(api, "alpha")

    stop = await api.post("/api/sessions/stop", json={"name": "alpha"})
    send = await api.post("/api/sendText", json={"session": "alpha", "chatId": "1@c.us",
                                                 "text": "hi"})

    assert stop.status_code == 201 and send.status_code == 422  # alpha is not WORKING
    assert (await arows())[-2:] == [
        row("env", "WAHA_API_KEY", "session-legacy-stop", "alpha", 201,
            "POST /api/sessions/stop"),
        row("env", "WAHA_API_KEY", "send-text", "alpha", 422, "POST /api/sendText"),
    ]


@pytest.mark.django_db(transaction=True)
async def test_send_text_without_a_session_is_recorded_on_the_default_one(api):
    await api.post("/api/sendText", json={"chatId": "1@c.us", "text": "hi"})

    [entry] = await arows()
    assert (entry["operation"], entry["session"], entry["status"]) == ("send-text", "default",
                                                                      404)


@pytest.mark.django_db(transaction=True)
async def test_a_deprecated_path_that_is_also_a_sessions_own_records_that_sessions_route(api):
    await create_session(api, "stop")

    response = await api.put("/api/sessions/stop", json={"config": {"debug": True}})

    assert response.status_code == 200
    assert (await arows())[-1] == row("env", "WAHA_API_KEY", "session-update", "stop", 200,
                                      "PUT /api/sessions/stop")


@pytest.mark.django_db(transaction=True)
async def test_a_route_without_a_session_records_none(api):
    await create_session(api, "alpha")
    await api.delete("/api/keys/key_id_nobody")

    assert (await arows())[-1] == row("env", "WAHA_API_KEY", "key-destroy", "", 404,
                                      "DELETE /api/keys/key_id_nobody")


# --- the dashboard and the admin --------------------------------------------------------------
@pytest.fixture
def boss(db: None) -> User:
    return User.objects.create_superuser("boss", password=PASSWORD)


def logged_in(client: Client) -> str:
    """Logs in through the dashboard's own form; answers the CSRF token to post with."""
    token = client.get("/dashboard/login/").cookies["csrftoken"].value
    answer = client.post("/dashboard/login/", {"username": "boss", "password": PASSWORD,
                                               "csrfmiddlewaretoken": token})
    assert answer.status_code == 302
    return str(client.cookies["csrftoken"].value)


def test_a_stop_from_the_dashboard_names_the_user_and_the_session(boss):
    Session.objects.create(name="alpha", should_run=True, generation=1)
    client = Client(enforce_csrf_checks=True)
    token = logged_in(client)

    answer = client.post("/dashboard/sessions/alpha/stop", {"csrfmiddlewaretoken": token})

    assert answer.status_code == 302
    assert not Session.objects.get(name="alpha").should_run
    assert rows()[-1] == row("user", "boss", "dashboard:stop", "alpha", 302,
                             "POST /dashboard/sessions/alpha/stop")


def test_dashboard_login_and_logout_are_recorded_and_a_refused_login_is_not(boss):
    client = Client(enforce_csrf_checks=True)
    token = client.get("/dashboard/login/").cookies["csrftoken"].value
    refused = client.post("/dashboard/login/", {"username": "boss", "password": "wrong",
                                                "csrfmiddlewaretoken": token})
    token = logged_in(client)
    client.post("/dashboard/logout/", {"csrfmiddlewaretoken": token})

    assert refused.status_code == 200
    assert rows() == [
        row("user", "boss", "dashboard:login", "", 302, "POST /dashboard/login/"),
        row("user", "boss", "dashboard:logout", "", 302, "POST /dashboard/logout/"),
    ]


def test_an_anonymous_post_to_the_dashboard_writes_nothing(db):
    Session.objects.create(name="alpha", should_run=True, generation=1)

    answer = Client().post("/dashboard/sessions/alpha/stop")

    assert answer.status_code == 302 and rows() == []


def test_an_operation_from_the_admin_names_the_user_and_the_session(boss):
    session = Session.objects.create(name="alpha", should_run=True, generation=1)
    client = Client()
    client.force_login(boss)

    answer = client.post(f"/admin/sessions_app/session/{session.pk}/operate/stop/")

    assert answer.status_code == 302
    assert rows() == [row("user", "boss", "admin:sessions_app_session_operate:stop", "alpha",
                          302, f"POST /admin/sessions_app/session/{session.pk}/operate/stop/")]


def test_an_admin_action_on_the_list_is_named_by_the_action(boss):
    session = Session.objects.create(name="alpha", should_run=True, generation=1)
    client = Client()
    client.force_login(boss)

    client.post("/admin/sessions_app/session/", {"action": "stop_sessions",
                                                 "_selected_action": [session.pk]})

    assert not Session.objects.get(name="alpha").should_run
    [entry] = rows()
    assert entry["operation"] == "admin:sessions_app_session_changelist:stop_sessions"


def test_a_session_deleted_from_the_admin_keeps_its_name_in_the_row(boss):
    session = Session.objects.create(name="alpha")
    client = Client()
    client.force_login(boss)

    client.post(f"/admin/sessions_app/session/{session.pk}/delete/", {"post": "yes"})

    assert not Session.objects.filter(name="alpha").exists()
    assert rows() == [row("user", "boss", "admin:sessions_app_session_delete", "alpha", 302,
                          f"POST /admin/sessions_app/session/{session.pk}/delete/")]
