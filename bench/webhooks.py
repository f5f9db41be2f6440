"""Webhook deliveries per second and event-to-receipt latency, beside a bare HTTP client.

    .venv/bin/python bench/webhooks.py [--events 1000] [--concurrency 4]

One loopback receiver (tests/support/receiver.py, a ThreadingHTTPServer answering 200) runs in
this process and takes every request. Whatever sends runs in child processes, so nothing shares
the receiver's interpreter.

Events enter the way production's do: as incoming WhatsApp messages on a live session of the
engine runtime (`EngineRuntime` with the fake engine, the code `run_engines` and `serve` run).
The fake client's `receive_text` hook stands in for WhatsApp; each message gives two WAHA events
(`message`, `message.any`) on the engine's own path: client callback → the session's queue →
`services.record_event` (one transaction: delivery rows written, queued to Celery and sent to
the channel layer on commit). That hook is in-process only, so the engine is a child of this
script running that runtime rather than `manage.py run_engines` itself:

- embedded default: one child holding what `manage.py serve` runs for this, minus daphne (which
  takes no request here): Django on a fresh SQLite file, the in-memory channel layer and broker,
  the engine runtime on the child's asyncio loop, `EmbeddedWorker` and `embedded_beat()`
  (waha_project.embedded) on threads;
- scaled topology (bench/topology.py): a throw-away PostgreSQL database, our own redis-server,
  `celery -A waha_project worker --pool threads` and `celery beat` children, and the engine
  child on the same environment (no web role: no request reaches it here);
- baseline: a child posting the bodies the embedded run delivered, byte for byte, with a bare
  `httpx.AsyncClient` at the same concurrency.

Each product path runs twice: "flow", the worker consuming before the first message arrives
(what production sees), and "drain", every event recorded first and the worker started
afterwards, which measures what the workers can deliver when the engine is not the bound.

Both product paths create a session with a webhook for `message` and `message.any`, resume it
straight to WORKING (the fake engine's auth file) and feed it `--events` / 2 incoming texts at
once, with the product's default settings. publish/s = events / (last envelope timestamp -
the moment the first text was fed): what the engine records and publishes per second.
Flow: deliveries/s = distinct events received / (last receipt - first envelope timestamp), so it
spans publishing too; latency = receipt - envelope timestamp (set when the engine records the
event), so it holds the rest of that transaction, the wait in the queue and the POST. Drain:
deliveries/s over first to last receipt; no latency (it would mostly be the wait for the worker
to start). Baseline: over first request to last receipt; latency = receipt - the moment the
client began that request. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script, so the project root is not on the path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.topology import Topology, TopologyFailed, conditions, conn_note
from tests.support.receiver import Receiver, Recorded
from tests.support.stack import Child, product_environment

SCRIPT = Path(__file__).resolve()
WAIT_SECONDS = 300.0
SESSION = "bench"
CHAT = "111@c.us"
DELIVERED_EVENTS = ["message", "message.any"]  # what one incoming text publishes


@dataclass
class Figures:
    label: str
    events: int
    requests: list[Recorded]
    latencies: list[float]  # seconds; empty for a drain
    wall: float  # first publish, first request or first receipt, to last receipt
    publish_seconds: float | None = None

    @property
    def distinct(self) -> int:
        return len({r.headers["X-Webhook-Request-Id"] for r in self.requests})

    @property
    def per_second(self) -> float:
        return self.distinct / self.wall

    def percentile(self, fraction: float) -> float:
        """Nearest rank, in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000


def product_figures(label: str, events: int, requests: list[Recorded], fed_at: float,
                    drain: bool) -> Figures:
    received = [r.received_at for r in requests]
    stamps = [int(r.headers["X-Webhook-Timestamp"]) / 1000 for r in requests]
    publish_seconds = max(stamps) - fed_at
    if drain:
        return Figures(f"{label}, drain", events, requests, [],
                       max(received) - min(received), publish_seconds)
    latencies = [at - stamp for at, stamp in zip(received, stamps, strict=True)]
    return Figures(f"{label}, flow", events, requests, latencies, max(received) - min(stamps),
                   publish_seconds)


def wait_for(receiver: Receiver, path: str, events: int, children: list[Child]) -> list[Recorded]:
    """Every request to `path` once `events` distinct ids have arrived there."""
    deadline = time.monotonic() + WAIT_SECONDS
    got: list[Recorded] = []
    while time.monotonic() < deadline:
        got = [r for r in receiver.requests if r.path == path]
        if len({r.headers["X-Webhook-Request-Id"] for r in got}) >= events:
            return got
        check_children(children)
        time.sleep(0.02)
    logs = "\n".join(child.output() for child in children)
    raise SystemExit(f"only {len(got)} of {events} reached {path} in {WAIT_SECONDS:g} s\n{logs}")


def wait_for_file(path: Path, children: list[Child]) -> dict[str, float]:
    """What an engine child wrote once it had fed (flow) or recorded every event (drain)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if path.exists():
            return dict(json.loads(path.read_text()))
        check_children(children)
        time.sleep(0.02)
    logs = "\n".join(child.output() for child in children)
    raise SystemExit(f"no {path.name} within {WAIT_SECONDS:g} s\n{logs}")


def check_children(children: list[Child]) -> None:
    for child in children:
        if child.process is not None and child.process.poll() is not None:
            raise SystemExit(f"{child.name} exited with {child.process.returncode}:\n"
                             f"{child.output()}")


def engine_argv(url: str, events: int, out: Path, concurrency: int, *, embedded: bool,
                drain: bool) -> list[str]:
    return [sys.executable, str(SCRIPT), "--role", "engine", "--url", url,
            "--events", str(events), "--out", str(out), "--concurrency", str(concurrency),
            *(["--embedded"] if embedded else []), *(["--drain"] if drain else [])]


# --- the runs, from the parent ----------------------------------------------------------------
def run_embedded(receiver: Receiver, events: int, workdir: Path, concurrency: int,
                 drain: bool) -> Figures:
    mode = "drain" if drain else "flow"
    path, out = f"/embedded-{mode}", workdir / f"embedded-{mode}.json"
    env = product_environment(workdir / f"embedded-{mode}-data", None, None)
    argv = engine_argv(receiver.url(path), events, out, concurrency, embedded=True, drain=drain)
    child = Child(f"embedded-{mode}", argv, env, workdir).start()
    try:
        requests = wait_for(receiver, path, events, [child])
        fed_at = wait_for_file(out, [child])["fed_at"]
    finally:
        child.kill()
    return product_figures("embedded", events, requests, fed_at, drain)


def run_scaled(receiver: Receiver, events: int, workdir: Path, concurrency: int,
               drain: bool, conn_max_age: float | None) -> Figures:
    mode = "drain" if drain else "flow"
    path, out = f"/scaled-{mode}", workdir / f"scaled-{mode}.json"
    topology = Topology(workdir / f"scaled-{mode}", conn_max_age=conn_max_age)
    try:
        topology.create()
        topology.start_beat()
        if not drain:
            topology.start_worker(concurrency)
        argv = engine_argv(receiver.url(path), events, out, concurrency, embedded=False,
                           drain=drain)
        engine = topology.spawn("engine", argv)
        if drain:
            wait_for_file(out, [engine])
            topology.start_worker(concurrency)
        assert topology.stack is not None
        requests = wait_for(receiver, path, events, topology.stack.children)
        fed_at = wait_for_file(out, [engine])["fed_at"]
    except TopologyFailed as exc:
        raise SystemExit(f"{exc}\n{topology.logs()[-4000:]}") from None
    finally:
        topology.stop()
    return product_figures("scaled topology", events, requests, fed_at, drain)


def run_baseline(receiver: Receiver, bodies: list[Recorded], workdir: Path,
                 concurrency: int) -> Figures:
    source = workdir / "bodies.json"
    source.write_text(json.dumps([[r.headers["X-Webhook-Request-Id"], r.body.decode()]
                                  for r in bodies]))
    out = workdir / "baseline.json"
    child = Child("baseline", [sys.executable, str(SCRIPT), "--role", "baseline",
                               "--url", receiver.url("/baseline"), "--bodies", str(source),
                               "--concurrency", str(concurrency), "--out", str(out)],
                  dict(os.environ), workdir).start()
    try:
        requests = wait_for(receiver, "/baseline", len(bodies), [child])
        child.wait(60)
    finally:
        child.kill()
    began: dict[str, float] = dict(json.loads(out.read_text()))
    latencies = [r.received_at - began[r.headers["X-Webhook-Request-Id"]] for r in requests]
    wall = max(r.received_at for r in requests) - min(began.values())
    return Figures(f"bare httpx.AsyncClient, {concurrency} at once", len(bodies), requests,
                   latencies, wall)


# --- child roles ------------------------------------------------------------------------------
def engine_child(url: str, events: int, out: Path, concurrency: int, embedded: bool,
                 drain: bool) -> None:
    """The engine runtime with one live, paired session fed incoming texts; embedded, also
    migrate and the worker and sweeper threads, as `serve` has them. Runs until killed."""
    import django

    django.setup()
    if embedded:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
    asyncio.run(feed(url, events, out, concurrency, embedded, drain))


async def feed(url: str, events: int, out: Path, concurrency: int, embedded: bool,
               drain: bool) -> None:
    from channels.db import database_sync_to_async
    from django.conf import settings

    from sessions_app.engines import get_engine
    from sessions_app.engines.fake import FakeEngine
    from sessions_app.runtime import EngineRuntime

    engine = get_engine()
    assert isinstance(engine, FakeEngine)
    await database_sync_to_async(paired_session)(engine, url)
    if embedded and not drain:
        await start_embedded_worker(concurrency)
    runtime = EngineRuntime(engine, max_sessions=settings.WORKER_MAX_SESSIONS)
    await runtime.start()
    while await asyncio.to_thread(session_status) != "WORKING":
        await asyncio.sleep(0.01)
    fed_at = time.time()
    for n in range(events // 2):
        engine.receive_text(SESSION, CHAT, f"bench message {n}")
    if drain:
        # Polled on a thread of its own: the runtime's database calls share one thread.
        while await asyncio.to_thread(deliveries_written) < events:
            await asyncio.sleep(0.05)
    out.write_text(json.dumps({"fed_at": fed_at}))
    if embedded and drain:
        await start_embedded_worker(concurrency)
    await asyncio.Event().wait()


def paired_session(engine: object, url: str) -> None:
    """The session, wanted running, with the fake engine's auth file: it resumes to WORKING."""
    from sessions_app import services
    from sessions_app.engines.fake import FakeEngine

    assert isinstance(engine, FakeEngine)
    session = services.create_session(SESSION, {"webhooks": [
        {"url": url, "events": DELIVERED_EVENTS}]}, start=True)
    path = engine.auth_path(services.spec_of(session))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"me": {"id": "19990000000@c.us", "pushName": "Bench",
                                       "jid": "19990000000:7@s.whatsapp.net",
                                       "lid": "00000009991:7@lid"}}))


def session_status() -> str:
    from django.db import connection

    from sessions_app.models import Session

    try:
        return str(Session.objects.get(name=SESSION).status)
    finally:
        connection.close()


def deliveries_written() -> int:
    from django.db import connection

    from webhooks_app.models import Delivery

    try:
        return Delivery.objects.filter(session_name=SESSION).count()
    finally:
        connection.close()


async def start_embedded_worker(concurrency: int) -> None:
    """EmbeddedWorker and embedded_beat() as `serve` starts them; returns once the worker consumes
    (its consumer's ready callback, which the embedded worker leaves unused)."""
    import threading

    from waha_project.embedded import EmbeddedWorker, embedded_beat

    worker = EmbeddedWorker(concurrency)
    ready = threading.Event()
    worker.controller.consumer.init_callback = lambda consumer: ready.set()
    worker.start()
    embedded_beat().start()
    if not await asyncio.to_thread(ready.wait, 60):
        raise SystemExit("the embedded worker was not consuming within 60 s")


def baseline_child(url: str, source: Path, concurrency: int, out: Path) -> None:
    import httpx

    bodies: list[list[str]] = json.loads(source.read_text())
    began: dict[str, float] = {}

    async def post_all() -> None:
        queue: asyncio.Queue[list[str]] = asyncio.Queue()
        for item in bodies:
            queue.put_nowait(item)
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            async def sender() -> None:
                while not queue.empty():
                    request_id, body = queue.get_nowait()
                    began[request_id] = time.time()
                    answer = await client.post(url, content=body.encode(), headers={
                        "Content-Type": "application/json", "X-Webhook-Request-Id": request_id,
                    })
                    answer.raise_for_status()

            await asyncio.gather(*(sender() for _ in range(concurrency)))

    asyncio.run(post_all())
    out.write_text(json.dumps(began))


# --- output -----------------------------------------------------------------------------------
def print_table(rows: list[Figures], baseline: Figures) -> None:
    header = (f"{'path':<34} {'events':>6} {'arrived':>7} {'dups':>4} {'publish/s':>9} "
              f"{'deliv/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'rate/base':>9} {'p50/base':>8}")
    print(header)
    print("-" * len(header))
    for row in rows:
        published = (f"{row.events / row.publish_seconds:9.0f}" if row.publish_seconds
                     else f"{'-':>9}")
        latency, versus = f"{'-':>8} {'-':>8}", f"{'-':>8}"
        if row.latencies:
            p50 = row.percentile(0.50)
            latency = f"{p50:>8.1f} {row.percentile(0.99):>8.1f}"
            versus = f"{p50 / baseline.percentile(0.50):>7.1f}x"
        print(f"{row.label:<34} {row.events:>6} {row.distinct:>7} "
              f"{len(row.requests) - row.distinct:>4} {published} {row.per_second:>8.0f} "
              f"{latency} {row.per_second / baseline.per_second:>8.2f}x {versus}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000,
                        help="events published per path, rounded up to an even number: each "
                             "incoming text is two (default 1000)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="worker threads and baseline client concurrency (default 4)")
    parser.add_argument("--conn-max-age", type=float, default=None, metavar="SECONDS",
                        help="PostgreSQL connections kept this long by the scaled roles "
                             "(conn_max_age on DATABASE_URL); default: the product's, 0")
    parser.add_argument("--role", choices=["engine", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bodies", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--embedded", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--drain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "engine":
        return engine_child(args.url, args.events, args.out, args.concurrency, args.embedded,
                            args.drain)
    if args.role == "baseline":
        return baseline_child(args.url, args.bodies, args.concurrency, args.out)

    events = 2 * math.ceil(args.events / 2)
    workdir = Path(tempfile.mkdtemp(prefix="waha-bench-webhooks-"))
    try:
        with Receiver() as receiver:
            rows = []
            for drain in (False, True):
                mode = "drain" if drain else "flow"
                print(f"embedded, {mode}: {events} events ...", flush=True)
                rows.append(run_embedded(receiver, events, workdir, args.concurrency, drain))
                print(f"scaled topology, {mode}: {events} events ...", flush=True)
                rows.append(run_scaled(receiver, events, workdir, args.concurrency, drain,
                                      args.conn_max_age))
            print("baseline: posting the same bodies ...\n", flush=True)
            firsts = {r.headers["X-Webhook-Request-Id"]: r for r in rows[0].requests}
            baseline = run_baseline(receiver, list(firsts.values()), workdir, args.concurrency)
        print(conditions())
        print(f"events: incoming texts on one WORKING fake session, 2 events each; receiver: "
              f"ThreadingHTTPServer on 127.0.0.1, one connection per request; "
              f"{args.concurrency} sending at once on every path"
              f"{conn_note(args.conn_max_age)}\n")
        print_table([baseline, *rows], baseline)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
