"""What sessions_app shows of itself: its Prometheus metrics and its /health check.

Registered with the platform (`waha_project.metrics`, `waha_project.health`) when the app is
ready, so the platform layer knows no app.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from django.db.models import Count
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from waha_project import health, metrics

from .models import EngineProcess, Session, SessionStatus

EVENTS_PUBLISHED = Counter(
    "waha_events_published", "Events published (their transaction committed), by event name.",
    ["event"],
)

class MeasuredRuntime(Protocol):
    """What the gauges read of an engine runtime (sessions_app/runtime.py adds itself)."""

    worker_id: str
    slots: dict[str, Any]

    def callback_backlog(self) -> int: ...


# The engine runtimes of this process (callback backlog, live clients).
RUNTIMES: weakref.WeakSet[MeasuredRuntime] = weakref.WeakSet()


class EngineRuntimeCollector(Collector):
    """The engine runtimes running in this process (none in a web-only or worker process)."""

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("waha_engine_callback_backlog",
                              "Client callbacks received and not yet applied, by engine process.",
                              labels=["worker_id"]),
            GaugeMetricFamily("waha_engine_live_clients",
                              "Live WhatsApp clients of this process, by engine process.",
                              labels=["worker_id"]),
        )

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        backlog, clients = self._families()
        for runtime in list(RUNTIMES):
            backlog.add_metric([runtime.worker_id], runtime.callback_backlog())
            clients.add_metric([runtime.worker_id], len(runtime.slots))
        return backlog, clients


class SessionsCollector(Collector):
    """Sessions by status and owner, and the engine processes with their heartbeat age."""

    def collect(self) -> Iterator[Metric]:
        yield self._sessions()
        yield from self._engine_processes()

    def _sessions(self) -> Metric:
        family = GaugeMetricFamily(
            "waha_sessions", "Sessions by status and owning engine process (owner empty: "
            "no engine holds it).", labels=["status", "owner"])
        counts = {(status, ""): 0 for status in SessionStatus.values}
        rows = Session.objects.order_by().values("status", "owner").annotate(n=Count("pk"))
        for row in rows:
            counts[(row["status"], row["owner"])] = row["n"]
        for (status, owner), n in sorted(counts.items()):
            family.add_metric([status, owner], n)
        return family

    def _engine_processes(self) -> Iterator[Metric]:
        processes = list(EngineProcess.objects.order_by()
                         .values_list("worker_id", "engine", "heartbeat_at"))
        yield GaugeMetricFamily(
            "waha_engine_processes", "Engine processes registered in the database (a process "
            "that died without stopping stays until its heartbeat is cleaned up).",
            value=len(processes))
        ages = GaugeMetricFamily(
            "waha_engine_heartbeat_age_seconds", "Seconds since each engine process's last "
            "heartbeat (it beats every WAHA_RECONCILE_SECONDS).", labels=["worker_id", "engine"])
        now = timezone.now()
        for worker_id, engine, heartbeat_at in processes:
            ages.add_metric([worker_id, engine], max((now - heartbeat_at).total_seconds(), 0.0))
        yield ages


def check_engines() -> dict[str, Any]:
    live = list(EngineProcess.objects.alive().values_list("worker_id", flat=True))
    if not live:
        raise RuntimeError("no engine process has sent a heartbeat recently")
    return {"status": "up", "workers": live}


def register() -> None:
    metrics.register_process_collector(EngineRuntimeCollector())
    metrics.register_database_collector(SessionsCollector())
    health.register("engines", check_engines)
