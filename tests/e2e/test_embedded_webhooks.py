"""The one-command run delivers webhooks too: `manage.py serve` (fake engine, SQLite, the
in-process Celery worker and sweeper) posts signed `session.status` envelopes to a real
loopback receiver, for a session's own webhook and for the global one from WHATSAPP_HOOK_*.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live_server import PROJECT_ROOT, LiveServer, clean_environment, free_port
from tests.support.receiver import Receiver, Recorded

pytestmark = pytest.mark.e2e

SELF_PAIRING = {"WAHA_FAKE_PAIR_AFTER_SECONDS": "1"}
STATUSES = ["STARTING", "SCAN_QR_CODE", "WORKING"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


def start_server(servers: list[LiveServer], data_dir: Path, env: dict[str, str]) -> LiveServer:
    server = LiveServer(data_dir, env)
    servers.append(server)
    return server.start()


def status_envelopes(receiver: Receiver, path: str, timeout: float = 20.0) -> list[Recorded]:
    """The requests that reached `path`, once every status of STATUSES has arrived there."""
    deadline = time.monotonic() + timeout
    requests: list[Recorded] = []
    while time.monotonic() < deadline:
        requests = [r for r in receiver.requests if r.path == path]
        if {json.loads(r.body)["payload"]["status"] for r in requests} >= set(STATUSES):
            return requests
        time.sleep(0.05)
    raise AssertionError(f"{STATUSES} never all reached {path}; got "
                         f"{[json.loads(r.body)['payload'] for r in requests]}")


def assert_signed_status_sequence(requests: list[Recorded], key: str, session: str) -> None:
    envelopes = [json.loads(r.body) for r in requests]
    # Up to four deliveries run at once, so arrival order is not event order.
    assert sorted(e["payload"]["status"] for e in envelopes) == sorted(STATUSES)
    by_time = sorted(envelopes, key=lambda e: (e["timestamp"], STATUSES.index(
        e["payload"]["status"])))
    assert [e["payload"]["status"] for e in by_time] == STATUSES
    for request, envelope in zip(requests, envelopes, strict=True):
        assert envelope["event"] == "session.status"
        assert envelope["session"] == session
        assert envelope["payload"]["name"] == session
        expected = hmac.new(key.encode(), request.body, hashlib.sha512).hexdigest()
        assert request.headers["X-Webhook-Hmac"] == expected
        assert request.headers["X-Webhook-Hmac-Algorithm"] == "sha512"
        assert request.headers["X-Webhook-Request-Id"] == envelope["id"]
        assert request.headers["X-Webhook-Timestamp"] == str(envelope["timestamp"])


def delivered_rows(api: httpx.Client, session: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The session's deliveries once none is pending (the row is written after the reply)."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        answer = api.get("/api/webhooks/deliveries", params={"session": session})
        assert answer.status_code == 200, answer.text
        rows = answer.json()
        if rows and all(row["status"] != "pending" for row in rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"deliveries of {session} still pending: {rows}")


def test_a_sessions_webhook_gets_signed_status_envelopes_from_the_one_command_run(
    servers: list[LiveServer], data_dir: Path, receiver: Receiver
) -> None:
    server = start_server(servers, data_dir, SELF_PAIRING)
    webhook = {"url": receiver.url(), "events": ["session.status"], "hmac": {"key": "k"}}

    with server.client() as api:
        created = api.post("/api/sessions", json={"name": "hooked",
                                                  "config": {"webhooks": [webhook]}})
        assert created.status_code == 201, created.text

        requests = status_envelopes(receiver, "/hook")
        assert_signed_status_sequence(requests, "k", "hooked")

        rows = delivered_rows(api, "hooked")
        assert len(rows) == 3
        assert {row["eventId"] for row in rows} == {
            r.headers["X-Webhook-Request-Id"] for r in requests}
        for row in rows:
            assert row["status"] == "delivered"
            assert row["attempts"] == 1
            assert row["lastStatusCode"] == 200
            assert row["event"] == "session.status"
            assert row["url"] == receiver.url()
            assert row["global"] is False

    assert server.terminate(timeout=15) == 0, server.output()


def test_the_global_webhook_from_the_environment_reaches_a_session_without_webhooks(
    servers: list[LiveServer], data_dir: Path, receiver: Receiver
) -> None:
    server = start_server(servers, data_dir, {
        **SELF_PAIRING,
        "WHATSAPP_HOOK_URL": receiver.url("/global"),
        "WHATSAPP_HOOK_EVENTS": "session.status",
        "WHATSAPP_HOOK_HMAC_KEY": "global-key",
    })

    with server.client() as api:
        created = api.post("/api/sessions", json={"name": "plain"})
        assert created.status_code == 201, created.text
        assert not (created.json()["config"] or {}).get("webhooks")

        requests = status_envelopes(receiver, "/global")
        assert_signed_status_sequence(requests, "global-key", "plain")

        rows = delivered_rows(api, "plain")
        assert len(rows) == 3
        for row in rows:
            assert (row["status"], row["attempts"], row["global"]) == ("delivered", 1, True)

    assert all(r.path == "/global" for r in receiver.requests)
    assert server.terminate(timeout=15) == 0, server.output()


def test_an_invalid_global_webhook_events_value_stops_start_up_naming_the_variable(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = clean_environment({
        "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path / "data"),
        "WAHA_API_KEY": "e2e-api-key-5b1f0c3a",
        "WAHA_ENGINE": "fake",
        "PORT": str(free_port()),
        "WHATSAPP_HOOK_URL": receiver.url(),
        "WHATSAPP_HOOK_EVENTS": "session.status,no.such.event",
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
    assert process.returncode != 0, text
    assert "WHATSAPP_HOOK_EVENTS" in text
    assert "no.such.event" in text
    assert "Traceback" not in text
    assert "WAHA listening" not in text
    assert receiver.count == 0
