"""Incoming messages → signed webhooks at nginx, across many sessions, beside a bare client.

    .venv/bin/python bench/webhooks.py [--sessions 50] [--messages 40] [--rate 0]
        [--topology both|embedded|scaled] [--silent-target] [--no-delivery]
        [--concurrency 16] [--deadline 120] [--conn-max-age S]

The receiver is a real nginx (bench/nginx.py: Debian's nginx-light, installed when missing),
answering 204 to every POST under /hook and writing one access-log line per request; what
arrived is counted from that log. Each run gets a fresh product:

- embedded default: `manage.py serve` (uvicorn, the engine runtime, a Celery worker with 4
  threads and the sweeper in one process; SQLite, in-memory layer and broker);
- scaled topology (bench/topology.py): uvicorn, `manage.py run_engines`, `celery worker --pool
  threads --concurrency 4` and `celery beat` on a throw-away PostgreSQL database and our own
  redis-server.

Both with `WAHA_ENGINE=fake` and `WAHA_FAKE_SERVER_DIR` (the stand-in for WhatsApp's servers) and
otherwise the product's defaults. Sessions are created through the API with `start=true` and
pair by themselves (`WAHA_FAKE_PAIR_AFTER_SECONDS=0`); once every one is WORKING, the bench
writes `--messages` incoming texts for each into the fake server's inbox (`FakeServer.deliver`,
round robin over the sessions, all at once or at `--rate` messages per second). The engine reads
them as production does (the paired fake client takes what waits and deletes each message once
it is kept); each text gives two WAHA events (`message`, `message.any`), and each session has one
signed webhook on `message`, to its own URI on nginx: one delivery per message.

Runs:
- delivery (default): deliveries/s = distinct event ids at nginx / (last receipt - first inbox
  write); kept ev/s = WAHA events / (inbox empty - first inbox write); latency event → receipt =
  nginx's `$msec` - the envelope's `X-Webhook-Timestamp` (set when the engine builds the event,
  in the transaction that keeps it); inbox → receipt pairs each session's receipts, in envelope
  order, with its inbox writes, in order (a session's events are kept in order).
- baseline (same run): a bare aiohttp client, `--concurrency` in flight on kept-alive
  connections, posting the bodies the first product run delivered with the headers the product
  sends (same HMAC key; the same URIs' length) to the same nginx; and `wrk` if it is installed.
- `--silent-target`: the same again with a second webhook on 5 of the sessions, to a socket that
  accepts and never answers; the healthy target's rate beside the run without it.
- `--no-delivery`: ingest only (no webhook): WAHA events kept per second across the sessions,
  beside the inbox alone (a child reading and deleting the same files, one thread).

Below the table, per run: the CPU time (user + system, from /proc) each of the product's
processes, the PostgreSQL backends serving its database (scaled; added up) and nginx spent from
the first inbox write to the last receipt, per message kept (machine load moves rates, much
less the CPU a message costs), and from the product's rows where
a first attempt's wait went: event → row written (the group commit) and row → attempt start (the
broker, a free worker, the claim).

A run that has not finished `--deadline` seconds after its first inbox write is cut there and
its rates are over that window. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

# Run as a script, so the project root is not on the path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.nginx import Hit, Nginx
from bench.topology import (
    PORT_TAKEN,
    Topology,
    TopologyFailed,
    conditions,
    conn_note,
    wait_for_ping,
)
from sessions_app.engines.fake import FakeServer
from tests.support.live_server import free_port
from tests.support.stack import Child, product_environment
from webhooks_app import signing

SCRIPT = Path(__file__).resolve()
EVENTS_PER_MESSAGE = 2  # message, message.any
DELIVERED_EVENT = "message"
HMAC_KEY = "bench-hmac-key-3c9d51"
SILENT_SESSIONS = 5
WORKER_THREADS = 4  # the embedded worker's default; the scaled worker is given the same
POLL_SECONDS = 0.02
SETUP_TIMEOUT = 180.0
BASELINE_REQUESTS = 10_000
# The stack's environment shortens the send timeout for the no-loss tests; here the product's
# default applies, which is what a silent target holds a worker thread for.
SHORT_TIMEOUT = "WAHA_WEBHOOK_TIMEOUT_SECONDS"


# --- the products ---------------------------------------------------------------------------------
def fake_settings(server_dir: Path) -> dict[str, str]:
    return {"WAHA_FAKE_SERVER_DIR": str(server_dir), "WAHA_FAKE_PAIR_AFTER_SECONDS": "0"}


@dataclass
class DeliveryRow:
    url: str
    status: str
    session: str
    event_id: str
    event_ms: int
    body: str
    created: float  # epoch seconds
    finished: float | None
    attempts: int
    first_started: float | None
    first_ms: int | None


DELIVERIES_SQL = """
SELECT d.url, d.status, d.session_name, d.event_id, d.event_timestamp, d.body, d.created_at,
       d.finished_at, d.attempts, a.started_at, a.duration_ms
FROM webhooks_app_delivery d
LEFT JOIN webhooks_app_deliveryattempt a ON a.delivery_id = d.id AND a.number = 1
WHERE d.event = 'message'
"""


def epoch(value: object) -> float | None:
    """A datetime column as epoch seconds: SQLite gives naive UTC text, psycopg aware values."""
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(when, datetime)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def delivery_rows(rows: Iterable[Sequence[Any]]) -> list[DeliveryRow]:
    return [DeliveryRow(str(url), str(status), str(session), str(event_id), int(event_ms),
                        str(body), epoch(created) or 0.0, epoch(finished), int(attempts),
                        epoch(started), None if duration is None else int(duration))
            for (url, status, session, event_id, event_ms, body, created, finished, attempts,
                 started, duration) in rows]


class Product(Protocol):
    label: str
    server_dir: Path

    def start(self) -> None: ...
    def client(self) -> httpx.Client: ...
    def check(self) -> None: ...
    def deliveries(self) -> list[DeliveryRow]: ...
    def processes(self) -> dict[str, int]: ...
    def stop(self) -> None: ...
    def logs(self) -> str: ...


class Embedded:
    """`manage.py serve` as one child, on SQLite in its own data directory."""

    label = "embedded default"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server_dir = workdir / "fake-server"
        self.data_dir = workdir / "data"
        self.env = product_environment(self.data_dir, None, None, fake_settings(self.server_dir))
        self.env.pop(SHORT_TIMEOUT, None)
        self.child: Child | None = None
        self.port = 0

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            self.child = Child(f"serve-{attempt + 1}", [
                sys.executable, "manage.py", "serve", "--host", "127.0.0.1",
                "--port", str(self.port)], self.env, self.workdir).start()
            try:
                wait_for_ping(self.child, f"http://127.0.0.1:{self.port}", SETUP_TIMEOUT)
                return
            except TopologyFailed as exc:
                self.child.kill()
                if PORT_TAKEN not in str(exc).lower() or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60,
                            headers={"X-Api-Key": self.env["WAHA_API_KEY"]})

    def check(self) -> None:
        if self.child is not None and not self.child.running:
            raise TopologyFailed(f"{self.child.name} exited:\n{self.child.output()}")

    def deliveries(self) -> list[DeliveryRow]:
        with contextlib.closing(sqlite3.connect(self.data_dir / "waha.sqlite3")) as conn:
            return delivery_rows(conn.execute(DELIVERIES_SQL).fetchall())

    def processes(self) -> dict[str, int]:
        process = self.child.process if self.child is not None else None
        return {"serve": process.pid} if process is not None else {}

    def stop(self) -> None:
        if self.child is not None:
            self.child.kill()

    def logs(self) -> str:
        return self.child.output() if self.child is not None else ""


class Scaled:
    """bench/topology.py: web, one engine, a worker and beat on PostgreSQL + Redis."""

    label = "scaled topology"

    def __init__(self, workdir: Path, conn_max_age: float | None) -> None:
        self.server_dir = workdir / "fake-server"
        self.topology = Topology(workdir, settings=fake_settings(self.server_dir),
                                 conn_max_age=conn_max_age)

    def start(self) -> None:
        topology = self.topology
        topology.create()
        topology.env.pop(SHORT_TIMEOUT, None)
        topology.start_worker(WORKER_THREADS)
        topology.start_beat()
        topology.start_engine()
        topology.start_web()

    def client(self) -> httpx.Client:
        return self.topology.client(timeout=60)

    def check(self) -> None:
        assert self.topology.stack is not None
        for child in self.topology.stack.children:
            if child.process is not None and child.process.poll() is not None:
                raise TopologyFailed(f"{child.name} exited:\n{child.output()}")

    def deliveries(self) -> list[DeliveryRow]:
        return delivery_rows(self.topology.query(DELIVERIES_SQL))

    def processes(self) -> dict[str, int]:
        """The roles, and the PostgreSQL backends serving the run's database (the roles' pooled
        connections: `postgres-PID`, added up as one figure)."""
        stack = self.topology.stack
        children = stack.children if stack is not None else []
        roles = {child.name: child.process.pid for child in children
                 if child.process is not None and child.process.poll() is None}
        backends = self.topology.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")
        return {**roles, **{f"{POSTGRES_BACKEND}{pid}": int(str(pid)) for (pid,) in backends}}

    def stop(self) -> None:
        self.topology.stop()

    def logs(self) -> str:
        return self.topology.logs()


# A PostgreSQL backend among the processes whose CPU is counted: `postgres-PID`.
POSTGRES_BACKEND = "postgres-"


# --- a target that never answers ------------------------------------------------------------------
class SilentTarget:
    """Accepts every connection and never reads or writes a byte; closed at the end."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = int(self.listener.getsockname()[1])
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, name="silent-target", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


# --- one run --------------------------------------------------------------------------------------
@dataclass
class Plan:
    sessions: int
    messages: int
    rate: float  # messages per second over all sessions; 0: all at once
    deadline: float
    concurrency: int

    @property
    def total(self) -> int:
        return self.sessions * self.messages


class InboxWriter(threading.Thread):
    """Hands every session's incoming texts to the fake server's inbox.

    The files are written beforehand with `FakeServer.deliver`, into a staging copy of the
    server's layout on the same file system, so what the run times is one rename each: all of a
    session's messages at once (its inbox directory renamed into place, as WhatsApp hands a
    device that reconnects its offline messages in bulk), or with `--rate`, one message at a
    time, round robin over the sessions. Written during the run, on two busy CPUs, the files
    themselves went in at 400-1,300 a second: the bench would have been the bound.
    """

    def __init__(self, server: FakeServer, names: list[str], code: str, plan: Plan) -> None:
        super().__init__(name="inbox-writer", daemon=True)
        self.server, self.names, self.plan = server, names, plan
        self.first = 0.0
        self.written: dict[str, list[float]] = defaultdict(list)  # session → write times
        self.done = threading.Event()
        self.staging = FakeServer(server.root / "bench-staging")
        for k in range(plan.total):
            name, seq = names[k % len(names)], k // len(names) + 1
            self.staging.deliver(name, seq, {
                "id": f"B{code.upper()}{k:06d}", "from": f"{1_000_000 + seq}@c.us",
                "body": f"bench message {seq} for {name}",
            })
        self.staged = {name: list(self.staging.waiting(name)) for name in names}
        if plan.rate:
            for name in names:
                server.inbox(name).mkdir(parents=True, exist_ok=True)

    def run(self) -> None:
        try:
            self.first = began = time.time()
            if not self.plan.rate:
                for name in self.names:
                    os.rename(self.staging.inbox(name), self.server.inbox(name))
                    self.written[name] = [time.time()] * len(self.staged[name])
                return
            for k in range(self.plan.total):
                time.sleep(max(0.0, began + k / self.plan.rate - time.time()))
                name = self.names[k % len(self.names)]
                staged = self.staged[name][k // len(self.names)]
                os.rename(staged, self.server.inbox(name) / staged.name)
                self.written[name].append(time.time())
        finally:
            self.done.set()

    @property
    def last(self) -> float:
        return max((times[-1] for times in self.written.values() if times), default=self.first)


def waiting(server: FakeServer, names: list[str]) -> int:
    """Messages still in the inbox: not yet kept."""
    count = 0
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            count += sum(1 for entry in os.scandir(server.inbox(name))
                         if entry.name.endswith(".json"))
    return count


@dataclass
class Outcome:
    """What one run saw; the figures are derived in `RunFigures`."""

    label: str
    plan: Plan
    hits: list[Hit]  # nginx's lines for this run's URIs
    written: dict[str, list[float]]
    first_write: float
    last_write: float
    kept_at: float | None  # inbox empty after the last write
    cut_at: float | None  # the deadline, when it cut the run
    left_in_inbox: int
    deliveries: list[DeliveryRow]
    healthy_prefix: str
    deliver: bool
    silent_accepted: int | None = None
    cpu: dict[str, float] | None = None  # CPU seconds per process over the run


def run_once(product: Product, nginx: Nginx, plan: Plan, code: str, label: str, *,
             deliver: bool, silent: SilentTarget | None = None) -> Outcome:
    """Start the product, make every session WORKING, write the inbox, watch nginx and the
    inbox until everything arrived and was kept (or the deadline), read the rows, stop."""
    names = [f"{code}-{n:03d}" for n in range(1, plan.sessions + 1)]
    prefix = f"/hook/{code}/"
    print(f"{label}: starting ...", flush=True)
    try:
        product.start()
        with product.client() as api:
            create_sessions(api, names, prefix, nginx, silent if deliver else None, deliver)
            wait_working(api, names, product)
        server = FakeServer(product.server_dir)
        offset = len(nginx.hits())
        writer = InboxWriter(server, names, code, plan)
        print(f"{label}: {plan.sessions} sessions WORKING; {plan.total} messages into the "
              f"inbox ...", flush=True)
        held_before = len(silent.held) if silent is not None else 0
        pids = {**product.processes(), "nginx": nginx.pid()}
        cpu_before = cpu_seconds(pids)
        writer.start()
        kept_at = cut_at = None
        while True:
            time.sleep(POLL_SECONDS)
            now = time.time()
            product.check()
            if kept_at is None and writer.done.is_set() and waiting(server, names) == 0:
                kept_at = now
            arrived = {hit.event_id for hit in nginx.hits()[offset:]
                       if hit.uri.startswith(prefix) and hit.status == 204}
            if kept_at is not None and (not deliver or len(arrived) >= plan.total):
                break
            if now - writer.first > plan.deadline:
                cut_at = now
                print(f"{label}: cut at the deadline ({plan.deadline:g} s): "
                      f"{len(arrived)} of {plan.total} arrived", flush=True)
                break
        writer.done.wait()
        cpu_after = cpu_seconds(pids)
        cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after
               if name in cpu_before}
        time.sleep(0.2)  # a duplicate in flight at the end still counts
        hits = [hit for hit in nginx.hits()[offset:] if hit.uri.startswith(prefix)]
        rows = product.deliveries() if deliver else []
        return Outcome(label, plan, hits, dict(writer.written), writer.first, writer.last,
                       kept_at, cut_at, waiting(server, names), rows, prefix, deliver,
                       len(silent.held) - held_before if silent is not None else None, cpu)
    except TopologyFailed as exc:
        raise SystemExit(f"{label}: {exc}\n{product.logs()[-4000:]}") from None
    finally:
        product.stop()


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU time of each process (all its threads) so far, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return seconds


def create_sessions(api: httpx.Client, names: list[str], prefix: str, nginx: Nginx,
                    silent: SilentTarget | None, deliver: bool) -> None:
    def create(index_name: tuple[int, str]) -> None:
        index, name = index_name
        hooks = []
        if deliver:
            hooks.append({"url": nginx.url(prefix + name), "events": [DELIVERED_EVENT],
                          "hmac": {"key": HMAC_KEY}})
        if silent is not None and index < SILENT_SESSIONS:
            hooks.append({"url": silent.url(f"/silent/{name}"), "events": [DELIVERED_EVENT],
                          "hmac": {"key": HMAC_KEY}})
        answer = api.post("/api/sessions", json={"name": name, "start": True,
                                                 "config": {"webhooks": hooks}})
        if answer.status_code != 201:
            raise SystemExit(f"creating {name}: {answer.status_code} {answer.text}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, enumerate(names)))


def wait_working(api: httpx.Client, names: list[str], product: Product) -> None:
    wanted = set(names)
    deadline = time.monotonic() + SETUP_TIMEOUT
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        product.check()
        statuses = {info["name"]: info["status"]
                    for info in api.get("/api/sessions", params={"all": "true"}).json()
                    if info["name"] in wanted}
        if sum(status == "WORKING" for status in statuses.values()) == len(wanted):
            return
        time.sleep(0.1)
    counts = Counter(statuses.values())
    raise SystemExit(f"the sessions were not all WORKING within {SETUP_TIMEOUT:g} s: "
                     f"{dict(counts)}")


# --- figures --------------------------------------------------------------------------------------
def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class RunFigures:
    label: str
    messages: int
    arrived: int = 0
    duplicates: int | None = 0
    kept_per_second: float | None = None
    per_second: float = 0.0
    event_ms: list[float] = field(default_factory=list)
    inbox_ms: list[float] = field(default_factory=list)
    per_connection: float | None = None
    request_bytes: float | None = None
    versus_alone: float | None = None
    cpu_per_message: float | None = None  # µs of CPU, every process of the run together
    notes: list[str] = field(default_factory=list)


def figures_of(out: Outcome) -> RunFigures:
    fig = RunFigures(out.label, out.plan.total)
    kept = out.plan.total - out.left_in_inbox
    kept_end = out.kept_at or out.cut_at
    assert kept_end is not None
    fig.kept_per_second = EVENTS_PER_MESSAGE * kept / (kept_end - out.first_write)
    handed = out.last_write - out.first_write
    pace = f" ({out.plan.total / handed:.0f}/s)" if out.plan.rate and handed else ""
    fig.notes.append(f"inbox: {out.plan.total} messages handed over in "
                     f"{handed * 1000:.0f} ms{pace}, "
                     f"{kept} kept ({EVENTS_PER_MESSAGE * kept} WAHA events) in "
                     f"{kept_end - out.first_write:.2f} s"
                     + (f", {out.left_in_inbox} still waiting" if out.left_in_inbox else ""))
    if out.cpu:
        cpu = {name: seconds for name, seconds in out.cpu.items()
               if not name.startswith(POSTGRES_BACKEND)}
        backends = [seconds for name, seconds in out.cpu.items()
                    if name.startswith(POSTGRES_BACKEND)]
        if backends:
            cpu[f"postgresql ({len(backends)} backends)"] = sum(backends)
        fig.notes.append("CPU over the run, per message kept: " + ", ".join(
            f"{name} {seconds:.2f} s ({seconds / max(kept, 1) * 1e6:.0f} µs)"
            for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])))
        fig.cpu_per_message = sum(cpu.values()) / max(kept, 1) * 1e6
    if not out.deliver:
        return fig
    ok = [hit for hit in out.hits if hit.status == 204]
    first: dict[str, Hit] = {}
    for hit in ok:
        if hit.event_id not in first or hit.at < first[hit.event_id].at:
            first[hit.event_id] = hit
    fig.arrived = len(first)
    fig.duplicates = len(ok) - len(first)
    # Over the whole window when the deadline cut the run, else up to the last first receipt.
    ended = out.cut_at or max((hit.at for hit in first.values()), default=out.first_write)
    fig.per_second = fig.arrived / max(ended - out.first_write, 1e-3)
    fig.event_ms = [hit.at * 1000 - hit.event_ms for hit in first.values()
                    if hit.event_ms is not None]
    by_session: dict[str, list[Hit]] = defaultdict(list)
    for hit in first.values():
        by_session[hit.uri.removeprefix(out.healthy_prefix)].append(hit)
    unmatched = 0
    for name, times in out.written.items():
        received = sorted(by_session.get(name, []), key=lambda h: (h.event_ms or 0, h.event_id))
        if len(received) != len(times):
            unmatched += 1
            continue
        fig.inbox_ms.extend((hit.at - at) * 1000 for hit, at in zip(received, times, strict=True))
    if unmatched:
        fig.notes.append(f"inbox → receipt left out {unmatched} session(s) whose messages did "
                         f"not all arrive")
    if ok:
        fig.per_connection = len(ok) / len({hit.connection for hit in ok})
        fig.request_bytes = statistics.median(hit.length for hit in ok)
    if len(ok) != sum(1 for hit in out.hits):
        fig.notes.append(f"nginx answered {len(out.hits) - len(ok)} request(s) with another "
                         f"status than 204")
    fig.notes.append(time_breakdown(out))
    if out.silent_accepted is not None:
        fig.notes.append(f"silent target: {out.silent_accepted} connections accepted and held")
    return fig


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def time_breakdown(out: Outcome) -> str:
    """Where a delivery's time went, from the product's own rows (first attempts)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in out.deliveries:
        target = "healthy" if out.healthy_prefix in row.url else "silent"
        counts[target][row.status] += 1
    summary = "; ".join(f"{target} " + ", ".join(f"{n} {status}" for status, n in
                                                 sorted(by_status.items()))
                        for target, by_status in sorted(counts.items()))
    healthy = [row for row in out.deliveries if out.healthy_prefix in row.url
               and row.first_started is not None]
    wait = [(row.first_started - row.event_ms / 1000) * 1000 for row in healthy
            if row.first_started is not None]
    kept = [(row.created - row.event_ms / 1000) * 1000 for row in healthy]
    picked = [(row.first_started - row.created) * 1000 for row in healthy
              if row.first_started is not None]
    send = [float(row.first_ms) for row in healthy if row.first_ms is not None]
    record = [(row.finished - row.first_started) * 1000 - (row.first_ms or 0)
              for row in healthy
              if row.finished is not None and row.first_started is not None
              and row.attempts == 1]
    return (f"rows: {summary or 'none'}; healthy first attempts: event → attempt start p50 "
            f"{ms(percentile(wait, .5))} p99 {ms(percentile(wait, .99))} ms (event → row "
            f"written p50 {ms(percentile(kept, .5))} p99 {ms(percentile(kept, .99))}, row → "
            f"attempt start p50 {ms(percentile(picked, .5))} p99 {ms(percentile(picked, .99))}), "
            f"send p50 "
            f"{ms(percentile(send, .5))} p99 {ms(percentile(send, .99))} ms, "
            f"send end → recorded p50 {ms(percentile(record, .5))} ms")


# --- the baselines --------------------------------------------------------------------------------
def baseline_requests(out: Outcome, nginx: Nginx) -> list[dict[str, Any]]:
    """The bodies the product delivered, with the headers it sends, to the same URIs but for
    the run code (same length)."""
    agent = next((hit.user_agent for hit in out.hits if hit.status == 204), "")
    jobs = []
    for row in out.deliveries:
        if out.healthy_prefix not in row.url:
            continue
        body = row.body.encode()
        headers = signing.request_headers(event_id=row.event_id, event_timestamp_ms=row.event_ms,
                                          body=body, hmac_key=HMAC_KEY, custom_headers=None,
                                          user_agent=agent)
        # What the product's HTTP client adds to them (and aiohttp would send otherwise).
        headers.update({"Accept": "*/*", "Accept-Encoding": "identity",
                        "Connection": "keep-alive"})
        jobs.append({"url": nginx.url(f"/hook/b0/{row.session}"), "body": row.body,
                     "headers": headers})
    return jobs


def run_baseline(jobs: list[dict[str, Any]], nginx: Nginx, workdir: Path,
                 concurrency: int) -> RunFigures:
    """The bodies posted in turn until BASELINE_REQUESTS (a run of a fraction of a second
    would measure the client's start more than its rate)."""
    source, out = workdir / "baseline-jobs.json", workdir / "baseline-out.json"
    requests = max(len(jobs), BASELINE_REQUESTS)
    source.write_text(json.dumps(jobs))
    offset = len(nginx.hits())
    nginx_before = cpu_seconds({"nginx": nginx.pid()})["nginx"]
    child = Child("baseline", [sys.executable, str(SCRIPT), "--role", "baseline",
                               "--jobs", str(source), "--out", str(out),
                               "--requests", str(requests), "--concurrency", str(concurrency)],
                  dict(os.environ), workdir).start()
    try:
        if child.wait(120) != 0:
            raise SystemExit(f"the baseline failed:\n{child.output()}")
    finally:
        child.kill()
    result = json.loads(out.read_text())
    time.sleep(0.1)
    nginx_cpu = cpu_seconds({"nginx": nginx.pid()})["nginx"] - nginx_before
    hits = [hit for hit in nginx.hits()[offset:] if hit.uri.startswith("/hook/b0/")]
    answered = sum(hit.status == 204 for hit in hits)
    fig = RunFigures(f"bare aiohttp, {concurrency} in flight", requests, answered, None)
    fig.per_second = answered / (max(hit.at for hit in hits) - result["began"])
    fig.inbox_ms = []
    fig.event_ms = [value * 1000 for value in result["latencies"]]
    fig.per_connection = len(hits) / len({hit.connection for hit in hits})
    fig.request_bytes = statistics.median(hit.length for hit in hits)
    fig.notes.append(f"{len(jobs)} bodies posted in turn, {requests} requests; latency "
                     f"columns: request start → answer, at the client")
    fig.cpu_per_message = (result["cpu"] + nginx_cpu) / requests * 1e6
    fig.notes.append(f"CPU per request: client {result['cpu'] / requests * 1e6:.0f} µs, "
                     f"nginx {nginx_cpu / requests * 1e6:.0f} µs")
    return fig


def baseline_child(source: Path, out: Path, requests: int, concurrency: int) -> None:
    import aiohttp

    jobs: list[dict[str, Any]] = json.loads(source.read_text())
    latencies: list[float] = []

    async def post_all() -> float:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for n in range(requests):
            queue.put_nowait(jobs[n % len(jobs)])
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, skip_auto_headers=["User-Agent"],
                                         timeout=aiohttp.ClientTimeout(total=10)) as session:
            async def sender() -> None:
                while not queue.empty():
                    job = queue.get_nowait()
                    began = time.perf_counter()
                    async with session.post(job["url"], data=job["body"].encode(),
                                            headers=job["headers"]) as answer:
                        await answer.read()
                        answer.raise_for_status()
                    latencies.append(time.perf_counter() - began)

            began = time.time()
            await asyncio.gather(*(sender() for _ in range(concurrency)))
            return began

    used = time.process_time()
    began = asyncio.run(post_all())
    out.write_text(json.dumps({"began": began, "latencies": latencies,
                               "cpu": time.process_time() - used}))


def run_wrk(job: dict[str, Any], nginx: Nginx, workdir: Path, concurrency: int) -> str | None:
    """wrk's req/s posting one of the same requests for 2 s, when wrk is installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = workdir / "post.lua"
    headers = "".join(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n"
                      for name, value in job["headers"].items())
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(job["body"])}\n{headers}')
    done = subprocess.run([wrk, "-t1", f"-c{concurrency}", "-d2s", "-s", str(script),
                           job["url"].replace("/hook/b0/", "/hook/w0/")],
                          capture_output=True, text=True, timeout=60, check=False)
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    return found.group(1) if found else f"? ({done.stdout.strip()[-200:]})"


def run_inbox_alone(plan: Plan, workdir: Path) -> RunFigures:
    """The stand-in's own cost: the same files read and deleted by a bare child, one thread."""
    server = FakeServer(workdir / "inbox-alone")
    names = [f"ia-{n:03d}" for n in range(1, plan.sessions + 1)]
    writer = InboxWriter(server, names, "ia", Plan(plan.sessions, plan.messages, 0, 0, 0))
    writer.run()
    out = workdir / "inbox-alone.json"
    child = Child("inbox-alone", [sys.executable, str(SCRIPT), "--role", "inbox",
                                  "--inbox", str(server.root), "--out", str(out)],
                  dict(os.environ), workdir).start()
    try:
        if child.wait(120) != 0:
            raise SystemExit(f"the inbox baseline failed:\n{child.output()}")
    finally:
        child.kill()
    result = json.loads(out.read_text())
    fig = RunFigures("inbox alone: read + delete, 1 thread", plan.total)
    fig.kept_per_second = EVENTS_PER_MESSAGE * result["taken"] / result["seconds"]
    fig.notes.append(f"{result['taken']} files in {result['seconds']:.2f} s")
    return fig


def inbox_child(root: Path, out: Path) -> None:
    """What the fake client does per message, minus the product: read, parse, delete."""
    server = FakeServer(root)
    names = sorted(path.name for path in server.root.joinpath("inbox").iterdir())
    began, taken = time.perf_counter(), 0
    for name in names:
        for path in server.waiting(name):
            json.loads(path.read_text())
            path.unlink()
            taken += 1
    out.write_text(json.dumps({"taken": taken, "seconds": time.perf_counter() - began}))


# --- output ---------------------------------------------------------------------------------------
def print_delivery_table(rows: list[RunFigures], baseline: RunFigures) -> None:
    header = (f"{'run':<40} {'msgs':>6} {'arrived':>7} {'dups':>4} {'kept ev/s':>9} "
              f"{'deliv/s':>8} {'ev→rcv p50':>10} {'p99':>6} {'in→rcv p50':>10} {'p99':>6} "
              f"{'req/conn':>8} {'B/req':>6} {'÷base':>7} {'÷alone':>6}")
    print(header)
    print("-" * len(header))
    for row in rows:
        kept = "-" if row.kept_per_second is None else f"{row.kept_per_second:.0f}"
        conn = "-" if row.per_connection is None else f"{row.per_connection:.1f}"
        size = "-" if row.request_bytes is None else f"{row.request_bytes:.0f}"
        alone = "-" if row.versus_alone is None else times(row.versus_alone)
        dups = "-" if row.duplicates is None else str(row.duplicates)
        print(f"{row.label:<40} {row.messages:>6} {row.arrived:>7} {dups:>4} "
              f"{kept:>9} {row.per_second:>8.1f} "
              f"{ms1(percentile(row.event_ms, .5)):>10} {ms1(percentile(row.event_ms, .99)):>6} "
              f"{ms1(percentile(row.inbox_ms, .5)):>10} {ms1(percentile(row.inbox_ms, .99)):>6} "
              f"{conn:>8} {size:>6} {times(row.per_second / baseline.per_second):>7} "
              f"{alone:>6}")


def times(ratio: float) -> str:
    """A ratio with two decimals, or three significant digits when it is below 0.1."""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3g}x"


def ms1(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def print_ingest_table(rows: list[RunFigures], baseline: RunFigures) -> None:
    header = f"{'run':<40} {'msgs':>6} {'events':>7} {'kept ev/s':>9} {'÷inbox':>7}"
    print(header)
    print("-" * len(header))
    assert baseline.kept_per_second is not None
    for row in rows:
        assert row.kept_per_second is not None
        versus = row.kept_per_second / baseline.kept_per_second
        print(f"{row.label:<40} {row.messages:>6} {EVENTS_PER_MESSAGE * row.messages:>7} "
              f"{row.kept_per_second:>9.0f} {times(versus):>7}")


def print_budget(rows: list[RunFigures], baseline: RunFigures) -> None:
    """What half the bare client's rate leaves each message, on all of this machine's CPUs
    busy, beside what each run spent (every process it ran: the product, PostgreSQL, Redis,
    nginx)."""
    cpus = os.cpu_count() or 1
    budget = cpus * 1e6 / (baseline.per_second / 2)
    print(f"\nCPU a message at half the bare client's rate ({baseline.per_second / 2:.0f}/s), "
          f"all {cpus} CPUs busy: at most {budget:.0f} µs; the bare client and nginx spend "
          f"{baseline.cpu_per_message or 0:.0f} µs a request")
    for row in rows:
        if row.cpu_per_message is not None:
            print(f"{row.label}: spent {row.cpu_per_message:.0f} µs a message, "
                  f"{row.cpu_per_message / budget:.1f}x that budget")


def print_notes(rows: list[RunFigures]) -> None:
    print()
    for row in rows:
        for note in row.notes:
            print(f"{row.label}: {note}")


def nginx_version() -> str:
    done = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True, check=False)
    return done.stderr.strip().removeprefix("nginx version: ")


# --- main -----------------------------------------------------------------------------------------
def products(args: argparse.Namespace, workdir: Path, what: str) -> list[tuple[str, Product]]:
    """(run code, a fresh product) per topology asked for."""
    made: list[tuple[str, Product]] = []
    if args.topology in ("both", "embedded"):
        made.append((f"e{what}", Embedded(workdir / f"embedded-{what}")))
    if args.topology in ("both", "scaled"):
        made.append((f"s{what}", Scaled(workdir / f"scaled-{what}", args.conn_max_age)))
    return made


def run_delivery(args: argparse.Namespace, plan: Plan, nginx: Nginx, workdir: Path) -> None:
    rows: list[RunFigures] = []
    baseline: RunFigures | None = None
    wrk: str | None = None
    alone: dict[str, float] = {}
    for code, product in products(args, workdir, "1"):
        out = run_once(product, nginx, plan, code, f"{product.label}", deliver=True)
        rows.append(figures_of(out))
        alone[product.label] = rows[-1].per_second
        if baseline is None:
            jobs = baseline_requests(out, nginx)
            print(f"baseline: {len(jobs)} bodies, {plan.concurrency} in flight ...", flush=True)
            baseline = run_baseline(jobs, nginx, workdir, plan.concurrency)
            wrk = run_wrk(jobs[0], nginx, workdir, plan.concurrency) if jobs else None
    if args.silent_target:
        silent = SilentTarget()
        try:
            for code, product in products(args, workdir, "2"):
                out = run_once(product, nginx, plan, code,
                               f"{product.label}, + silent on {SILENT_SESSIONS}",
                               deliver=True, silent=silent)
                fig = figures_of(out)
                fig.versus_alone = fig.per_second / alone[product.label]
                rows.append(fig)
        finally:
            silent.close()
    assert baseline is not None
    print()
    print(conditions() + f", nginx {nginx_version()}")
    pace = f"at {plan.rate:g} messages/s" if plan.rate else "all at once"
    print(f"fake engine, {plan.sessions} WORKING sessions x {plan.messages} incoming texts "
          f"({pace}) through WAHA_FAKE_SERVER_DIR; 1 signed webhook each on `message` → nginx "
          f"(one process, 204); workers: {WORKER_THREADS} threads on both topologies"
          f"{conn_note(args.conn_max_age)}")
    print("ev→rcv: envelope timestamp → nginx; in→rcv: inbox write → nginx (ms); ÷base: "
          "deliv/s over the bare client's req/s; ÷alone: healthy deliv/s over the run "
          "without the silent target")
    if wrk is not None:
        print(f"wrk -t1 -c{plan.concurrency}, one of the same requests for 2 s: {wrk} req/s")
    print()
    print_delivery_table([baseline, *rows], baseline)
    print_notes([baseline, *rows])
    print_budget(rows, baseline)


def run_ingest(args: argparse.Namespace, plan: Plan, nginx: Nginx, workdir: Path) -> None:
    rows = []
    for code, product in products(args, workdir, "3"):
        out = run_once(product, nginx, plan, code, f"{product.label}, no webhook",
                       deliver=False)
        rows.append(figures_of(out))
    print("inbox alone ...", flush=True)
    baseline = run_inbox_alone(plan, workdir)
    print()
    print(conditions())
    pace = f"at {plan.rate:g} messages/s" if plan.rate else "all at once"
    print(f"fake engine, {plan.sessions} WORKING sessions x {plan.messages} incoming texts "
          f"({pace}) through WAHA_FAKE_SERVER_DIR, {EVENTS_PER_MESSAGE} WAHA events each, no "
          f"webhook; kept = the inbox emptied (a message leaves it once its events are kept)"
          f"{conn_note(args.conn_max_age)}")
    print()
    print_ingest_table([baseline, *rows], baseline)
    print_notes([baseline, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50, help="WORKING sessions (50)")
    parser.add_argument("--messages", type=int, default=40,
                        help="incoming texts per session (40)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="inbox writes per second over all sessions; 0, all at once (0)")
    parser.add_argument("--topology", choices=["both", "embedded", "scaled"], default="both")
    parser.add_argument("--silent-target", action="store_true",
                        help=f"also run with a never-answering second target on "
                             f"{SILENT_SESSIONS} sessions")
    parser.add_argument("--no-delivery", action="store_true",
                        help="ingest only: no webhook, WAHA events kept per second")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="the bare client's requests in flight (16)")
    parser.add_argument("--deadline", type=float, default=120.0,
                        help="seconds after a run's first inbox write to cut it (120)")
    parser.add_argument("--conn-max-age", type=float, default=None, metavar="SECONDS",
                        help="PostgreSQL connections kept this long by the scaled roles "
                             "(conn_max_age on DATABASE_URL); default: the product's, 0")
    parser.add_argument("--role", choices=["baseline", "inbox"], help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--inbox", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "baseline":
        return baseline_child(args.jobs, args.out, args.requests, args.concurrency)
    if args.role == "inbox":
        return inbox_child(args.inbox, args.out)

    # A SIGTERM unwinds like Ctrl-C: every child is stopped and the temporary files removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = Plan(args.sessions, args.messages, args.rate, args.deadline, args.concurrency)
    workdir = Path(tempfile.mkdtemp(prefix="waha-bench-webhooks-"))
    try:
        with Nginx(workdir).start() as nginx:
            if args.no_delivery:
                run_ingest(args, plan, nginx, workdir)
            else:
                run_delivery(args, plan, nginx, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
