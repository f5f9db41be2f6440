"""The scaled topology as child processes, for the benches to set beside the embedded default.

    from bench.topology import Topology

    with Topology(workdir) as topology:  # stops everything on the way out, even a failed start
        topology.start()
        with topology.client() as api:
            api.get("/api/sessions")

What README.md calls the scaled topology, with `DATABASE_URL` and `REDIS_URL` set, one role per
process, each a child of the bench:

- web: the Procfile's `uvicorn … waha_project.asgi:application` (the ASGI application on
  its own runs no engine and no worker: only HTTP and websockets);
- engine: `manage.py run_engines` (the fake engine, `WAHA_ENGINE=fake`);
- worker: `celery -A waha_project worker --pool threads`; beat: `celery -A waha_project beat`;
- a throw-away PostgreSQL database on 127.0.0.1:5432, migrated with `manage.py migrate`, and our
  own `redis-server` on a free port (the stack of tests/support/stack.py, which this builds on).

Every child gets the same clean environment (`product_environment`) and writes its output to a
file in `workdir`; `stop()` kills every child and drops the database, whatever state they are in.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx
import psycopg

# Run from a script under bench/, so the project root may not be on the path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.live_server import PROJECT_ROOT, free_port
from tests.support.stack import Child, Stack, ThrowawayDatabase, web_argv

ENGINE_RUNNING = re.compile(r"^engine \S+ running \(", re.MULTILINE)
PORT_TAKEN = "address already in use"


class TopologyFailed(RuntimeError):
    """A child exited or never became ready; the message ends with its output."""


class Topology:
    """Web, engine(s), worker and beat on PostgreSQL + Redis; `start()` waits for each."""

    def __init__(self, workdir: Path, settings: Mapping[str, str] | None = None,
                 prefix: str = "waha_bench", conn_max_age: float | None = None) -> None:
        """`conn_max_age`: seconds a role keeps a PostgreSQL connection (`?conn_max_age=` on
        DATABASE_URL, which turns the connection pool off); None leaves the product's default:
        each role's pool (`WAHA_DB_POOL_MAX_SIZE`)."""
        self.workdir = workdir
        self.settings = dict(settings or {})
        self.database = ThrowawayDatabase(prefix)
        self.database_url = self.database.url + (
            "" if conn_max_age is None else f"?conn_max_age={conn_max_age:g}")
        self.stack: Stack | None = None
        self.web: Child | None = None
        self.engines: list[Child] = []
        self.port = 0

    # --- what a client needs --------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        assert self.stack is not None, "start() first"
        return self.stack.env

    @property
    def api_key(self) -> str:
        return self.env["WAHA_API_KEY"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-Api-Key": self.api_key},
                            timeout=timeout)

    def query(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        """Rows of one read on the topology's database (plain psycopg, no Django here)."""
        with psycopg.connect(self.database.url, autocommit=True) as conn:
            return list(conn.execute(statement, params).fetchall())

    # --- start and stop -------------------------------------------------------------------------
    def start(self, *, web: bool = True, engines: int = 1, worker: bool = True,
              beat: bool = True, concurrency: int = 4,
              dashboard_user: tuple[str, str] | None = None) -> Topology:
        """Database and Redis first, then the roles asked for; each is ready when this returns."""
        self.create()
        if dashboard_user is not None:
            self.create_dashboard_user(*dashboard_user)
        if worker:
            self.start_worker(concurrency)
        if beat:
            self.start_beat()
        for _ in range(engines):
            self.start_engine()
        if web:
            self.start_web()
        return self

    def create(self) -> Topology:
        """The migrated database and a running redis-server, no role yet."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.database.create()
        self.stack = Stack(self.workdir, self.database_url, self.settings)
        self.database.migrate(self.env)
        self.stack.start_redis()
        return self

    def create_dashboard_user(self, username: str, password: str) -> None:
        """`manage.py createsuperuser --noinput`: `serve` creates the first user itself, the
        scaled roles do not."""
        done = subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput",
             "--username", username, "--email", ""],
            cwd=PROJECT_ROOT, env={**self.env, "DJANGO_SUPERUSER_PASSWORD": password},
            stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False,
        )
        if done.returncode != 0:
            raise TopologyFailed(f"createsuperuser failed ({done.returncode}):\n"
                                 f"{done.stdout.decode()}{done.stderr.decode()}")

    def start_worker(self, concurrency: int = 4, timeout: float = 60.0) -> Child:
        """`celery worker --pool threads`, once it answers a ping (`celery inspect ping`): it
        is consuming from the broker by then."""
        assert self.stack is not None
        self.stack.start_worker(concurrency)
        worker = self.stack.worker
        assert worker is not None
        name = f"worker{self.stack.workers_started}@noloss"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker.running:
                raise TopologyFailed(f"{worker.name} exited:\n{worker.output()}")
            done = subprocess.run(
                [sys.executable, "-m", "celery", "-A", "waha_project", "inspect", "ping",
                 "--destination", name, "--timeout", "1"],
                cwd=PROJECT_ROOT, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=60, check=False,
            )
            if done.returncode == 0 and b"pong" in done.stdout:
                return worker
        raise TopologyFailed(f"{worker.name} did not answer a ping within {timeout:g} s:\n"
                             f"{worker.output()}")

    def start_beat(self) -> None:
        assert self.stack is not None
        self.stack.start_beat()

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Child:
        """Any child on the topology's environment (`env` added to it), stopped with the rest."""
        assert self.stack is not None
        child = Child(name, argv, {**self.env, **(env or {})}, self.workdir)
        self.stack.children.append(child)
        return child.start()

    def spawn_engine(self, env: Mapping[str, str] | None = None) -> Child:
        """`manage.py run_engines`, without waiting for it; `env` is added to the topology's."""
        child = self.spawn(f"engine-{len(self.engines) + 1}",
                           [sys.executable, "manage.py", "run_engines"], env)
        self.engines.append(child)
        return child

    def start_engine(self, env: Mapping[str, str] | None = None,
                     timeout: float = 120.0) -> Child:
        """An engine, once it has registered and started what it claimed at boot."""
        child = self.spawn_engine(env)
        wait_for_output(child, ENGINE_RUNNING, timeout)
        return child

    def start_web(self, timeout: float = 60.0, attempts: int = 3) -> Child:
        """The web role (the Procfile's command) on a free port, once it answers GET /ping; a
        port taken between the probe and the server's bind is tried again."""
        assert self.stack is not None
        for attempt in range(attempts):
            self.port = free_port()
            child = Child(f"web-{attempt + 1}", web_argv("127.0.0.1", self.port), self.env,
                          self.workdir)
            self.stack.children.append(child)
            self.web = child.start()
            try:
                wait_for_ping(child, self.base_url, timeout)
                return child
            except TopologyFailed as exc:
                child.kill()
                if PORT_TAKEN not in str(exc).lower() or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """SIGKILL every child still running, then drop the database."""
        if self.stack is not None:
            self.stack.stop()
        self.database.drop()

    def logs(self) -> str:
        return self.stack.logs() if self.stack is not None else ""

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


# --- one child ------------------------------------------------------------------------------------
def terminate(child: Child, timeout: float = 30.0) -> float | None:
    """SIGTERM and wait: seconds until it exited, or None (then SIGKILLed) past `timeout`."""
    if not child.running:
        return 0.0
    assert child.process is not None
    began = time.perf_counter()
    child.process.send_signal(signal.SIGTERM)
    try:
        child.process.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        return None
    return time.perf_counter() - began


def wait_for_output(child: Child, pattern: re.Pattern[str], timeout: float) -> None:
    """Until `pattern` is in the child's whole log (Child.output() is only its tail)."""
    deadline = time.monotonic() + timeout
    seen, offset = "", 0
    while time.monotonic() < deadline:
        with child.log_path.open("rb") as log:
            log.seek(offset)
            chunk = log.read()
        offset += len(chunk)
        seen = seen[-1000:] + chunk.decode(errors="replace")
        if pattern.search(seen):
            return
        if not child.running:
            raise TopologyFailed(f"{child.name} exited:\n{child.output()}")
        time.sleep(0.05)
    raise TopologyFailed(f"{child.name} not ready within {timeout:g} s:\n{child.output()}")


def wait_for_ping(child: Child, base_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not child.running:
                raise TopologyFailed(f"{child.name} exited:\n{child.output()}")
            try:
                if client.get(f"{base_url}/ping").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise TopologyFailed(f"{child.name} did not answer /ping within {timeout:g} s:\n"
                         f"{child.output()}")


# --- what the figures were measured on ---------------------------------------------------------
def conditions() -> str:
    """Python, CPUs, load average (1, 5, 15 min) and the PostgreSQL and Redis versions."""
    def first_line(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "?"
        return done.stdout.strip().splitlines()[0] if done.stdout.strip() else "?"

    pg = first_line(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"])
    redis = first_line(["redis-server", "--version"]).split(" ")
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}, "
            f"PostgreSQL {pg.split(' ')[0]}, "
            f"Redis {redis[2].removeprefix('v=') if len(redis) > 2 else '?'}")


def conn_note(conn_max_age: float | None) -> str:
    """For the line above a table: what `--conn-max-age` changed, if anything."""
    if conn_max_age is None:
        return ""
    return f"; scaled roles: DATABASE_URL with conn_max_age={conn_max_age:g}"
