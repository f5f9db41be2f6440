"""Running the Celery worker and beat inside the `serve` process (embedded default)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.beat import EmbeddedService
from celery.worker import WorkController

from .celery import app

log = logging.getLogger("waha.worker")


class EmbeddedWorker:
    """A thread-pool Celery worker on its own thread; no signal handlers of its own."""

    def __init__(self, concurrency: int = 4) -> None:
        self.controller = WorkController(
            app=app,
            pool_cls="threads",
            concurrency=concurrency,
            hostname=f"embedded@{threading.get_native_id()}",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            loglevel="WARNING",
        )
        self.thread = threading.Thread(target=self._run, name="celery-worker", daemon=True)

    def _run(self) -> None:
        try:
            self.controller.start()
        except Exception:
            log.exception("the embedded Celery worker stopped")

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.controller.stop()
        self.thread.join(timeout)


def embedded_beat() -> Any:
    """Celery's own beat on a thread, with the schedule of the scaled topology's `celery beat`
    (settings.CELERY_BEAT_SCHEDULE), kept in memory: no schedule file in the data directory.
    Its tasks go through the in-process broker to the embedded worker."""
    return EmbeddedService(app, thread=True, scheduler_cls="celery.beat:Scheduler")
