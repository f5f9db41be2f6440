"""Running the Celery worker inside the `serve` process (embedded default)."""

from __future__ import annotations

import logging
import threading
import time

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


class EmbeddedBeat:
    """What celery beat does in the scaled topology: the webhook sweeper and pruning."""

    PRUNE_EVERY_SECONDS = 3600.0

    def __init__(self, sweep_seconds: float) -> None:
        self.sweep_seconds = sweep_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="webhook-sweeper", daemon=True)

    def _run(self) -> None:
        from django.db import close_old_connections

        from webhooks_app import services

        next_prune = 0.0
        while not self.stopped.wait(self.sweep_seconds):
            try:
                services.sweep()
                if time.monotonic() >= next_prune:
                    services.prune()
                    next_prune = time.monotonic() + self.PRUNE_EVERY_SECONDS
            except Exception:
                log.exception("the webhook sweeper failed; trying again")
            finally:
                close_old_connections()

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped.set()
        self.thread.join(timeout)
