"""`honcho start` on the Procfile runs the scaled topology: each role its own process.

On a throw-away PostgreSQL database (unmigrated: the web role migrates it while the other roles
wait) and our own redis-server, with the fake engine. Driven only over HTTP with the API key:
a session with a webhook to a loopback receiver is created and started; its SCAN_QR_CODE can
only come from the engine process and its `session.status` webhooks only from the Celery
worker (neither uvicorn nor run_engines runs a worker). SIGTERM to honcho then ends every
process under it, and the engine hands its session back.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.live_server import free_port
from tests.support.receiver import Receiver
from tests.support.stack import Child, Stack, ThrowawayDatabase

from .helpers import API_KEY, descendants, honcho, honcho_environment, is_alive

pytestmark = pytest.mark.timeout(300)

ROLE_COMMANDS = {
    "web": "uvicorn",
    "engine": "manage.py run_engines",
    "worker": "celery -A waha_project worker",
    "beat": "celery -A waha_project beat",
}


def wait_until(condition: Callable[[], Any], timeout: float, what: str, child: Child) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.running:
            raise AssertionError(f"honcho exited while waiting for {what}:\n{child.output()}")
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}:\n{child.output()}")


@pytest.fixture
def running(stack: Stack, tmp_path: Path) -> Iterator[tuple[Child, str]]:
    """honcho started, and the web role answering /ping: (honcho, base URL)."""
    port = free_port()
    child = honcho(honcho_environment(stack.env, port), tmp_path).start()
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{base_url}/ping", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answers, 180, "the web role to answer /ping", child)
        yield child, base_url
    finally:
        assert child.process is not None
        left = descendants(child.process.pid)
        if child.running:
            child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
        for pid in left:
            if is_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def statuses_received(receiver: Receiver, session: str) -> list[str]:
    found = []
    for request in receiver.requests:
        envelope = json.loads(request.body)
        if envelope["event"] == "session.status" and envelope["session"] == session:
            found.append(envelope["payload"]["status"])
    return found


def session_row(database: ThrowawayDatabase, name: str) -> tuple[str, object, bool]:
    with psycopg.connect(database.url) as conn:
        row = conn.execute("SELECT owner, lease_expires_at, should_run FROM "
                           "sessions_app_session WHERE name = %s", (name,)).fetchone()
    assert row is not None
    return str(row[0]), row[1], bool(row[2])


def test_every_role_runs_in_its_own_process_and_sigterm_ends_them_all(
        running: tuple[Child, str], database: ThrowawayDatabase, receiver: Receiver) -> None:
    child, base_url = running
    assert child.process is not None
    api = httpx.Client(base_url=base_url, headers={"X-Api-Key": API_KEY}, timeout=30)

    assert api.get("/api/sessions").status_code == 200
    assert httpx.get(f"{base_url}/api/sessions", timeout=30).status_code == 401
    created = api.post("/api/sessions", json={"name": "procfile", "config": {
        "webhooks": [{"url": receiver.url(), "events": ["session.status"]}]}})
    assert created.status_code == 201, created.text

    wait_until(lambda: api.get("/api/sessions/procfile").json()["status"] == "SCAN_QR_CODE",
               60, "the engine role to show a QR code", child)
    wait_until(lambda: {"STARTING", "SCAN_QR_CODE"} <= set(statuses_received(receiver,
                                                                              "procfile")),
               60, "the worker role to deliver the session.status webhooks", child)

    engines = api.get("/api/server/status").json()["engines"]
    processes = descendants(child.process.pid)
    assert len(engines) == 1, engines
    [engine] = engines
    assert engine["engine"] == "fake"
    assert ROLE_COMMANDS["engine"] in processes[engine["pid"]]
    owner, lease_expires_at, _ = session_row(database, "procfile")
    assert owner == engine["id"]
    assert lease_expires_at is not None
    for role, command in ROLE_COMMANDS.items():
        assert any(command in line for line in processes.values()), (role, processes)
    with psycopg.connect(database.url) as conn:
        delivered = conn.execute(
            "SELECT count(*) FROM webhooks_app_delivery d JOIN webhooks_app_deliveryattempt a "
            "ON a.delivery_id = d.id WHERE d.session_name = 'procfile' AND "
            "d.status = 'delivered' AND a.status_code = 200").fetchone()
    assert delivered is not None and delivered[0] >= 2

    child.process.send_signal(signal.SIGTERM)
    child.wait(60)

    log = child.output()
    for role in ROLE_COMMANDS:
        assert f"{role}.1 stopped" in log, log
    assert "SIGKILL" not in log, log
    still_running = {pid: line for pid, line in processes.items() if is_alive(pid)}
    assert still_running == {}
    owner, lease_expires_at, should_run = session_row(database, "procfile")
    assert (owner, lease_expires_at) == ("", None)
    assert should_run  # it starts again with the next `honcho start`
    with psycopg.connect(database.url) as conn:
        engine_rows = conn.execute("SELECT count(*) FROM sessions_app_engineprocess").fetchone()
    assert engine_rows == (0,)
