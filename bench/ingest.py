"""Events kept per second by one engine process, many sessions at once, no webhook delivery.

    .venv/bin/python bench/ingest.py [--sessions 50] [--messages 40] [--store] [--path both]

Run from the project root. `--sessions` sessions, each with a webhook for `message` and
`message.any` (to a closed port: no worker runs, so nothing is sent), are created wanting to run
and already paired (the fake engine's auth file), so one `manage.py run_engines` child on the
fake engine resumes them straight to WORKING. Once every one is WORKING, `--messages` incoming
messages per session, written beforehand beside the fake server's inbox
(`WAHA_FAKE_SERVER_DIR`), appear in it at once (one directory rename per session: what
WhatsApp hands over after a time offline), and the bench counts delivery rows until every
event is kept: an incoming message is two WAHA events (`message`, `message.any`), each written
with its delivery row in the engine's transaction before the message leaves the inbox.

- embedded default: the engine on SQLite (WAL) in a fresh data directory, in-memory channel
  layer and Celery transport (what `serve` runs for the engine role, without uvicorn and the
  worker);
- scaled topology (bench/topology.py): the engine on a throw-away PostgreSQL database and our
  own redis-server (channel layer and broker), with no worker or beat.

Columns: events kept; `wall s`, from the inboxes' release to the moment the bench saw the last
delivery row (polled every 50 ms); `events/s` over that; `engine events/s`, over the
rows' own `created_at`, first to last (what the engine wrote per second once it had started).
With `--store` the sessions also keep the store (`noweb.store.enabled`): a message row, its
chat and its contact per `message.any`. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Run as a script from the project root (or from a copy elsewhere, with the root as cwd).
ROOT = Path.cwd() if (Path.cwd() / "manage.py").exists() else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.topology import (  # noqa: E402
    ENGINE_RUNNING,
    Topology,
    TopologyFailed,
    conditions,
    wait_for_output,
)
from tests.support.stack import Child, product_environment  # noqa: E402

SCRIPT = Path(__file__).resolve()
TIMEOUT = 900.0
CHAT = "111@c.us"
HOOK = {"url": "http://127.0.0.1:9/never", "events": ["message", "message.any"]}
EVENTS_PER_MESSAGE = 2
SETTINGS = {"WAHA_AUTO_START_DELAY_SECONDS": "0"}


@dataclass
class Figures:
    label: str
    events: int
    wall: float
    span: float

    @property
    def rate(self) -> float:
        return self.events / self.wall

    @property
    def engine_rate(self) -> float:
        return self.events / self.span if self.span > 0 else float("nan")


# --- the two paths ------------------------------------------------------------------------------
class Embedded:
    label = "embedded default (SQLite)"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server_dir = workdir / "whatsapp-server"
        self.env = product_environment(workdir / "data", None, None, {
            **SETTINGS, "WAHA_FAKE_SERVER_DIR": str(self.server_dir)})
        self.children: list[Child] = []

    def create(self) -> None:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], self.env)

    def spawn_engine(self) -> Child:
        child = Child("engine", [sys.executable, "manage.py", "run_engines"], self.env,
                      self.workdir)
        self.children.append(child.start())
        return child

    def count(self, sql: str) -> tuple[object, ...]:
        path = self.workdir / "data" / "waha.sqlite3"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            return tuple(conn.execute(sql).fetchone())

    def span(self) -> float:
        first, last = self.count("SELECT min(created_at), max(created_at) "
                                 "FROM webhooks_app_delivery")
        return seconds_between(str(first), str(last))

    def stop(self) -> None:
        for child in self.children:
            child.kill()


class Scaled:
    label = "scaled topology (PostgreSQL + Redis)"

    def __init__(self, workdir: Path) -> None:
        self.server_dir = workdir / "whatsapp-server"
        self.topology = Topology(workdir, {**SETTINGS,
                                           "WAHA_FAKE_SERVER_DIR": str(self.server_dir)},
                                 prefix="waha_bench_ingest")
        self.env: dict[str, str] = {}

    def create(self) -> None:
        self.topology.create()
        self.env = self.topology.env

    def spawn_engine(self) -> Child:
        return self.topology.spawn_engine()

    def count(self, sql: str) -> tuple[object, ...]:
        return self.topology.query(sql)[0]

    def span(self) -> float:
        [seconds] = self.count("SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at)) "
                               "FROM webhooks_app_delivery")
        return float(seconds)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.topology.stop()


def seconds_between(first: str, last: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()


def run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=600, check=False)
    if done.returncode != 0:
        raise TopologyFailed(f"{' '.join(argv)} failed ({done.returncode}):\n"
                             f"{done.stdout.decode()}{done.stderr.decode()}")


def wait_until(done: Callable[[], bool], engine: Child, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not done():
        if time.monotonic() > deadline or not engine.running:
            raise TopologyFailed(f"{what}: not reached\n{engine.output()}")
        time.sleep(0.05)


def measure(path: Embedded | Scaled, sessions: int, messages: int, store: bool) -> Figures:
    path.create()
    run([sys.executable, str(SCRIPT), "--role", "setup", "--sessions", str(sessions),
         *(["--store"] if store else [])], path.env)
    engine = path.spawn_engine()
    wait_for_output(engine, ENGINE_RUNNING, TIMEOUT)
    wait_until(lambda: int(path.count("SELECT count(*) FROM sessions_app_session "  # type: ignore[call-overload]
                                      "WHERE status = 'WORKING'")[0]) == sessions,
               engine, "every session WORKING")
    expected = sessions * messages * EVENTS_PER_MESSAGE
    names = [session_name(index) for index in range(sessions)]
    staging = stage_inboxes(path.server_dir, names, messages)
    began = time.perf_counter()
    release_inboxes(path.server_dir, staging, names)
    wait_until(lambda: int(path.count("SELECT count(*) FROM webhooks_app_delivery")[0])  # type: ignore[call-overload]
               >= expected, engine, f"{expected} events kept")
    wall = time.perf_counter() - began
    return Figures(path.label, expected, wall, path.span())


def stage_inboxes(server_dir: Path, names: list[str], messages: int) -> Path:
    """What WhatsApp holds for each session, `messages` each, written beside the inbox (writing
    thousands of files is slower here than the engine takes them)."""
    staging = server_dir / "staging"
    for name in names:
        folder = staging / name
        folder.mkdir(parents=True)
        for n in range(messages):
            (folder / f"{n:09d}.json").write_text(json.dumps({
                "id": f"INGEST{n:05d}", "from": CHAT, "body": f"offline message {n} for {name}"}))
    return staging


def release_inboxes(server_dir: Path, staging: Path, names: list[str]) -> None:
    """Every session's messages appear at once: one directory rename per session."""
    for name in names:
        (staging / name).rename(server_dir / "inbox" / name)


def session_name(index: int) -> str:
    return f"ingest-{index:03d}"


def setup_child(sessions: int, store: bool) -> None:
    """Sessions wanting to run, already paired, each with a webhook (and the store if asked)."""
    import django

    django.setup()
    from sessions_app import services
    from sessions_app.engines.fake import FakeEngine

    engine = FakeEngine.from_settings()
    engine.auth_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {"webhooks": [HOOK]}
    if store:
        config["noweb"] = {"store": {"enabled": True}}
    for index in range(sessions):
        session = services.create_session(session_name(index), config, start=True)
        digits = f"1{index:010d}"
        me = {"id": f"{digits}@c.us", "pushName": "Ingest", "jid": f"{digits}:7@s.whatsapp.net",
              "lid": f"{digits[::-1]}:7@lid"}
        engine.auth_path(services.spec_of(session)).write_text(json.dumps({"me": me}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40, help="inbox messages per session")
    parser.add_argument("--store", action="store_true", help="the sessions keep the store too")
    parser.add_argument("--path", choices=["embedded", "scaled", "both"], default="both")
    parser.add_argument("--role", choices=["setup"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "setup":
        return setup_child(args.sessions, args.store)

    rows: list[Figures] = []
    kinds = {"embedded": [Embedded], "scaled": [Scaled], "both": [Embedded, Scaled]}[args.path]
    at_start = " ".join(f"{value:.1f}" for value in os.getloadavg())
    for kind in kinds:
        workdir = Path(tempfile.mkdtemp(prefix="waha-bench-ingest-"))
        path = kind(workdir)
        print(f"{path.label}: {args.sessions} sessions x {args.messages} messages ...",
              flush=True)
        try:
            rows.append(measure(path, args.sessions, args.messages, args.store))
        except TopologyFailed as exc:
            raise SystemExit(str(exc)) from None
        finally:
            path.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{conditions()} (load average {at_start} at the start)")
    print(f"one `manage.py run_engines` (fake engine), {args.sessions} WORKING sessions x "
          f"{args.messages} inbox messages = {args.sessions * args.messages * 2} WAHA events; "
          f"a webhook each (not sent){', store on' if args.store else ''}")
    print()
    header = f"{'path':<38} {'events':>7} {'wall s':>7} {'events/s':>9} {'engine events/s':>16}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row.label:<38} {row.events:>7} {row.wall:>7.2f} {row.rate:>9,.0f} "
              f"{row.engine_rate:>16,.0f}")


if __name__ == "__main__":
    main()
