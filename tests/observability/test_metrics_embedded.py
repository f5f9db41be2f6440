"""`/metrics` on the embedded default: one `manage.py serve` process shows everything, and the
figures move with real traffic (sessions started on the fake engine, their `session.status`
events delivered to a loopback receiver, one of them only on its second attempt)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.live_server import LiveServer
from tests.support.receiver import Receiver

from .conftest import families, parse, scrape, value, wait_until

SERVER_ENV = {"WAHA_FAKE_PAIR_AFTER_SECONDS": "0.3", "WAHA_RECONCILE_SECONDS": "0.5"}
FAMILIES = {
    "waha_sessions", "waha_engine_processes", "waha_engine_heartbeat_age_seconds",
    "waha_events_published", "waha_webhook_attempts", "waha_webhook_deliveries",
    "waha_webhook_delivery_latency_seconds", "waha_webhook_attempt_duration_seconds",
    "waha_engine_callback_backlog", "waha_engine_live_clients",
}


def start(servers: list[LiveServer], data_dir: Path) -> LiveServer:
    server = LiveServer(data_dir, SERVER_ENV)
    servers.append(server)
    return server.start()


def test_metrics_parse_name_every_family_and_need_the_key(servers: list[LiveServer],
                                                          tmp_path: Path) -> None:
    server = start(servers, tmp_path / "data")

    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        without = anonymous.get("/metrics")
        header = anonymous.get("/metrics", headers={"X-Api-Key": server.api_key})
        bearer = anonymous.get("/metrics",
                               headers={"Authorization": f"Bearer {server.api_key}"})

    assert without.status_code == 401
    assert without.json() == {"statusCode": 401, "message": "Unauthorized",
                              "error": "Unauthorized"}
    assert bearer.status_code == 200
    assert header.status_code == 200
    assert header.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert families(header.text) >= FAMILIES
    samples = parse(header.text)
    assert value(samples, "waha_engine_processes") == 1
    # Every status and delivery status is there from the start, at 0.
    for status in ("STOPPED", "STARTING", "SCAN_QR_CODE", "WORKING", "FAILED"):
        assert samples[("waha_sessions", frozenset({"status": status, "owner": ""}.items()))] == 0
    for status in ("pending", "delivered", "failed"):
        assert samples[("waha_webhook_deliveries", frozenset({"status": status}.items()))] == 0


def test_metrics_move_with_sessions_events_and_deliveries(
    servers: list[LiveServer], tmp_path: Path, receiver: Receiver,
) -> None:
    server = start(servers, tmp_path / "data")
    receiver.fail_first(1)  # the first delivery is retried once, then delivered
    hook = {"url": receiver.url(), "events": ["session.status"],
            "retries": {"policy": "constant", "delaySeconds": 0, "attempts": 2}}

    with server.client() as api:
        before = scrape(api)
        for name in ("alpha", "beta"):
            created = api.post("/api/sessions", json={"name": name, "config": {"webhooks": [hook]}})
            assert created.status_code == 201, created.text

        def working() -> bool:
            return all(api.get(f"/api/sessions/{n}").json()["status"] == "WORKING"
                       for n in ("alpha", "beta"))

        wait_until(working, 30, "both sessions WORKING", server.output)
        worker = api.get("/api/server/status").json()["worker"]["id"]
        samples: dict = {}

        def settled() -> bool:
            # The rows (read at the scrape) and the worker's counters are two reads: a batch
            # recorded between them shows in one only, until the next scrape.
            nonlocal samples
            samples = scrape(api)
            delivered = value(samples, "waha_webhook_deliveries", status="delivered")
            return (value(samples, "waha_webhook_deliveries", status="pending") == 0
                    and delivered > 0 and delivered == value(
                        samples, "waha_webhook_attempts_total", outcome="delivered"))

        wait_until(settled, 30, "every delivery settled", server.output)

    # STARTING, SCAN_QR_CODE and WORKING of each session; each event is one delivery.
    events = value(samples, "waha_events_published_total", event="session.status")
    assert events - value(before, "waha_events_published_total", event="session.status") == 6
    assert value(samples, "waha_sessions", status="WORKING", owner=worker) == 2
    assert value(samples, "waha_engine_live_clients", worker_id=worker) == 2
    assert value(samples, "waha_engine_callback_backlog", worker_id=worker) == 0
    assert value(samples, "waha_webhook_deliveries", status="delivered") == 6
    assert value(samples, "waha_webhook_attempts_total", outcome="delivered") == 6
    assert value(samples, "waha_webhook_attempts_total", outcome="retry") == 1
    assert value(samples, "waha_webhook_attempts_total", outcome="failed") == 0
    assert value(samples, "waha_webhook_delivery_latency_seconds_count") == 6
    assert value(samples, "waha_webhook_attempt_duration_seconds_count") == 7
    assert receiver.count == 7
