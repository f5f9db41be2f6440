"""POST /api/server/stop on a real `manage.py serve`: the process stops, gracefully (sessions
handed back, what the user wanted kept) or at once with `force`, and a restart brings back
what ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.live_server import LiveServer

from .test_one_command_run import NOBODY_PAIRS, SELF_PAIRING, start_server, wait_status

pytestmark = pytest.mark.e2e


def run_a_working_and_a_stopped_session(server: LiveServer) -> dict[str, str]:
    with server.client() as api:
        assert api.post("/api/sessions", json={"name": "keeper"}).status_code == 201
        assert api.post("/api/sessions", json={"name": "sleeper", "start": False}
                        ).status_code == 201
        me: dict[str, str] = wait_status(api, "keeper", "WORKING")["me"]
    return me


def assert_it_comes_back(server: LiveServer, me: dict[str, str], timeout: float) -> None:
    with server.client() as api:
        assert wait_status(api, "keeper", "WORKING", timeout=timeout)["me"] == me
        assert api.get("/api/sessions/sleeper").json()["status"] == "STOPPED"


def test_a_stop_ends_the_process_gracefully_and_the_restart_brings_back_what_ran(
    servers: list[LiveServer], data_dir: Path
) -> None:
    first = start_server(servers, data_dir, SELF_PAIRING)
    me = run_a_working_and_a_stopped_session(first)

    with first.client() as api:
        answer = api.post("/api/server/stop", json={"force": False})
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"stopping": True}

    assert first.process is not None
    assert first.process.wait(30) == 0, first.output()
    assert "shutting down: stopping sessions" in first.output()

    second = start_server(servers, data_dir, NOBODY_PAIRS)
    assert_it_comes_back(second, me, timeout=20)
    assert second.terminate(timeout=15) == 0, second.output()


def test_a_forced_stop_ends_the_process_at_once_and_the_session_comes_back_after_its_lease(
    servers: list[LiveServer], data_dir: Path
) -> None:
    short_lease = {"WAHA_LEASE_SECONDS": "3", "WAHA_RECONCILE_SECONDS": "0.5"}
    first = start_server(servers, data_dir, {**SELF_PAIRING, **short_lease})
    me = run_a_working_and_a_stopped_session(first)

    with first.client() as api:
        answer = api.post("/api/server/stop", json={"force": True})
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"stopping": True}

    assert first.process is not None
    assert first.process.wait(15) == -9, first.output()
    assert "shutting down" not in first.output()

    second = start_server(servers, data_dir, {**NOBODY_PAIRS, **short_lease})
    assert_it_comes_back(second, me, timeout=30)
    assert second.terminate(timeout=15) == 0, second.output()
