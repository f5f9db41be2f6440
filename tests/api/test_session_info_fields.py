"""Fields of WAHA's 2026 SessionInfo: `config.noweb.markOnline` always echoed, `assignedWorker`."""

from __future__ import annotations

import pytest

from ..conftest import wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


async def create(api, config):
    response = await api.post("/api/sessions",
                              json={"name": "alpha", "start": False, "config": config})
    assert response.status_code == 201, response.json()
    return response.json()


async def test_a_noweb_block_is_echoed_with_mark_online_true_by_default(api):
    created = await create(api, {"noweb": {"store": {"enabled": True, "fullSync": False}}})

    expected = {"store": {"enabled": True, "fullSync": False}, "markOnline": True}
    assert created["config"]["noweb"] == expected
    assert (await api.get("/api/sessions/alpha")).json()["config"]["noweb"] == expected
    listed = (await api.get("/api/sessions", params={"all": "true"})).json()
    assert listed[0]["config"]["noweb"] == expected


async def test_mark_online_false_is_kept_and_echoed(api):
    created = await create(api, {"noweb": {"markOnline": False}})

    assert created["config"]["noweb"] == {"markOnline": False}


async def test_a_null_mark_online_is_echoed_as_its_default(api):
    created = await create(api, {"noweb": {"markOnline": None, "store": None}})

    assert created["config"]["noweb"] == {"markOnline": True, "store": None}


async def test_a_store_block_names_both_of_its_switches(api):
    created = await create(api, {"noweb": {"store": {"enabled": True}}})

    assert created["config"]["noweb"] == {"store": {"enabled": True, "fullSync": False},
                                          "markOnline": True}


async def test_a_config_without_a_noweb_block_gets_none(api):
    created = await create(api, {"debug": True})

    assert created["config"] == {"debug": True}


async def test_mark_online_set_by_put_is_echoed(api):
    await create(api, {})

    updated = await api.put("/api/sessions/alpha",
                            json={"config": {"noweb": {"markOnline": False}}})

    assert updated.status_code == 200, updated.json()
    assert updated.json()["config"] == {"noweb": {"markOnline": False}}


async def test_assigned_worker_names_the_engine_that_runs_the_session(api, runtime):
    created = await create(api, {})
    assert created["assignedWorker"] is None

    await api.post("/api/sessions/alpha/start")
    running = await wait_status(api, "alpha", "SCAN_QR_CODE")
    assert running["assignedWorker"] == "test-engine-1"
    listed = (await api.get("/api/sessions")).json()
    assert listed[0]["assignedWorker"] == "test-engine-1"

    stopped = await api.post("/api/sessions/alpha/stop")
    assert stopped.json()["assignedWorker"] in (None, "test-engine-1")
    await wait_status(api, "alpha", "STOPPED")

    async def released() -> bool:
        return (await api.get("/api/sessions/alpha")).json()["assignedWorker"] is None

    await wait_for(released, message="the lease to be handed back")
