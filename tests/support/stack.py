"""The scaled topology as real child processes: PostgreSQL, Redis, a Celery worker and beat.

No pytest here (like tests/support/live_server.py): bench/webhooks.py starts the same stack.

- `ThrowawayDatabase`: a database of its own on the PostgreSQL at 127.0.0.1:5432, migrated with
  `manage.py migrate`, dropped at the end (`WITH (FORCE)`, so a leftover connection cannot keep
  it alive). The caller reads rows with plain psycopg: it never configures Django itself.
- `Stack`: our own `redis-server` on a free loopback port without persistence (killing it and
  starting it again on the same port is a broker restarted empty), `celery worker` and
  `celery beat` children, and one-off product children. All share one clean environment;
  `stop()` kills every one of them, whatever state they are in, and on Linux each child is
  also SIGKILLed by the kernel if the process that started it dies first.
- `publish()`: a session with a webhook for "*", then one `publish` per transaction; what a
  publishing child runs (`publish_main`, via `python -c`) with Django set up on that same
  environment.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from tests.support.live_server import PROJECT_ROOT, clean_environment, free_port

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PUBLISHED_EVENT = "message.any"
# The delivery claim of a send that never finished is held for the send timeout plus
# webhooks_app.services.CLAIM_MARGIN_SECONDS (30 s) before the sweeper may queue it again.
SEND_TIMEOUT_SECONDS = 5
PR_SET_PDEATHSIG = 1
# Looked up now: a child between fork and exec should only make the call.
_prctl = getattr(ctypes.CDLL(None), "prctl", None) if sys.platform == "linux" else None


def web_argv(host: str, port: int) -> list[str]:
    """The Procfile's web role (what follows its `exec`) on `host:port`, run by this Python."""
    line = next(line for line in (PROJECT_ROOT / "Procfile").read_text().splitlines()
                if line.startswith("web:"))
    given = {"WHATSAPP_API_HOSTNAME": host, "WHATSAPP_API_PORT": str(port)}
    command = re.sub(r"\$\{(\w+):-[^}]*\}", lambda m: given[m.group(1)],
                     line.split("&& exec ", 1)[1])
    program, *arguments = shlex.split(command)
    return [sys.executable, "-m", program, *arguments]


def die_with_parent() -> None:
    """preexec_fn: the kernel SIGKILLs the child if we die without a teardown (kept past exec)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ThrowawayDatabase:
    def __init__(self, prefix: str = "waha_noloss") -> None:
        self.name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        self.url = f"postgres://postgres@127.0.0.1:5432/{self.name}"

    def create(self) -> ThrowawayDatabase:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        return self

    def migrate(self, env: Mapping[str, str]) -> None:
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=PROJECT_ROOT, env={**env, "DATABASE_URL": self.url},
            stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed ({done.returncode}):\n"
                               f"{done.stdout.decode()}{done.stderr.decode()}")

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(self.name)))

    def delivery_counts(self, session_name: str) -> dict[str, int]:
        """{status: rows} of the session's deliveries."""
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM webhooks_app_delivery WHERE session_name = %s "
                "GROUP BY status", (session_name,),
            ).fetchall()
        return {str(status): int(count) for status, count in rows}


class Child:
    """One child process; its output goes to a file (a pipe nobody reads would block it)."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        with self.log_path.open("ab") as log:
            log.write(f"--- {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.argv, cwd=PROJECT_ROOT, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine or a container dies."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{self.name} still running after {timeout:g} s:\n"
                               f"{self.output()}") from None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""


class Stack:
    """Redis, Celery worker(s) and beat for one run, all on `database_url`."""

    def __init__(self, workdir: Path, database_url: str,
                 settings: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = product_environment(workdir / "data", database_url, self.redis_url,
                                       settings)
        self.children: list[Child] = []
        self.redis: Child | None = None
        self.worker: Child | None = None
        self.beat: Child | None = None
        self.workers_started = 0

    def _child(self, name: str, argv: list[str]) -> Child:
        child = Child(name, argv, self.env, self.workdir)
        self.children.append(child)
        return child.start()

    # --- redis ----------------------------------------------------------------------------------
    def start_redis(self, timeout: float = 10.0) -> None:
        """On the same port every time: a restart is the same broker address, empty."""
        self.redis = self._child("redis", [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", str(self.workdir),
        ])
        client = redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.redis.running:
                raise RuntimeError(f"redis-server exited:\n{self.redis.output()}")
            try:
                if client.ping():
                    client.close()
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer within {timeout:g} s")

    def kill_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()

    # --- celery ---------------------------------------------------------------------------------
    def start_worker(self, concurrency: int = 4) -> None:
        self.workers_started += 1
        self.worker = self._child(f"worker-{self.workers_started}", [
            sys.executable, "-m", "celery", "-A", "waha_project", "worker",
            "--pool", "threads", "--concurrency", str(concurrency),
            "--without-heartbeat", "--without-gossip", "--without-mingle", "-Q", "celery",
            "--loglevel", "WARNING", "-n", f"worker{self.workers_started}@noloss",
        ])

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.kill()

    def start_beat(self) -> None:
        """The sweeper of the scaled topology; its schedule and pid files stay in workdir."""
        self.beat = self._child("beat", [
            sys.executable, "-m", "celery", "-A", "waha_project", "beat",
            "--schedule", str(self.workdir / "beat-schedule"),
            "--pidfile", str(self.workdir / "beat.pid"), "--loglevel", "WARNING",
        ])

    # --- product children -----------------------------------------------------------------------
    def start_publisher(self, session_name: str, url: str, count: int) -> Publisher:
        out = self.workdir / f"published-{session_name}.json"
        child = self._child(f"publish-{session_name}", [
            sys.executable, "-c",
            "from tests.support.stack import publish_main; publish_main()",
            session_name, url, str(count), str(out),
        ])
        return Publisher(child, out)

    def stop(self) -> None:
        for child in reversed(self.children):
            child.kill()

    def logs(self) -> str:
        return "\n".join(f"=== {child.name}\n{child.output()}" for child in self.children)


class Publisher:
    def __init__(self, child: Child, out: Path) -> None:
        self.child = child
        self.out = out

    def result(self, timeout: float = 60.0) -> dict[str, object]:
        """{"ids": [event ids in publish order], "seconds": time spent publishing}."""
        code = self.child.wait(timeout)
        if code != 0:
            raise RuntimeError(f"the publisher exited with {code}:\n{self.child.output()}")
        return dict(json.loads(self.out.read_text()))


def product_environment(data_dir: Path, database_url: str | None, redis_url: str | None,
                        settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """What every product child gets: nothing of ours but these (never the test settings).
    Without a database URL it is SQLite in `data_dir`; without a Redis URL, in-memory."""
    env = {
        "DJANGO_SETTINGS_MODULE": "waha_project.settings",
        "WAHA_LOCAL_STORE_BASE_DIR": str(data_dir),
        "WAHA_API_KEY": "noloss-api-key-7f3e9b",
        "WAHA_ENGINE": "fake",
        "WAHA_WEBHOOK_TIMEOUT_SECONDS": str(SEND_TIMEOUT_SECONDS),
        **(settings or {}),
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    return clean_environment(env)


# --- run in a child, with Django set up ---------------------------------------------------
def publish(name: str, url: str, count: int) -> tuple[list[str], float]:
    """(event ids in publish order, seconds spent publishing)."""
    from django.db import transaction

    from sessions_app import events, services

    session = services.create_session(name, {"webhooks": [{"url": url, "events": ["*"]}]},
                                      start=False)
    ids = []
    started = time.perf_counter()
    for n in range(count):
        with transaction.atomic():
            envelope = events.publish(session, PUBLISHED_EVENT, {
                "id": f"false_111@c.us_NOLOSS{n:05d}", "body": f"no-loss event {n}",
                "from": "111@c.us", "fromMe": False,
            })
        ids.append(envelope["id"])
    return ids, time.perf_counter() - started


def publish_main() -> None:
    """argv: session name, webhook url, how many events, where to write what was published."""
    name, url, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])

    import django

    django.setup()
    ids, seconds = publish(name, url, count)
    out.write_text(json.dumps({"ids": ids, "seconds": seconds}))
