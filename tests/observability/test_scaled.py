"""The scaled topology as child processes: /health follows Redis down and back up, and the
engine and worker processes serve their own counters on WAHA_METRICS_PORT.

A throw-away PostgreSQL database, our own redis-server, a `celery worker`, a
`manage.py run_engines` and a uvicorn web process, all children (tests.support.stack.Stack).
Redis is SIGKILLed and started again, empty, on the same port.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import free_port
from tests.support.receiver import Receiver
from tests.support.stack import (
    Child,
    Stack,
    ThrowawayDatabase,
    product_environment,
    web_argv,
)

from .conftest import families, parse, value, wait_until

pytestmark = pytest.mark.timeout(300)

STACK_SETTINGS = {"WAHA_RECONCILE_SECONDS": "0.5", "WAHA_FAKE_PAIR_AFTER_SECONDS": "0.3"}
WORKER_NAME = "worker1@observability"


class Topology:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.web_port = free_port()
        self.engine_metrics = f"http://127.0.0.1:{free_port()}/metrics"
        self.worker_metrics = f"http://127.0.0.1:{free_port()}/metrics"
        self.key = stack.env["WAHA_API_KEY"]

    def child(self, name: str, argv: list[str], **env: str) -> Child:
        started = Child(name, argv, {**self.stack.env, **env}, self.stack.workdir)
        self.stack.children.append(started)
        return started.start()

    def start(self) -> None:
        self.stack.start_redis()
        port = self.worker_metrics.split(":")[2].split("/")[0]
        self.child("worker", [
            sys.executable, "-m", "celery", "-A", "waha_project", "worker", "--pool", "threads",
            "--concurrency", "2", "--without-heartbeat", "--without-gossip", "--without-mingle",
            "--loglevel", "WARNING", "-n", WORKER_NAME,
        ], WAHA_METRICS_PORT=port)
        port = self.engine_metrics.split(":")[2].split("/")[0]
        self.child("engine", [sys.executable, "manage.py", "run_engines"],
                   WAHA_METRICS_PORT=port, WAHA_WORKER_ID="engine-a")
        self.child("web", web_argv("127.0.0.1", self.web_port))

    def api(self) -> httpx.Client:
        # The timeout is the "no hang" bound of every /health call below.
        return httpx.Client(base_url=f"http://127.0.0.1:{self.web_port}",
                            headers={"X-Api-Key": self.key}, timeout=15)

    def health(self, api: httpx.Client) -> httpx.Response | None:
        try:
            return api.get("/health")
        except httpx.ConnectError:  # the web child is not listening yet
            return None


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayDatabase]:
    db = ThrowawayDatabase("waha_observability").create()
    try:
        db.migrate(product_environment(tmp_path_factory.mktemp("migrate"), db.url, None))
        yield db
    finally:
        db.drop()


@pytest.fixture
def topology(database: ThrowawayDatabase, tmp_path: Path) -> Iterator[Topology]:
    stack = Stack(tmp_path / "stack", database.url, STACK_SETTINGS)
    try:
        yield Topology(stack)
    finally:
        stack.stop()


def test_health_names_redis_while_it_is_down_and_recovers_when_it_returns(
    topology: Topology,
) -> None:
    topology.start()
    logs = topology.stack.logs
    with topology.api() as api:
        seen: dict = {}

        def healthy() -> bool:
            nonlocal seen
            response = topology.health(api)
            seen = response.json() if response is not None else {}
            return response is not None and response.status_code == 200

        wait_until(healthy, 90, "/health 200", lambda: f"{seen}\n{logs()}")
        assert set(seen["info"]) == {"database", "redis", "channel_layer", "workers", "engines"}
        assert seen["info"]["workers"]["workers"] == [WORKER_NAME]
        assert seen["info"]["engines"]["workers"] == ["engine-a"]

        topology.stack.kill_redis()
        down = api.get("/health")

        assert down.status_code == 503
        body = down.json()
        assert body["status"] == "error"
        assert set(body["error"]) == {"redis", "channel_layer", "workers"}
        assert "Connection refused" in body["error"]["redis"]["message"]
        assert body["error"]["workers"]["message"] == "not checked: redis is down"
        assert set(body["info"]) == {"database", "engines"}

        topology.stack.start_redis()
        wait_until(healthy, 90, "/health 200 again", lambda: f"{seen}\n{logs()}")
        assert seen["error"] == {}


def test_engine_and_worker_processes_serve_their_own_counters(
    topology: Topology, receiver: Receiver,
) -> None:
    topology.start()
    key = {"Authorization": f"Bearer {topology.key}"}
    hook = {"url": receiver.url(), "events": ["session.status"]}
    with topology.api() as api:
        wait_until(lambda: (r := topology.health(api)) is not None and r.status_code == 200,
                   90, "/health 200", topology.stack.logs)
        created = api.post("/api/sessions", json={"name": "scaled",
                                                  "config": {"webhooks": [hook]}})
        assert created.status_code == 201, created.text
        wait_until(lambda: api.get("/api/sessions/scaled").json()["status"] == "WORKING", 30,
                   "WORKING", topology.stack.logs)
        receiver.wait_for(3, timeout=30)  # STARTING, SCAN_QR_CODE, WORKING
        web = parse(api.get("/metrics").text)

    assert httpx.get(topology.engine_metrics, timeout=10).status_code == 401
    assert httpx.get(topology.worker_metrics, timeout=10).status_code == 401
    engine_text = httpx.get(topology.engine_metrics, headers=key, timeout=10).text
    engine = parse(engine_text)
    worker: dict = {}

    def worker_counted() -> bool:
        nonlocal worker
        worker = parse(httpx.get(topology.worker_metrics, headers=key, timeout=10).text)
        return value(worker, "waha_webhook_attempts_total", outcome="delivered") == 3

    wait_until(worker_counted, 30, "the worker's count", topology.stack.logs)

    # The engine published the status events and runs the client; the worker delivered them.
    assert value(engine, "waha_events_published_total", event="session.status") == 3
    assert value(engine, "waha_engine_live_clients", worker_id="engine-a") == 1
    assert value(worker, "waha_webhook_delivery_latency_seconds_count") == 3
    # Rows are counted once, by the web role only.
    assert "waha_sessions" not in families(engine_text)
    assert value(web, "waha_sessions", status="WORKING", owner="engine-a") == 1
    assert value(web, "waha_engine_processes") == 1
