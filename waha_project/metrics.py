"""Prometheus metrics: counters in the process that does the work, gauges read at scrape.

- Counters and histograms (events published, webhook attempts and their latency) and the engine
  runtimes of this process (callback backlog, live clients) are in prometheus_client's default
  registry: every process has its own.
- Gauges read from the database (sessions, engine processes, stored deliveries) are served only
  by the web role's `/metrics`, one aggregate query per family, so scraping every engine and
  worker never counts the same rows twice.
- Embedded default: one process, so `/metrics` on the web port shows everything. Scaled: the
  engine and Celery worker processes serve their own registry on `WAHA_METRICS_PORT`
  (`start_exporter`), behind the same API key.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from prometheus_client import (
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder
from prometheus_client.registry import Collector

from .auth import ApiKey, key_from_authorization

log = logging.getLogger("waha.metrics")

# `_created` samples (when each series began) double the output for nothing a dashboard uses.
disable_created_metrics()

# --- counted where the work happens ----------------------------------------------------------
EVENTS_PUBLISHED = Counter(
    "waha_events_published", "Events published (their transaction committed), by event name.",
    ["event"],
)

# A delivery's status after an attempt, as the outcome of that attempt.
OUTCOMES = {"delivered": "delivered", "pending": "retry", "failed": "failed"}
WEBHOOK_ATTEMPTS = Counter(
    "waha_webhook_attempts",
    "Webhook delivery attempts by outcome: delivered; retry (failed, another attempt is "
    "scheduled); failed (failed for good: no attempt left, or 410 Gone).",
    ["outcome"],
)
for _outcome in OUTCOMES.values():
    WEBHOOK_ATTEMPTS.labels(outcome=_outcome)

WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "waha_webhook_attempt_duration_seconds",
    "How long one webhook request took (connect, send, read the answer), every outcome.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_DELIVERY_LATENCY = Histogram(
    "waha_webhook_delivery_latency_seconds",
    "From the event's creation to its successful delivery, retries and queueing included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
)


def observe_attempt(status: str, event_timestamp_ms: int, duration_ms: int,
                    finished: datetime) -> None:
    """One recorded attempt: its outcome, its duration, and the latency of a delivered one."""
    WEBHOOK_ATTEMPTS.labels(outcome=OUTCOMES[status]).inc()
    WEBHOOK_ATTEMPT_SECONDS.observe(duration_ms / 1000)
    if status == "delivered":
        latency = finished.timestamp() - event_timestamp_ms / 1000
        WEBHOOK_DELIVERY_LATENCY.observe(max(latency, 0.0))


# --- this process's engine runtimes ------------------------------------------------------------
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
        from sessions_app.runtime import RUNNING  # the runtime imports what imports us

        backlog, clients = self._families()
        for runtime in list(RUNNING):
            backlog.add_metric([runtime.worker_id], runtime.callback_backlog())
            clients.add_metric([runtime.worker_id], len(runtime.slots))
        return backlog, clients


REGISTRY.register(EngineRuntimeCollector())


# --- read from the database, served by the web role only ---------------------------------------
class DatabaseCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        yield self._sessions()
        yield from self._engine_processes()
        yield self._deliveries()

    def _sessions(self) -> Metric:
        from django.db.models import Count

        from sessions_app.models import Session, SessionStatus

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
        from sessions_app.models import EngineProcess

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

    def _deliveries(self) -> Metric:
        from django.db.models import Count

        from webhooks_app.models import Delivery, DeliveryStatus

        family = GaugeMetricFamily(
            "waha_webhook_deliveries", "Stored webhook deliveries by status (delivered ones are "
            "pruned after WAHA_WEBHOOK_RETENTION_DAYS).", labels=["status"])
        counts = dict.fromkeys(DeliveryStatus.values, 0)
        for row in Delivery.objects.order_by().values("status").annotate(n=Count("pk")):
            counts[row["status"]] = row["n"]
        for status, n in counts.items():
            family.add_metric([status], n)
        return family


class WebScrape(Collector):
    """What the web role's `/metrics` serves: this process's registry and the database."""

    def __init__(self) -> None:
        self.database = DatabaseCollector()

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        yield from self.database.collect()


WEB_SCRAPE = WebScrape()


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format (OpenMetrics when the scraper asks for it); the API key is
    checked by ApiKeyMiddleware, as `X-Api-Key` or `Authorization: Bearer`."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(WEB_SCRAPE), content_type=content_type)


# --- the exporter of the engine and worker processes --------------------------------------------
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
UNAUTHORIZED = b'{"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"}'


def require_key(app: WSGIApp, api_key: ApiKey) -> WSGIApp:
    def keyed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        candidate = (environ.get("HTTP_X_API_KEY")
                     or key_from_authorization(environ.get("HTTP_AUTHORIZATION")))
        if not api_key.matches(candidate):
            start_response("401 Unauthorized", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(UNAUTHORIZED)))])
            return [UNAUTHORIZED]
        return app(environ, start_response)

    return keyed


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not worth a log line


def start_exporter(role: str) -> WSGIServer | None:
    """Serve this process's registry on WAHA_METRICS_HOST:WAHA_METRICS_PORT, if set, from a
    daemon thread. An address that cannot be bound stops start-up naming the variable."""
    port, host = settings.METRICS_PORT, settings.METRICS_HOST
    if port is None:
        return None
    api_key: ApiKey = settings.API_KEY
    try:
        server = make_server(host, port, require_key(make_wsgi_app(REGISTRY), api_key),
                             ThreadingWSGIServer, handler_class=_QuietHandler)
    except OSError as exc:
        # An address that does not resolve is the host's fault; anything else, the port's.
        variable = "WAHA_METRICS_HOST" if isinstance(exc, socket.gaierror) else "WAHA_METRICS_PORT"
        raise ImproperlyConfigured(
            f"{variable}: cannot listen on {host}:{port} ({exc.strerror or exc})"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True).start()
    log.info("%s metrics on http://%s:%d/metrics", role, host, port)
    if api_key.generated:
        log.warning("WAHA_API_KEY is not set: this process's metrics need a key generated "
                    "for this run only; set WAHA_API_KEY to scrape them")
    return server
