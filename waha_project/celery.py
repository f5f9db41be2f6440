"""The Celery app. Embedded default: in-memory transport and a worker inside `serve`."""

from __future__ import annotations

import logging
import os
import weakref
from typing import Any

from celery import Celery
from celery.bootsteps import RUN
from celery.signals import worker_init, worker_shutdown
from celery.worker import WorkController

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "waha_project.settings")

app = Celery("waha")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger("waha.worker")

# Workers started inside this process (the embedded default), for /health. One that was
# stopped on purpose leaves; one that stopped on an error stays, and shows as down.
IN_PROCESS_WORKERS: weakref.WeakSet[WorkController] = weakref.WeakSet()


def worker_is_running(worker: WorkController) -> bool:
    return bool(worker.blueprint is not None and worker.blueprint.state == RUN)


@worker_init.connect
def _worker_starting(sender: WorkController, **kwargs: Any) -> None:
    from celery.apps.worker import Worker

    if not isinstance(sender, Worker):
        IN_PROCESS_WORKERS.add(sender)
        return
    # `celery worker` (the scaled topology): its counters on WAHA_METRICS_PORT, if set.
    from django.core.exceptions import ImproperlyConfigured

    from . import metrics
    from .database import keep_connections
    from .process import freeze_startup_objects

    keep_connections()
    freeze_startup_objects()

    try:
        exporter = metrics.start_exporter("worker")
    except ImproperlyConfigured as exc:  # keep delivering webhooks, unmeasured
        log.error("%s; this worker serves no metrics", exc)
        return
    if exporter is not None and "prefork" in str(sender.pool_cls).lower():
        log.warning("WAHA_METRICS_PORT: with the prefork pool tasks run in child processes "
                    "whose counters this exporter does not see; run the worker with "
                    "--pool threads")


@worker_shutdown.connect
def _worker_stopped(sender: WorkController, **kwargs: Any) -> None:
    if getattr(sender, "exitcode", None) in (None, 0):
        IN_PROCESS_WORKERS.discard(sender)
