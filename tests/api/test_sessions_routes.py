"""The Sessions table of API.md, route by route, against the real ASGI application."""

from __future__ import annotations

import re

import pytest

from sessions_app import services
from sessions_app.models import Session, SessionStatusChange

from ..conftest import wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)

SESSION_INFO_KEYS = {"name", "status", "config", "me", "assignedWorker", "presence", "timestamps"}


@pytest.fixture(autouse=True)
def codes_outlive_the_test(fast_qr):
    """Nothing here is about QR expiry: a slow machine must not see a session fail unscanned."""
    fast_qr.QR_FIRST_SECONDS = 30


async def released(name: str) -> None:
    """Wait until the engine has let the session go, not only until the API shows STOPPED."""
    await wait_for(lambda: Session.objects.filter(name=name, owner="").aexists(),
                   message=f"the engine to release {name}")


async def history(name: str) -> list[str]:
    return [
        change.status
        async for change in SessionStatusChange.objects.filter(session__name=name)
        .order_by("timestamp", "id")
    ]


# --- POST /api/sessions ---------------------------------------------------------------------------
async def test_creating_a_session_answers_201_with_its_session_info(api, runtime):
    response = await api.post("/api/sessions", json={
        "name": "alpha", "config": {"metadata": {"user.id": "42"}, "debug": True},
    })

    assert response.status_code == 201
    body = response.json()
    assert set(body) == SESSION_INFO_KEYS
    assert body["name"] == "alpha"
    assert body["status"] == "STARTING"
    assert body["config"] == {"metadata": {"user.id": "42"}, "debug": True}
    assert body["me"] is None
    assert body["presence"] is None
    await wait_status(api, "alpha", "SCAN_QR_CODE")


@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": None}])
async def test_a_session_created_without_a_name_is_named_session_ulid(api, payload):
    response = await api.post("/api/sessions", json={**payload, "start": False})

    assert response.status_code == 201
    name = response.json()["name"]
    assert re.fullmatch(r"session_[0-9a-z]{26}", name)
    assert await Session.objects.filter(name=name).aexists()


async def test_a_session_created_with_start_false_stays_stopped(api, runtime, engine):
    response = await api.post("/api/sessions", json={"name": "idle", "start": False})

    assert response.status_code == 201
    assert response.json() == {
        "name": "idle", "status": "STOPPED", "config": None, "me": None, "assignedWorker": None,
        "presence": None,
        "timestamps": {"activity": None},
    }
    await runtime.reconcile("idle")
    assert engine.started["idle"] == 0
    assert (await api.get("/api/sessions/idle")).json()["status"] == "STOPPED"


async def test_creating_a_name_that_exists_answers_422_and_changes_nothing(api):
    await api.post("/api/sessions", json={"name": "taken", "start": False,
                                          "config": {"debug": True}})

    response = await api.post("/api/sessions", json={"name": "taken",
                                                     "config": {"debug": False}})

    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "message": "Session 'taken' already exists. Use PUT to update it.",
        "error": "Unprocessable Entity",
    }
    row = await Session.objects.aget(name="taken")
    assert row.config == {"debug": True}
    assert row.should_run is False


# --- GET /api/sessions/{name} and the list -------------------------------------------------------
async def test_getting_a_session_adds_its_engine(api, runtime):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.get("/api/sessions/alpha")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == SESSION_INFO_KEYS | {"engine"}
    assert body["engine"] == {
        "engine": "GOWS", "driver": "fake", "worker": "test-engine-1",
        "state": "SCAN_QR_CODE", "lastError": None,
    }


async def test_a_stopped_session_shows_no_me_presence_or_activity(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")

    await api.post("/api/sessions/alpha/stop")
    body = await wait_status(api, "alpha", "STOPPED")

    assert body["me"] is None
    assert body["presence"] is None
    assert body["timestamps"] == {"activity": None}
    await released("alpha")
    assert (await api.get("/api/sessions/alpha")).json()["engine"]["worker"] is None


async def test_a_working_session_shows_me_presence_and_activity(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    engine.pair("alpha", "4915112345678")
    body = await wait_status(api, "alpha", "WORKING")

    assert body["me"]["id"] == "4915112345678@c.us"
    assert body["me"]["pushName"] == "Fake User"
    assert body["presence"] == "online"
    assert isinstance(body["timestamps"]["activity"], int)


async def test_the_list_hides_stopped_sessions_by_default(api, runtime):
    await api.post("/api/sessions", json={"name": "running"})
    await api.post("/api/sessions", json={"name": "stopped", "start": False})

    response = await api.get("/api/sessions")

    assert response.status_code == 200
    assert [info["name"] for info in response.json()] == ["running"]
    assert set(response.json()[0]) == SESSION_INFO_KEYS


@pytest.mark.parametrize(("flag", "names"), [
    ("true", ["running", "stopped"]),
    ("1", ["running", "stopped"]),
    ("false", ["running"]),
    ("0", ["running"]),
])
async def test_the_list_shows_stopped_sessions_when_all_is_set(api, runtime, flag, names):
    await api.post("/api/sessions", json={"name": "running"})
    await api.post("/api/sessions", json={"name": "stopped", "start": False})

    response = await api.get("/api/sessions", params={"all": flag})

    assert response.status_code == 200
    assert [info["name"] for info in response.json()] == names


async def test_a_bad_all_flag_answers_400(api):
    response = await api.get("/api/sessions", params={"all": "yes"})

    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": ["all: must be true, false, 1 or 0"],
                               "error": "Bad Request"}


# --- unknown sessions ---------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/sessions/ghost"),
    ("PUT", "/api/sessions/ghost"),
    ("POST", "/api/sessions/ghost/start"),
    ("POST", "/api/sessions/ghost/stop"),
    ("POST", "/api/sessions/ghost/restart"),
    ("POST", "/api/sessions/ghost/logout"),
    ("GET", "/api/sessions/ghost/me"),
])
async def test_an_unknown_session_answers_404(api, method, path):
    response = await api.request(method, path, json={"config": None} if method == "PUT" else None)

    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "message": "Session not found",
                               "error": "Not Found"}


# --- start, stop, restart -------------------------------------------------------------------------
async def test_starting_a_stopped_session_runs_it(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.post("/api/sessions/alpha/start")

    assert response.status_code == 201
    assert response.json()["status"] == "STARTING"
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert engine.started["alpha"] == 1


async def test_starting_a_running_session_again_is_not_an_error(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.post("/api/sessions/alpha/start")

    assert response.status_code == 201
    assert response.json()["status"] == "SCAN_QR_CODE"
    await runtime.reconcile("alpha")
    assert engine.started["alpha"] == 1


async def test_stopping_twice_answers_stopped_both_times_and_keeps_auth(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha", "config": {"debug": True}})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")

    first = await api.post("/api/sessions/alpha/stop")
    second = await api.post("/api/sessions/alpha/stop")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["status"] == second.json()["status"] == "STOPPED"
    await wait_status(api, "alpha", "STOPPED")
    row = await Session.objects.aget(name="alpha")
    assert row.config == {"debug": True}
    assert engine.has_auth(services.spec_of(row))


async def test_a_stopped_paired_session_resumes_without_a_qr_code(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")
    await api.post("/api/sessions/alpha/stop")
    await wait_status(api, "alpha", "STOPPED")
    await released("alpha")

    await api.post("/api/sessions/alpha/start")
    await wait_status(api, "alpha", "WORKING")

    assert await history("alpha") == [
        "STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING", "STOPPED", "STARTING", "WORKING",
    ]


async def test_restart_stops_and_starts_a_running_session(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")

    response = await api.post("/api/sessions/alpha/restart")

    assert response.status_code == 201
    assert response.json()["status"] == "STARTING"
    await wait_for(lambda: _started(engine, "alpha", 2), message="a second client")
    await wait_status(api, "alpha", "WORKING")
    assert engine.peak_live["alpha"] == 1


async def test_restart_starts_a_stopped_session(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.post("/api/sessions/alpha/restart")

    assert response.status_code == 201
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert engine.started["alpha"] == 1


async def _started(engine, name: str, count: int) -> bool:
    return engine.started[name] == count


# --- PUT ------------------------------------------------------------------------------------------
async def test_put_replaces_the_whole_config_without_merging(api):
    await api.post("/api/sessions", json={"name": "alpha", "start": False, "config": {
        "debug": True, "metadata": {"a": "1"}, "ignore": {"status": True},
    }})

    response = await api.put("/api/sessions/alpha", json={"config": {"metadata": {"b": "2"}}})

    assert response.status_code == 200
    assert response.json()["config"] == {"metadata": {"b": "2"}}
    assert (await Session.objects.aget(name="alpha")).config == {"metadata": {"b": "2"}}


async def test_put_with_a_null_config_clears_it(api):
    await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                          "config": {"debug": True}})

    response = await api.put("/api/sessions/alpha", json={"config": None})

    assert response.status_code == 200
    assert response.json()["config"] is None
    assert (await Session.objects.aget(name="alpha")).config == {}


async def test_put_restarts_a_running_session_with_the_new_config(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha", "config": {"debug": False}})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.put("/api/sessions/alpha", json={"config": {"debug": True}})

    assert response.status_code == 200
    assert response.json()["status"] == "STARTING"
    await wait_for(lambda: _started(engine, "alpha", 2), message="a second client")
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert engine.live["alpha"].spec.config == {"debug": True}
    assert engine.peak_live["alpha"] == 1


async def test_put_leaves_a_stopped_session_stopped(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.put("/api/sessions/alpha", json={"config": {"debug": True}})

    assert response.status_code == 200
    assert response.json()["status"] == "STOPPED"
    await runtime.reconcile("alpha")
    assert engine.started["alpha"] == 0
    assert await history("alpha") == ["STOPPED"]


# --- logout ---------------------------------------------------------------------------------------
async def test_logout_of_a_running_session_shows_a_new_qr_code(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha", "config": {"debug": True}})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")
    spec = services.spec_of(await Session.objects.aget(name="alpha"))
    assert engine.has_auth(spec)

    response = await api.post("/api/sessions/alpha/logout")

    assert response.status_code == 201
    assert response.json()["me"] is None
    body = await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert body["me"] is None
    assert body["config"] == {"debug": True}
    assert not engine.has_auth(spec)
    assert engine.started["alpha"] == 2
    me = await api.get("/api/sessions/alpha/me")
    assert me.status_code == 200
    assert me.json() is None


async def test_logout_of_a_stopped_session_wipes_auth_and_keeps_it_stopped(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha", "config": {"debug": True}})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")
    await api.post("/api/sessions/alpha/stop")
    await wait_status(api, "alpha", "STOPPED")
    await released("alpha")

    response = await api.post("/api/sessions/alpha/logout")

    assert response.status_code == 201
    assert response.json()["status"] == "STOPPED"
    row = await Session.objects.aget(name="alpha")
    assert not engine.has_auth(services.spec_of(row))
    assert row.config == {"debug": True}
    assert row.me is None
    await api.post("/api/sessions/alpha/start")
    await wait_status(api, "alpha", "SCAN_QR_CODE")


# --- me -------------------------------------------------------------------------------------------
async def test_me_is_the_linked_account_of_a_working_session(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha", "12132132130")
    await wait_status(api, "alpha", "WORKING")

    response = await api.get("/api/sessions/alpha/me")

    assert response.status_code == 200
    assert response.json() == {
        "id": "12132132130@c.us", "pushName": "Fake User",
        "jid": "12132132130:7@s.whatsapp.net", "lid": "03123123121:7@lid",
    }


async def test_me_is_null_before_the_session_is_paired(api, runtime):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.get("/api/sessions/alpha/me")

    assert response.status_code == 200
    assert response.content == b"null"


# --- DELETE ---------------------------------------------------------------------------------------
async def test_delete_unlinks_a_paired_session_and_wipes_its_auth(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")
    spec = services.spec_of(await Session.objects.aget(name="alpha"))

    response = await api.delete("/api/sessions/alpha")

    assert response.status_code == 200
    assert response.content == b""
    assert (await api.get("/api/sessions/alpha")).status_code == 404
    await wait_for(lambda: _no_auth(engine, spec), message="the auth state to be wiped")
    assert "alpha" not in engine.live


async def _no_auth(engine, spec) -> bool:
    return not engine.has_auth(spec)


async def test_delete_of_a_stopped_session_wipes_its_auth_at_once(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")
    await api.post("/api/sessions/alpha/stop")
    await wait_status(api, "alpha", "STOPPED")
    await released("alpha")
    spec = services.spec_of(await Session.objects.aget(name="alpha"))

    response = await api.delete("/api/sessions/alpha")

    assert response.status_code == 200
    assert not engine.has_auth(spec)
    assert not await Session.objects.filter(name="alpha").aexists()


async def test_delete_is_idempotent(api):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    first = await api.delete("/api/sessions/alpha")
    second = await api.delete("/api/sessions/alpha")

    assert (first.status_code, first.content) == (200, b"")
    assert (second.status_code, second.content) == (200, b"")


async def test_a_session_created_again_after_delete_does_not_resume_the_old_device(
    api, runtime, engine
):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")
    await api.delete("/api/sessions/alpha")

    response = await api.post("/api/sessions", json={"name": "alpha"})

    assert response.status_code == 201
    body = await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert body["me"] is None


@pytest.mark.parametrize("name", ["start", "stop", "logout"])
async def test_a_session_named_like_a_deprecated_route_can_be_read_updated_and_deleted(
    api, name
):
    await api.post("/api/sessions", json={"name": name, "start": False})

    read = await api.get(f"/api/sessions/{name}")
    updated = await api.put(f"/api/sessions/{name}", json={"config": {"debug": True}})
    deleted = await api.delete(f"/api/sessions/{name}")

    assert read.status_code == 200
    assert read.json()["name"] == name
    assert read.json()["engine"]["engine"] == "GOWS"
    assert updated.status_code == 200
    assert updated.json()["config"] == {"debug": True}
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert not await Session.objects.filter(name=name).aexists()


# --- deprecated aliases ---------------------------------------------------------------------------
async def test_legacy_start_creates_and_starts_a_session(api, runtime):
    response = await api.post("/api/sessions/start",
                              json={"name": "alpha", "config": {"debug": True}})

    assert response.status_code == 201
    assert response.json()["name"] == "alpha"
    assert response.json()["config"] == {"debug": True}
    await wait_status(api, "alpha", "SCAN_QR_CODE")


async def test_legacy_start_replaces_the_config_of_an_existing_session_and_starts_it(
    api, runtime
):
    await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                          "config": {"debug": True}})

    response = await api.post("/api/sessions/start",
                              json={"name": "alpha", "config": {"metadata": {"a": "b"}}})

    assert response.status_code == 201
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert (await Session.objects.aget(name="alpha")).config == {"metadata": {"a": "b"}}


async def test_legacy_start_without_a_config_keeps_the_existing_one(api, runtime):
    await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                          "config": {"debug": True}})

    response = await api.post("/api/sessions/start", json={"name": "alpha"})

    assert response.status_code == 201
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert (await Session.objects.aget(name="alpha")).config == {"debug": True}


async def test_legacy_stop_stops_and_keeps_the_session(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")

    response = await api.post("/api/sessions/stop", json={"name": "alpha", "logout": False})

    assert response.status_code == 201
    await wait_status(api, "alpha", "STOPPED")
    assert engine.has_auth(services.spec_of(await Session.objects.aget(name="alpha")))


async def test_legacy_stop_of_an_unknown_session_answers_404(api):
    response = await api.post("/api/sessions/stop", json={"name": "ghost"})

    assert response.status_code == 404
    assert response.json()["message"] == "Session not found"


@pytest.mark.parametrize(("path", "payload"), [
    ("/api/sessions/stop", {"name": "alpha", "logout": True}),
    ("/api/sessions/logout", {"name": "alpha"}),
])
async def test_legacy_logout_stops_unlinks_and_deletes(api, runtime, engine, path, payload):
    await api.post("/api/sessions", json={"name": "alpha"})
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")
    spec = services.spec_of(await Session.objects.aget(name="alpha"))

    response = await api.post(path, json=payload)

    assert response.status_code == 201
    assert (await api.get("/api/sessions/alpha")).status_code == 404
    await wait_for(lambda: _no_auth(engine, spec), message="the auth state to be wiped")
    assert "alpha" not in engine.live


@pytest.mark.parametrize("path", [
    "/api/sessions/start", "/api/sessions/stop", "/api/sessions/logout",
])
@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": None}])
async def test_legacy_routes_without_a_name_answer_422(api, path, payload):
    response = await api.post(path, json=payload)

    assert response.status_code == 422
    assert response.json() == {"statusCode": 422, "message": "Session name is required",
                               "error": "Unprocessable Entity"}
    assert await Session.objects.acount() == 0
