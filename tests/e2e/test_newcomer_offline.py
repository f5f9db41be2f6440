"""A newcomer's first run, on the default engine, on a machine that cannot reach WhatsApp."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


def test_the_first_session_fails_with_a_reason_a_person_understands(
        data_dir: Path, servers: list[LiveServer]) -> None:
    server = LiveServer(data_dir, engine=None)  # WAHA_ENGINE unset: the real engine
    servers.append(server)
    server.start()

    with server.client() as api:
        assert api.get("/api/server/status").json()["worker"]["engine"] == "neonize"
        created = api.post("/api/sessions", json={"name": "default"})
        assert created.status_code == 201
        info: dict = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = api.get("/api/sessions/default").json()
            if info["status"] == "FAILED":
                break
            time.sleep(0.1)

    assert info["status"] == "FAILED", info
    reason = info["engine"]["lastError"]
    assert reason.startswith("Could not reach WhatsApp (web.whatsapp.com)")
    assert "failed to dial whatsapp web websocket" in reason
    assert "FAILED: Could not reach WhatsApp" in server.output()  # and the log says why
    assert server.terminate() == 0
