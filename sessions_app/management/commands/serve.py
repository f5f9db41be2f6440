"""`python manage.py serve`: every role in one process on the embedded default.

Migrates, then runs uvicorn (web), the engine runtime on uvicorn's event loop and a Celery
worker on a thread. Ctrl-C or SIGTERM stops the engine's clients, releases their leases
(sessions that were running start again next time) and stops the worker. A port it cannot
listen on (another process holds it) is one line and exit status 1, so supervisors notice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
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
        import uvicorn

        from sessions_app.dashboard.first_run import ensure_dashboard_user
        from sessions_app.engines import get_engine
        from sessions_app.runtime import EngineRuntime
        from waha_project.asgi import announce_api_key, application
        from waha_project.embedded import EmbeddedWorker, embedded_beat
        from waha_project.process import freeze_startup_objects

        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        ensure_dashboard_user(self.stdout)

        host, port = options["host"], options["port"]
        try:
            listening = listen(host, port)
        except OSError as error:
            raise CommandError(
                f"cannot listen on {host}:{port}: {error}. Stop what holds the port, or choose "
                "another with PORT (or WHATSAPP_API_PORT).") from None

        announce_api_key()
        freeze_startup_objects()
        runtime = EngineRuntime(get_engine(), max_sessions=settings.WORKER_MAX_SESSIONS)
        worker = None if options["no_worker"] else EmbeddedWorker()
        beat = None if options["no_worker"] else embedded_beat()
        # No access log here, as before; the scaled web role's server writes one (README.md).
        server = uvicorn.Server(uvicorn.Config(application, **server_options(), access_log=False))

        async def run() -> None:
            if worker is not None:
                worker.start()
            if beat is not None:
                beat.start()
            engine = asyncio.create_task(runtime.start())
            serving = asyncio.create_task(server.serve(sockets=[listening]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            if server.started:
                self.stdout.write(f"WAHA listening on http://{host}:{port} "
                                  f"(engine: {runtime.engine.name}, data: {settings.DATA_DIR})")
                self.stdout.flush()
            try:
                await serving  # until SIGINT or SIGTERM: the server stops taking requests
            finally:
                log.info("shutting down: stopping sessions and the worker")
                if beat is not None:
                    beat.stop()
                await _shutdown(runtime, worker)
                engine.cancel()

        # The server answers SIGINT and SIGTERM by stopping, then raises the signal again once
        # it has: let that find a handler that does nothing, so the sessions stop in order.
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, lambda *_: None)
        asyncio.run(run())
        exit_past_stuck_threads()


def server_options() -> dict[str, Any]:
    """uvicorn's settings for the ASGI application; the Procfile's web role gives the same on
    its command line (its loop and HTTP parser are uvicorn's defaults: asyncio, httptools)."""
    return {
        "loop": "asyncio",
        "http": "httptools",
        "ws": "websockets-sansio",
        "lifespan": "off",
        "log_config": None,  # Django's LOGGING (waha_project/settings.py) has its loggers
        "proxy_headers": False,
    }


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts, so a port in use is one clear line.

    Made with the TCP protocol named: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    connections accepted from such a socket. Without it, an answer written in two parts
    (headers, then body) on a kept-alive connection waited for the client's delayed ACK: 40 ms.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


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
