"""`python manage.py serve`: every role in one process on the embedded default.

Migrates, then runs daphne (web), the engine runtime on daphne's event loop and a Celery
worker on a thread. Ctrl-C or SIGTERM stops the engine's clients, releases their leases
(sessions that were running start again next time) and stops the worker. A port it cannot
listen on (another process holds it) is one line and exit status 1, so supervisors notice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

log = logging.getLogger("waha")


class Command(BaseCommand):
    help = "Run the web server, the engine and a Celery worker in one process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.HTTP_HOST)
        parser.add_argument("--port", type=int, default=settings.HTTP_PORT)
        parser.add_argument("--no-migrate", action="store_true")
        parser.add_argument("--no-worker", action="store_true",
                            help="Do not run the embedded Celery worker.")

    def handle(self, *args: Any, **options: Any) -> None:
        # daphne.server installs the asyncio Twisted reactor: import it before anything else
        # touches twisted.internet.reactor.
        from daphne.server import Server
        from twisted.internet import defer, reactor

        from sessions_app.dashboard.first_run import ensure_dashboard_user
        from sessions_app.engines import get_engine
        from sessions_app.runtime import EngineRuntime
        from waha_project.asgi import announce_api_key, application
        from waha_project.embedded import EmbeddedWorker, embedded_beat
        from waha_project.process import freeze_startup_objects

        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        ensure_dashboard_user(self.stdout)

        announce_api_key()
        freeze_startup_objects()
        runtime = EngineRuntime(get_engine(), max_sessions=settings.WORKER_MAX_SESSIONS)
        worker = None if options["no_worker"] else EmbeddedWorker()
        beat = None if options["no_worker"] else embedded_beat()
        host, port = options["host"], options["port"]

        background: list[asyncio.Future[None]] = []

        def start_background() -> None:
            if worker is not None:
                worker.start()
            if beat is not None:
                beat.start()
            background.append(asyncio.ensure_future(runtime.start()))

        def stop_background() -> defer.Deferred[Any]:
            log.info("shutting down: stopping sessions and the worker")
            if beat is not None:
                beat.stop()
            done = asyncio.ensure_future(_shutdown(runtime, worker))
            return defer.Deferred.fromFuture(done)

        def ready() -> None:
            self.stdout.write(f"WAHA listening on http://{host}:{port} "
                              f"(engine: {runtime.engine.name}, data: {settings.DATA_DIR})")
            self.stdout.flush()

        refused: list[str] = []

        class ListeningServer(Server):
            def listen_error(self, failure: Any) -> None:
                # daphne logs it and returns as from a clean stop: remember it, exit non-zero.
                error = getattr(failure.value, "socketError", None) or failure.getErrorMessage()
                refused.append(str(error))
                self.stop()

        twisted: Any = reactor
        twisted.callWhenRunning(start_background)
        twisted.addSystemEventTrigger("before", "shutdown", stop_background)
        server = ListeningServer(
            application=application,
            endpoints=[f"tcp:port={port}:interface={host}"],
            signal_handlers=True,
            action_logger=None,
            ready_callable=ready,
            verbosity=0,
        )
        server.run()
        if refused:
            raise CommandError(f"cannot listen on {host}:{port}: {refused[0]}. Stop what holds "
                               "the port, or choose another with PORT (or WHATSAPP_API_PORT).")
        exit_past_stuck_threads()


def exit_past_stuck_threads() -> None:
    """The Go library can leave a non-daemon thread blocked forever (an unpaired connect);
    Python would wait for it at exit, so leave without waiting once our own work is done."""
    stuck = [t for t in threading.enumerate()
             if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if stuck:
        log.info("not waiting for %d thread(s) at exit: %s", len(stuck),
                 ", ".join(t.name for t in stuck))
        logging.shutdown()
        os._exit(0)


async def _shutdown(runtime: Any, worker: Any) -> None:
    try:
        await asyncio.wait_for(runtime.shutdown(), 20)
    except Exception:
        log.exception("the engine did not stop cleanly")
    if worker is not None:
        await asyncio.to_thread(worker.stop)
