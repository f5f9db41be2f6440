"""`WAHA_LOG_FORMAT=JSON`: a real `manage.py serve` logs one JSON object per line, carrying the
session and event id of a published event and of its webhook delivery, and no secret."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.live_server import LiveServer
from tests.support.receiver import Receiver

from .conftest import SplitLogServer, wait_until

HMAC_KEY = "hmac-secret-5e1f9a"
HEADER_VALUE = "header-secret-77c2d0"


def test_json_logs_carry_session_event_and_delivery_ids_and_no_secret(
    servers: list[LiveServer], tmp_path: Path, receiver: Receiver,
) -> None:
    server = SplitLogServer(tmp_path / "data", {
        "WAHA_LOG_FORMAT": "JSON", "WAHA_LOG_LEVEL": "debug",
        "WAHA_FAKE_PAIR_AFTER_SECONDS": "0.3",
    })
    servers.append(server)
    server.start()
    receiver.fail_first(1)  # a retry logs too
    hook = {"url": receiver.url(), "events": ["session.status"], "hmac": {"key": HMAC_KEY},
            "customHeaders": [{"name": "X-Token", "value": HEADER_VALUE}],
            "retries": {"policy": "constant", "delaySeconds": 0, "attempts": 2}}

    with server.client() as api:
        created = api.post("/api/sessions", json={"name": "logged", "config": {"webhooks": [hook]}})
        assert created.status_code == 201, created.text
        wait_until(lambda: api.get("/api/sessions/logged").json()["status"] == "WORKING", 30,
                   "WORKING", server.output)
    # STARTING, SCAN_QR_CODE, WORKING: three events, one of them sent twice.
    receiver.wait_for(4, timeout=30)
    assert server.terminate() == 0
    requests = receiver.requests  # the STOPPED of the shutdown may have been sent too

    lines = server.stderr_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert entries
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    sent_ids = {request.headers["X-Webhook-Request-Id"] for request in requests}
    published = [e for e in entries if e["message"] == "published session.status"]
    assert len(sent_ids) >= 3
    assert sent_ids <= {e["event_id"] for e in published}
    assert {e["session"] for e in published} == {"logged"}
    deliveries = [e for e in entries if e["logger"] == "waha.webhooks"]
    assert {e["event_id"] for e in deliveries if "delivered" in e["message"]} == sent_ids
    assert any("attempt 1 failed" in e["message"] for e in deliveries)
    assert all(e["session"] == "logged" and isinstance(e["delivery_id"], int)
               for e in deliveries)
    text = server.stderr_path.read_text() + server.log_path.read_text()
    for secret in (HMAC_KEY, HEADER_VALUE, server.api_key):
        assert secret not in text
