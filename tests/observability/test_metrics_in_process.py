"""`/metrics` through the real ASGI application in this process: the key, the database gauges
read at scrape, and the separate exporter of engine and worker processes."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from prometheus_client import generate_latest

from sessions_app.models import EngineProcess, Session
from tests.support.live_server import free_port
from waha_project import metrics
from webhooks_app import monitoring
from webhooks_app.models import Delivery

from ..conftest import API_KEY, wait_for
from .conftest import families, parse, value

pytestmark = pytest.mark.django_db(transaction=True)
UNAUTHORIZED = {"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"}


@pytest.fixture
async def anonymous(transactional_db: None):
    from waha_project.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 timeout=30) as client:
        yield client


async def test_metrics_answer_401_without_the_key(anonymous):
    response = await anonymous.get("/metrics")

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize("headers", [
    {"X-Api-Key": API_KEY},
    {"Authorization": f"Bearer {API_KEY}"},
    {"Authorization": f"bearer   {API_KEY}"},
])
async def test_metrics_accept_the_key_as_x_api_key_or_bearer(anonymous, headers):
    response = await anonymous.get("/metrics", headers=headers)

    assert response.status_code == 200
    assert "waha_sessions" in families(response.text)


@pytest.mark.parametrize("authorization", [
    "Bearer wrong-key", f"Basic {API_KEY}", f"Token {API_KEY}", "Bearer", API_KEY,
])
async def test_a_wrong_or_non_bearer_authorization_answers_401(anonymous, authorization):
    response = await anonymous.get("/metrics", headers={"Authorization": authorization})

    assert response.status_code == 401


async def test_bearer_works_on_the_rest_api_too(anonymous):
    response = await anonymous.get("/api/sessions", headers={"Authorization": f"Bearer {API_KEY}"})

    assert response.status_code == 200


async def test_metrics_can_be_opened_on_purpose_like_any_path(anonymous, settings):
    settings.API_KEY_EXCLUDE_PATHS = ["metrics"]

    response = await anonymous.get("/metrics")

    assert response.status_code == 200


async def test_openmetrics_is_served_when_the_scraper_asks_for_it(anonymous):
    response = await anonymous.get("/metrics", headers={
        "X-Api-Key": API_KEY, "Accept": "application/openmetrics-text; version=1.0.0"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


async def test_gauges_are_read_from_the_database_at_scrape(anonymous):
    now = timezone.now()
    await Session.objects.acreate(name="a", status="WORKING", owner="engine-1")
    await Session.objects.acreate(name="b", status="WORKING", owner="engine-1")
    await Session.objects.acreate(name="c", status="FAILED", owner="")
    await Session.objects.acreate(name="d", status="STOPPED", owner="")
    await EngineProcess.objects.acreate(worker_id="engine-1", engine="fake",
                                        heartbeat_at=now - timedelta(seconds=42))
    for status in ("pending", "delivered", "delivered", "failed"):
        await Delivery.objects.acreate(
            session_name="a", event="message", event_id="evt_1", event_timestamp=0, body="{}",
            url="http://127.0.0.1/hook", retry_policy="constant", retry_delay_seconds=1,
            retry_attempts=1, status=status)

    response = await anonymous.get("/metrics", headers={"X-Api-Key": API_KEY})

    samples = parse(response.text)
    assert value(samples, "waha_sessions", status="WORKING", owner="engine-1") == 2
    assert value(samples, "waha_sessions", status="FAILED", owner="") == 1
    assert value(samples, "waha_sessions", status="STOPPED", owner="") == 1
    assert ("waha_sessions", frozenset({"status": "SCAN_QR_CODE", "owner": ""}.items())) \
        in samples
    assert value(samples, "waha_engine_processes") == 1
    age = value(samples, "waha_engine_heartbeat_age_seconds", worker_id="engine-1",
                engine="fake")
    assert 42 <= age < 3600
    assert value(samples, "waha_webhook_deliveries", status="pending") == 1
    assert value(samples, "waha_webhook_deliveries", status="delivered") == 2
    assert value(samples, "waha_webhook_deliveries", status="failed") == 1


async def test_the_engine_runtime_of_this_process_is_measured(anonymous, runtime):
    await anonymous.post("/api/sessions", json={"name": "live"},
                         headers={"X-Api-Key": API_KEY})
    async def started() -> bool:
        return len(runtime.slots) == 1

    await wait_for(started, message="the session to have a client")

    response = await anonymous.get("/metrics", headers={"X-Api-Key": API_KEY})

    samples = parse(response.text)
    assert value(samples, "waha_engine_live_clients", worker_id="test-engine-1") == 1
    assert ("waha_engine_callback_backlog",
            frozenset({"worker_id": "test-engine-1"}.items())) in samples


def test_database_gauges_stay_out_of_the_process_registry():
    """What the engine and worker exporters serve: their own counters, no database rows."""
    names = families(generate_latest().decode())

    assert "waha_events_published" in names
    assert "waha_engine_live_clients" in names
    assert not names & {"waha_sessions", "waha_engine_processes", "waha_webhook_deliveries"}


def test_attempts_are_counted_by_outcome_with_their_latency():
    before = parse(generate_latest().decode())
    finished = timezone.now()
    created_ms = int(finished.timestamp() * 1000)

    monitoring.observe_attempts([("pending", created_ms - 1500, 20),
                                 ("delivered", created_ms - 2000, 30),
                                 ("delivered", created_ms - 2000, 40)], finished)

    after = parse(generate_latest().decode())

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert added("waha_webhook_attempts_total", outcome="retry") == 1
    assert added("waha_webhook_attempts_total", outcome="delivered") == 2
    assert added("waha_webhook_attempts_total", outcome="failed") == 0
    assert added("waha_webhook_attempt_duration_seconds_count") == 3
    # Only the delivered attempts have a latency: two seconds since the event was created.
    assert added("waha_webhook_delivery_latency_seconds_count") == 2
    assert added("waha_webhook_delivery_latency_seconds_bucket", le="1.0") == 0
    assert added("waha_webhook_delivery_latency_seconds_bucket", le="2.5") == 2


@pytest.fixture
def exporter(settings):
    settings.METRICS_PORT = free_port()
    settings.METRICS_HOST = "127.0.0.1"
    server = metrics.start_exporter("engine")
    assert server is not None
    yield f"http://127.0.0.1:{settings.METRICS_PORT}/metrics"
    server.shutdown()
    server.server_close()


def test_the_exporter_serves_this_process_behind_the_key(exporter):
    without = httpx.get(exporter, timeout=10)
    wrong = httpx.get(exporter, headers={"Authorization": "Bearer nope"}, timeout=10)
    bearer = httpx.get(exporter, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    header = httpx.get(exporter, headers={"X-Api-Key": API_KEY}, timeout=10)

    assert without.status_code == 401
    assert without.json() == UNAUTHORIZED
    assert wrong.status_code == 401
    assert header.status_code == 200
    assert bearer.status_code == 200
    names = families(bearer.text)
    assert {"waha_events_published", "waha_engine_live_clients"} <= names
    assert "waha_sessions" not in names


def test_no_exporter_without_waha_metrics_port(settings):
    settings.METRICS_PORT = None

    assert metrics.start_exporter("engine") is None


def test_a_port_in_use_stops_the_exporter_naming_the_variable(settings):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings.METRICS_PORT = taken.getsockname()[1]
        settings.METRICS_HOST = "127.0.0.1"

        with pytest.raises(ImproperlyConfigured, match="WAHA_METRICS_PORT: cannot listen"):
            metrics.start_exporter("engine")
