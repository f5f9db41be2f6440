"""The README's run command, final step, as a real process: `python manage.py serve`.

Each test starts the product the way an operator does (a fresh data directory, a free port on
127.0.0.1, the fake engine) and talks to it only over HTTP and signals.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live_server import PROJECT_ROOT, LiveServer, clean_environment, free_port

pytestmark = pytest.mark.e2e

SHORT_QR = {"WAHA_QR_FIRST_SECONDS": "5", "WAHA_QR_NEXT_SECONDS": "2", "WAHA_QR_CODES": "2"}
# The fake engine pairs by itself this long after its first QR code. 2 s rather than 1 s leaves
# the QR request room to land before pairing on a busy machine.
SELF_PAIRING = {**SHORT_QR, "WAHA_FAKE_PAIR_AFTER_SECONDS": "2"}
# Nothing pairs here, and one short QR code runs out fast: a session that needed a QR code
# could only end FAILED, so reaching WORKING means it resumed from its stored auth state.
NOBODY_PAIRS = {"WAHA_QR_FIRST_SECONDS": "1", "WAHA_QR_CODES": "1",
                "WAHA_QR_WAIT_SCAN_SECONDS": "1"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def wait_status(api: httpx.Client, name: str, status: str,
                timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = api.get(f"/api/sessions/{name}").json()
        if seen.get("status") == status:
            return seen
        if seen.get("status") == "FAILED" and status != "FAILED":
            break
        time.sleep(0.1)
    raise AssertionError(f"{name} never reached {status}; last seen {seen}")


def start_server(servers: list[LiveServer], data_dir: Path, env: dict[str, str]) -> LiveServer:
    server = LiveServer(data_dir, env)
    servers.append(server)
    return server.start()


def test_the_run_command_takes_a_session_from_qr_to_deletion_and_exits_0_on_sigterm(
    servers: list[LiveServer], data_dir: Path
) -> None:
    server = start_server(servers, data_dir, SELF_PAIRING)

    with server.client() as api:
        created = api.post("/api/sessions", json={"name": "e2e", "start": False})
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "STOPPED"

        started = api.post("/api/sessions/e2e/start")
        assert started.status_code == 201, started.text

        qr = api.get("/api/e2e/auth/qr")
        assert qr.status_code == 200, qr.text
        assert qr.headers["content-type"] == "image/png"
        assert qr.content.startswith(PNG_SIGNATURE)

        working = wait_status(api, "e2e", "WORKING")
        assert working["me"]["id"].endswith("@c.us")

        me = api.get("/api/sessions/e2e/me")
        assert me.status_code == 200
        assert me.json()["id"] == working["me"]["id"]

        stopped = api.post("/api/sessions/e2e/stop")
        assert stopped.status_code == 201
        assert stopped.json()["status"] == "STOPPED"
        assert wait_status(api, "e2e", "STOPPED")["me"] is None

        deleted = api.delete("/api/sessions/e2e")
        assert deleted.status_code == 200
        assert api.get("/api/sessions/e2e").status_code == 404

    assert server.terminate(timeout=15) == 0, server.output()
    assert f"WAHA listening on {server.base_url}" in server.output()
    assert f"data: {data_dir.resolve()}" in server.output()


def test_a_running_session_comes_back_working_after_a_restart_and_a_stopped_one_stays_stopped(
    servers: list[LiveServer], data_dir: Path
) -> None:
    first = start_server(servers, data_dir, SELF_PAIRING)
    with first.client() as api:
        assert api.post("/api/sessions", json={"name": "keeper"}).status_code == 201
        assert api.post("/api/sessions", json={"name": "sleeper"}).status_code == 201
        me_before = wait_status(api, "keeper", "WORKING")["me"]
        wait_status(api, "sleeper", "WORKING")
        assert api.post("/api/sessions/sleeper/stop").status_code == 201
        wait_status(api, "sleeper", "STOPPED")
    assert first.terminate(timeout=15) == 0, first.output()

    second = start_server(servers, data_dir, NOBODY_PAIRS)
    with second.client() as api:
        assert wait_status(api, "keeper", "WORKING")["me"] == me_before
        qr = api.get("/api/keeper/auth/qr", params={"format": "raw"})
        assert qr.status_code == 422
        assert qr.json()["status"] == "WORKING"

        assert api.get("/api/sessions/sleeper").json()["status"] == "STOPPED"
        running = [info["name"] for info in api.get("/api/sessions").json()]
        assert running == ["keeper"]
        everything = {info["name"] for info in api.get("/api/sessions?all=true").json()}
        assert everything == {"keeper", "sleeper"}
    assert second.terminate(timeout=15) == 0, second.output()


def test_a_bad_environment_value_stops_start_up_with_a_message_naming_the_variable(
    tmp_path: Path,
) -> None:
    env = clean_environment({
        "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path / "data"),
        "WAHA_API_KEY": "e2e-api-key-5b1f0c3a",
        "WAHA_ENGINE": "fake",
        "PORT": str(free_port()),
        "WAHA_QR_CODES": "abc",
    })
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve"], cwd=PROJECT_ROOT, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    text = output.decode(errors="replace")
    assert process.returncode != 0
    assert "WAHA_QR_CODES" in text
    assert "'abc'" in text
    assert "Traceback" not in text
    assert "WAHA listening" not in text
