"""Server routes (ping, health, version, status) and the error forms every route shares."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings

from sessions_app import services
from waha_project import auth

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "password=hunter2 at db.internal"


async def test_ping_answers_pong(api):
    response = await api.get("/ping")

    assert response.status_code == 200
    assert response.json() == {"message": "pong"}


async def test_health_is_ok_while_an_engine_runs(api, runtime):
    response = await api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["error"] == {}
    assert set(body["info"]) == {"database", "channel_layer", "engines"}
    assert all(check["status"] == "up" for check in body["info"].values())
    assert body["info"]["engines"]["workers"] == ["test-engine-1"]
    assert body["details"] == body["info"]


async def test_health_answers_503_naming_the_engines_when_none_runs(api):
    response = await api.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert set(body["error"]) == {"engines"}
    assert body["error"]["engines"]["status"] == "down"
    assert "heartbeat" in body["error"]["engines"]["message"]
    assert body["info"]["database"]["status"] == "up"
    assert body["details"]["engines"] == body["error"]["engines"]


async def test_health_turns_503_once_the_engine_has_stopped(api, engine):
    from sessions_app.runtime import EngineRuntime

    runtime = EngineRuntime(engine, worker_id="short-lived", lease_seconds=5,
                            reconcile_seconds=0.2)
    await runtime.start()
    assert (await api.get("/health")).status_code == 200

    await runtime.shutdown()

    assert (await api.get("/health")).status_code == 503


async def test_version_has_wahas_shape(api):
    response = await api.get("/api/server/version")

    assert response.status_code == 200
    assert response.json() == {
        "version": django_settings.WAHA_VERSION, "engine": "GOWS",
        "tier": django_settings.WAHA_TIER, "browser": None, "platform": "linux/x64",
        "worker": {"id": django_settings.WORKER_ID},
    }


async def test_status_tells_start_time_uptime_and_worker(api, runtime):
    before = int(time.time() * 1000)

    response = await api.get("/api/server/status")

    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["startTimestamp"], int)
    assert isinstance(body["uptime"], int)
    assert 0 < body["startTimestamp"] <= before
    assert body["uptime"] >= 0
    assert abs(body["startTimestamp"] + body["uptime"] - before) < 60_000
    assert body["worker"]["id"] == django_settings.WORKER_ID
    assert [engine["id"] for engine in body["engines"]] == ["test-engine-1"]


# --- shared error forms -------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/no-such-page", "/api/no-such-route", "/api/sessions/"])
async def test_an_unknown_route_answers_json_404(api, path):
    response = await api.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"statusCode": 404, "message": f"Cannot GET {path}",
                               "error": "Not Found"}


async def test_a_method_a_route_does_not_have_answers_json_405(api):
    response = await api.patch("/api/sessions/alpha", json={})

    assert response.status_code == 405
    assert response.json() == {"statusCode": 405, "message": 'Method "PATCH" not allowed.',
                               "error": "Method Not Allowed"}


def explode(*args: object, **kwargs: object) -> None:
    raise RuntimeError(SECRET)


async def test_a_500_in_a_view_leaks_nothing_when_debug_is_off(api, settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.setattr(services, "list_sessions", explode)

    response = await api.get("/api/sessions")

    assert response.status_code == 500
    assert response.json() == {"statusCode": 500, "message": "Internal server error",
                               "error": "Internal Server Error"}
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


async def test_a_500_in_a_view_names_the_error_when_debug_is_on(api, settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setattr(services, "list_sessions", explode)

    response = await api.get("/api/sessions")

    assert response.status_code == 500
    assert response.json()["message"] == f"RuntimeError: {SECRET}"


async def test_a_500_outside_the_views_leaks_nothing_when_debug_is_off(
    api, settings, monkeypatch
):
    settings.DEBUG = False
    monkeypatch.setattr(auth, "path_needs_key", explode)

    response = await api.get("/ping")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"statusCode": 500, "message": "Internal server error",
                               "error": "Internal Server Error"}
    assert "hunter2" not in response.text
