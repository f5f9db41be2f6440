"""`python manage.py run_engines`: the engine role on its own (the scaled topology).

Claims sessions by lease from the shared database, runs their WhatsApp clients and reconciles
them with what the API wants; SIGTERM stops the clients and hands the sessions back.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from sessions_app.engines import get_engine
from sessions_app.runtime import EngineRuntime
from waha_project.database import keep_connections
from waha_project.logs import log_context
from waha_project.metrics import start_exporter
from waha_project.process import freeze_startup_objects

from .serve import exit_past_stuck_threads

log = logging.getLogger("waha")


class Command(BaseCommand):
    help = "Run the engine role: live WhatsApp clients for the sessions this process claims."

    def handle(self, *args: Any, **options: Any) -> None:
        keep_connections()
        freeze_startup_objects()
        start_exporter("engine")  # WAHA_METRICS_PORT: this process's counters and clients
        with log_context(worker_id=settings.WORKER_ID):
            asyncio.run(self.run())
        exit_past_stuck_threads()

    async def run(self) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        runtime = EngineRuntime(get_engine(), max_sessions=settings.WORKER_MAX_SESSIONS)
        await runtime.start()
        self.stdout.write(f"engine {runtime.worker_id} running ({runtime.engine.name})")
        self.stdout.flush()
        await stopping.wait()
        log.info("engine %s: stopping its sessions", runtime.worker_id)
        await runtime.shutdown()
