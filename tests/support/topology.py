"""Many engine processes over one PostgreSQL database and one Redis, as real child processes.

No pytest here (like tests/support/stack.py): a bench can start the same topology.

- `Topology` (`with Topology(workdir) as topology:`, or `start()` and `stop()`): a throw-away
  database (migrated), our own redis-server, any number of `manage.py run_engines` children
  (`start_engine(worker_id, **env)`, `kill`, `terminate`), a web child (the Procfile's
  command) for the HTTP API, and one-off product children that call `sessions_app.services`.
  Every child shares one environment: the fake engine, short leases, QR codes that last an hour
  (so unpaired sessions sit in SCAN_QR_CODE), one `WAHA_LOCAL_STORE_BASE_DIR` (the fake engine
  keeps its auth state there) and one `WAHA_FAKE_SERVER_DIR`.
- `Registry`: the fake WhatsApp server's view of that directory. A live fake client holds an
  exclusive flock on `<session>.lock`, with `<worker id> <connection number>` written in it; a
  client that finds another one live appends a line to `conflicts.log` (what WhatsApp answers
  with StreamReplaced). Holders are read from /proc/locks, so the test takes no lock itself: a
  probing lock, however short, could make a client starting at that instant see a holder that
  is not a client and log a conflict nobody caused.
- Rows are read with plain psycopg (`rows()`, `history()`); the test process never configures
  Django for that database.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.support.live_server import free_port
from tests.support.stack import Child, Stack, ThrowawayDatabase, web_argv

# Seconds, as the product reads them from the environment. Short leases so a takeover happens
# within a test; QR codes that outlast any test so an unpaired session stays in SCAN_QR_CODE.
LEASE_SECONDS = 3.0
RECONCILE_SECONDS = 0.3
TOPOLOGY_SETTINGS = {
    "WAHA_LEASE_SECONDS": f"{LEASE_SECONDS:g}",
    "WAHA_RECONCILE_SECONDS": f"{RECONCILE_SECONDS:g}",
    "WAHA_QR_FIRST_SECONDS": "3600",
    "WAHA_QR_NEXT_SECONDS": "3600",
    "WAHA_AUTO_START_DELAY_SECONDS": "0",
}
SESSION_COLUMNS = (
    "name, uid, should_run, generation, applied_generation, status, owner, lease_expires_at, "
    "lease_expires_at IS NOT NULL AND lease_expires_at > now() AS lease_live, qr_value <> '', "
    "me, last_error"
)


@dataclass(frozen=True)
class SessionRow:
    name: str
    uid: str
    should_run: bool
    generation: int
    applied_generation: int
    status: str
    owner: str
    lease_expires_at: datetime | None
    lease_live: bool  # compared with the database's now(), in the same statement
    has_qr: bool
    me: dict[str, Any] | None
    last_error: str


@dataclass(frozen=True)
class Holder:
    """Who holds a session live at the fake WhatsApp server: the process and its line."""

    pid: int
    line: str

    @property
    def worker_id(self) -> str:
        """The worker id the client wrote, or "" while the line is not written in full."""
        if not self.line.endswith("\n"):
            return ""
        return self.line.split(" ", 1)[0]


class Registry:
    """The fake WhatsApp server's directory, read without taking any lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.conflicts_path = directory / "conflicts.log"

    def holders(self) -> dict[str, Holder]:
        """{session name: holder} for every session a client holds live right now."""
        locked = exclusive_flocks()
        held: dict[str, Holder] = {}
        for path in self.directory.glob("*.lock"):
            try:
                with path.open("rb") as file:
                    stat = os.fstat(file.fileno())
                    pid = locked.get((os.major(stat.st_dev), os.minor(stat.st_dev),
                                      stat.st_ino))
                    if pid is None:
                        continue
                    line = file.read().decode(errors="replace")
            except FileNotFoundError:
                continue
            held[path.name.removesuffix(".lock")] = Holder(pid, line)
        return held

    def conflicts(self) -> list[str]:
        try:
            return self.conflicts_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []


def exclusive_flocks() -> dict[tuple[int, int, int], int]:
    """{(device major, minor, inode): pid} of every exclusive flock on this machine.

    A line of /proc/locks: `12: FLOCK  ADVISORY  WRITE 8096 fe:00:2146308 0 EOF`; waiters are
    listed as `12: -> FLOCK ...` and hold nothing."""
    held: dict[tuple[int, int, int], int] = {}
    with open("/proc/locks") as locks:
        for line in locks:
            parts = line.split()
            if len(parts) < 6 or parts[1] != "FLOCK" or parts[3] != "WRITE":
                continue
            major, minor, inode = parts[5].split(":")
            held[(int(major, 16), int(minor, 16), int(inode))] = int(parts[4])
    return held


class Engine:
    """One `manage.py run_engines` child."""

    def __init__(self, worker_id: str, child: Child) -> None:
        self.worker_id = worker_id
        self.child = child
        self.signalled_before_ready = False
        self._ready = False

    @property
    def pid(self) -> int:
        assert self.child.process is not None
        return self.child.process.pid

    @property
    def running(self) -> bool:
        return self.child.running

    @property
    def returncode(self) -> int | None:
        assert self.child.process is not None
        return self.child.process.poll()

    @property
    def ready(self) -> bool:
        """It printed that its runtime is up (registered, boot reconcile done)."""
        if not self._ready:
            try:
                text = self.child.log_path.read_text(errors="replace")
            except FileNotFoundError:
                return False
            self._ready = f"\nengine {self.worker_id} running (" in text
        return self._ready

    def wait_ready(self, timeout: float = 60.0) -> Engine:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready:
                return self
            if not self.running:
                raise RuntimeError(f"{self.child.name} exited with {self.returncode}:\n"
                                   f"{self.child.output()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.child.name} not running within {timeout:g} s:\n"
                           f"{self.child.output()}")

    def send_term(self) -> None:
        """SIGTERM without waiting: the engine stops its clients and hands the sessions back."""
        if self.running:
            self.signalled_before_ready = not self.ready
            assert self.child.process is not None
            self.child.process.send_signal(signal.SIGTERM)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, then the exit code once it has exited."""
        self.send_term()
        return self.child.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs; the kernel drops its connections and locks."""
        self.child.kill()

    def output(self) -> str:
        return self.child.output()


class Topology:
    """One run: a throw-away database, our own Redis, and the product's children on both."""

    def __init__(self, workdir: Path, settings: Mapping[str, str] | None = None,
                 db_prefix: str = "waha_topology") -> None:
        self.workdir = workdir
        self.server_dir = workdir / "whatsapp-server"
        self.server_dir.mkdir(parents=True, exist_ok=True)
        self.registry = Registry(self.server_dir)
        self.database = ThrowawayDatabase(db_prefix)
        self.stack: Stack | None = None
        self.settings = {**TOPOLOGY_SETTINGS, "WAHA_FAKE_SERVER_DIR": str(self.server_dir),
                         **(settings or {})}
        self.engines: list[Engine] = []
        self.children: list[Child] = []
        self.web: Child | None = None
        self.web_url = ""
        self.conn: psycopg.Connection[Any] | None = None
        self.spawned = 0

    # --- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Topology:
        self.database.create()
        try:
            self.stack = Stack(self.workdir / "stack", self.database.url, self.settings)
            self.database.migrate(self.stack.env)
            self.stack.start_redis()
            self.conn = psycopg.connect(self.database.url, autocommit=True)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill every child whatever its state, then drop the database."""
        for child in reversed(self.children):
            child.kill()
        if self.stack is not None:
            self.stack.stop()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.database.drop()

    @property
    def env(self) -> dict[str, str]:
        assert self.stack is not None, "start() the topology first"
        return self.stack.env

    def _child(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Child:
        self.spawned += 1
        child = Child(f"{self.spawned:03d}-{name}", argv, {**self.env, **(env or {})},
                      self.workdir)
        self.children.append(child)
        return child.start()

    # --- engines ----------------------------------------------------------------------------------
    def start_engine(self, worker_id: str, *, wait: bool = True, **env: str) -> Engine:
        """A fresh `run_engines` process; `env` adds or overrides WAHA_* settings for it."""
        child = self._child(f"engine-{worker_id}",
                            [sys.executable, "manage.py", "run_engines"],
                            {**env, "WAHA_WORKER_ID": worker_id})
        engine = Engine(worker_id, child)
        self.engines.append(engine)
        return engine.wait_ready() if wait else engine

    def kill(self, engine: Engine) -> None:
        engine.kill()

    def terminate(self, engine: Engine, timeout: float = 60.0) -> int:
        return engine.terminate(timeout)

    def running_engines(self) -> list[Engine]:
        return [engine for engine in self.engines if engine.running]

    def engine_of_pid(self, pid: int) -> Engine | None:
        for engine in self.engines:
            if engine.child.process is not None and engine.pid == pid:
                return engine
        return None

    # --- product children ---------------------------------------------------------------------
    def call_services(self, calls: Iterable[tuple[str, list[Any], dict[str, Any]]],
                      timeout: float = 120.0) -> None:
        """Run `sessions_app.services` functions, in order, in one product child."""
        child = self._child("services", [
            sys.executable, "-c",
            "from tests.support.topology import services_main; services_main()",
            json.dumps([list(call) for call in calls]),
        ])
        code = child.wait(timeout)
        if code != 0:
            raise RuntimeError(f"the services child exited with {code}:\n{child.output()}")

    def create_sessions(self, names: Iterable[str], *, start: bool) -> None:
        self.call_services(("create_session", [name, {}], {"start": start}) for name in names)

    def start_web(self, timeout: float = 60.0) -> str:
        """The web role serving the HTTP API, as the Procfile runs it; its base URL."""
        port = free_port()
        self.web = self._child("web", web_argv("127.0.0.1", port))
        self.web_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.web.running:
                    raise RuntimeError(f"the web role exited:\n{self.web.output()}")
                try:
                    if client.get(f"{self.web_url}/ping").status_code == 200:
                        return self.web_url
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"the web role did not answer /ping within {timeout:g} s:\n"
                           f"{self.web.output()}")

    def api(self) -> httpx.Client:
        assert self.web_url, "start_web() first"
        return httpx.Client(base_url=self.web_url, timeout=30.0,
                            headers={"X-Api-Key": self.env["WAHA_API_KEY"]})

    # --- the database, read (and, for a rival claim, written) with plain psycopg -----------------
    @property
    def db(self) -> psycopg.Connection[Any]:
        assert self.conn is not None, "start() the topology first"
        return self.conn

    def rows(self) -> tuple[datetime, dict[str, SessionRow]]:
        """(the database's now(), {name: row}), read in one statement."""
        found = self.db.execute(
            f"SELECT now(), {SESSION_COLUMNS} FROM sessions_app_session"
        ).fetchall()
        now = found[0][0] if found else self.db_now()
        return now, {row[1]: SessionRow(*row[1:]) for row in found}

    def db_now(self) -> datetime:
        (now,) = self.db.execute("SELECT now()").fetchall()[0]
        return now

    def history(self, name: str, since: datetime) -> list[str]:
        """The statuses the session went through from `since` on, in order."""
        return [status for (status,) in self.db.execute(
            "SELECT c.status FROM sessions_app_sessionstatuschange c "
            "JOIN sessions_app_session s ON s.id = c.session_id "
            "WHERE s.name = %s AND c.timestamp >= %s ORDER BY c.timestamp, c.id",
            (name, since),
        ).fetchall()]

    def rival_claim(self, name: str, worker_id: str, seconds: float) -> bool:
        """The claim SessionQuerySet.claim makes, by a worker id no process runs under."""
        done = self.db.execute(
            "UPDATE sessions_app_session SET owner = %s, "
            "lease_expires_at = now() + make_interval(secs => %s) "
            "WHERE name = %s AND (owner = '' OR owner = %s OR lease_expires_at < now())",
            (worker_id, seconds, name, worker_id),
        )
        return done.rowcount == 1

    # --- waiting and reporting -----------------------------------------------------------------
    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str,
                   describe: Callable[[], str] | None = None, poll: float = 0.05) -> float:
        """Seconds it took; on timeout an AssertionError with the state and the logs."""
        started = time.monotonic()
        while True:
            if condition():
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                state = describe() if describe is not None else ""
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n"
                                     f"{state}\n{self.logs()}")
            time.sleep(poll)

    def logs(self, engines: int = 6) -> str:
        """The web child and the last few engines, and any other child that failed."""
        shown: list[Child] = []
        if self.web is not None:
            shown.append(self.web)
        shown += [engine.child for engine in self.engines[-engines:]]
        shown += [child for child in self.children
                  if child not in shown and "engine" not in child.name
                  and child is not self.web and child.process is not None
                  and child.process.poll() not in (None, 0)]
        parts = [f"=== {child.name}\n{child.output()}" for child in shown]
        conflicts = self.registry.conflicts()
        if conflicts:
            parts.append("=== conflicts.log\n" + "\n".join(conflicts[:50]))
        return "\n".join(parts)


# --- run in a child, with Django set up ---------------------------------------------------
ALLOWED_SERVICES = {"create_session", "start_session", "stop_session", "restart_session",
                    "logout_session", "delete_session"}


def services_main() -> None:
    """argv[1]: JSON [[function name, args, kwargs], ...] of sessions_app.services, in order."""
    calls = json.loads(sys.argv[1])

    import django

    django.setup()
    from sessions_app import services

    for name, args, kwargs in calls:
        if name not in ALLOWED_SERVICES:
            raise SystemExit(f"not a session service: {name}")
        getattr(services, name)(*args, **kwargs)
