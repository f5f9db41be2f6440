"""Prometheus metrics: counters in the process that does the work, gauges read at scrape.

- Counters and histograms (events published, webhook attempts and their latency) and the engine
  runtimes of this process (callback backlog, live clients) are in prometheus_client's default
  registry: every process has its own. Each app defines its own in its `monitoring.py` and
  registers its collectors when it is ready: this module knows no app.
- Gauges read from the database (sessions, engine processes, stored deliveries) are served only
  by the web role's `/metrics`, one aggregate query per family, so scraping every engine and
  worker never counts the same rows twice.
- Embedded default: one process, so `/metrics` on the web port shows everything. Scaled: the
  engine and Celery worker processes serve their own registry on `WAHA_METRICS_PORT`
  (`start_exporter`), behind the same API key.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import (
    REGISTRY,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.core import Metric
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder
from prometheus_client.registry import Collector

from .auth import ApiKey, key_from_authorization

log = logging.getLogger("waha.metrics")

# `_created` samples (when each series began) double the output for nothing a dashboard uses.
disable_created_metrics()

# --- collectors the apps register (AppConfig.ready) ------------------------------------------
# Gauges read from the database: served only by the web role's /metrics.
DATABASE_COLLECTORS: list[Collector] = []


def register_database_collector(collector: Collector) -> None:
    """Add an app's database gauges to the web role's `/metrics` (once per kind)."""
    if all(type(known) is not type(collector) for known in DATABASE_COLLECTORS):
        DATABASE_COLLECTORS.append(collector)


def register_process_collector(collector: Collector) -> None:
    """Add an app's gauges of this process's own state to every exporter of this process."""
    with contextlib.suppress(ValueError):  # already registered (ready() runs once a process)
        REGISTRY.register(collector)


class WebScrape(Collector):
    """What the web role's `/metrics` serves: this process's registry and the database."""

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        for collector in DATABASE_COLLECTORS:
            yield from collector.collect()


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
