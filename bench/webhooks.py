"""Webhook deliveries per second and publish-to-receipt latency, beside a bare HTTP client.

    .venv/bin/python bench/webhooks.py [--events 1000] [--concurrency 4]

One loopback receiver (tests/webhooks/receiver.py, a ThreadingHTTPServer answering 200) runs in
this process and takes every request. Whatever sends runs in child processes, so nothing shares
the receiver's interpreter:

- embedded default: one child holding what `manage.py serve` runs for webhooks: Django on a fresh
  SQLite file, kombu's in-memory transport, `EmbeddedWorker` (4 threads) and `EmbeddedBeat` from
  waha_project.embedded. There is no API to publish arbitrary events, so `serve` itself cannot be
  driven; the child publishes in its own process instead, as the engine does inside `serve`.
- PostgreSQL + Redis: a throw-away database on 127.0.0.1:5432, our own redis-server, a
  `celery worker --pool threads --concurrency 4` child and `celery beat`; a publishing child.
- baseline: a child posting the bodies the embedded run delivered, byte for byte, with a bare
  `httpx.AsyncClient` at the same concurrency.

Each product path runs twice: "flow", the worker running while events are published (what
production sees), and "drain", every event published first and the worker started afterwards,
which measures what the workers can deliver when the publisher is not the bound.

Both product paths create a session with a webhook for "*" and publish `--events` message.any
events, one transaction each (tests.webhooks_noloss.publish), with the product's default settings.
Flow: deliveries/s = distinct events received / (last receipt - first envelope timestamp), so it
spans publishing too; latency = receipt - envelope timestamp (set when the event is published),
so it holds the publish transaction, the wait in the queue and the POST. Drain: deliveries/s over
first to last receipt; no latency (it would mostly be the wait for the worker to start).
Baseline: over first request to last receipt; latency = receipt - the moment the client began
that request. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script, so the project root is not on the path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.webhooks.receiver import Receiver, Recorded
from tests.webhooks_noloss import (
    Child,
    Stack,
    ThrowawayDatabase,
    product_environment,
    publish,
)

SCRIPT = Path(__file__).resolve()
WAIT_SECONDS = 300.0


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


def product_figures(label: str, events: int, requests: list[Recorded],
                    publish_seconds: float, drain: bool) -> Figures:
    received = [r.received_at for r in requests]
    if drain:
        return Figures(f"{label}, drain", events, requests, [],
                       max(received) - min(received), publish_seconds)
    stamps = [int(r.headers["X-Webhook-Timestamp"]) / 1000 for r in requests]
    latencies = [at - stamp for at, stamp in zip(received, stamps, strict=True)]
    return Figures(f"{label}, flow", events, requests, latencies, max(received) - min(stamps),
                   publish_seconds)


def wait_for(receiver: Receiver, path: str, events: int, children: list[Child]) -> list[Recorded]:
    """Every request to `path` once `events` distinct ids have arrived there."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        got = [r for r in receiver.requests if r.path == path]
        if len({r.headers["X-Webhook-Request-Id"] for r in got}) >= events:
            return got
        for child in children:
            if child.process is not None and child.process.poll() not in (None, 0):
                raise SystemExit(f"{child.name} exited with {child.process.returncode}:\n"
                                 f"{child.output()}")
        time.sleep(0.02)
    logs = "\n".join(child.output() for child in children)
    raise SystemExit(f"only {len(got)} of {events} reached {path} in {WAIT_SECONDS:g} s\n{logs}")


def read_json(path: Path) -> dict[str, object]:
    return dict(json.loads(path.read_text()))


# --- the three runs, from the parent ----------------------------------------------------------
def run_embedded(receiver: Receiver, events: int, workdir: Path, drain: bool) -> Figures:
    mode = "drain" if drain else "flow"
    path, out = f"/embedded-{mode}", workdir / f"embedded-{mode}.json"
    env = product_environment(workdir / f"embedded-{mode}-data", None, None)
    child = Child(f"embedded-{mode}", [
        sys.executable, str(SCRIPT), "--role", "embedded", "--url", receiver.url(path),
        "--events", str(events), "--out", str(out), *(["--drain"] if drain else []),
    ], env, workdir).start()
    try:
        requests = wait_for(receiver, path, events, [child])
        child.wait(60)
    finally:
        child.kill()
    publish_seconds = float(read_json(out)["seconds"])  # type: ignore[arg-type]
    return product_figures("embedded", events, requests, publish_seconds, drain)


def run_postgres_redis(receiver: Receiver, events: int, workdir: Path, concurrency: int,
                       drain: bool) -> Figures:
    mode = "drain" if drain else "flow"
    path = f"/pg-redis-{mode}"
    database = ThrowawayDatabase("waha_bench").create()
    stack = Stack(workdir / f"pg-redis-{mode}", database.url)
    try:
        database.migrate(stack.env)
        stack.start_redis()
        stack.start_beat()
        if not drain:
            stack.start_worker(concurrency)
        publisher = stack.start_publisher("bench", receiver.url(path), events)
        if drain:
            publisher.result(WAIT_SECONDS)
            stack.start_worker(concurrency)
        requests = wait_for(receiver, path, events, stack.children)
        publish_seconds = float(publisher.result()["seconds"])  # type: ignore[arg-type]
    finally:
        stack.stop()
        database.drop()
    return product_figures("PostgreSQL + Redis", events, requests, publish_seconds, drain)


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
    began: dict[str, float] = read_json(out)  # type: ignore[assignment]
    latencies = [r.received_at - began[r.headers["X-Webhook-Request-Id"]] for r in requests]
    wall = max(r.received_at for r in requests) - min(began.values())
    return Figures(f"bare httpx.AsyncClient, {concurrency} at once", len(bodies), requests,
                   latencies, wall)


# --- child roles ------------------------------------------------------------------------------
def embedded_child(url: str, events: int, out: Path, drain: bool) -> None:
    """The webhook half of `serve`: migrate, worker and sweeper threads, and publish (first,
    for a drain)."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from waha_project.embedded import EmbeddedBeat, EmbeddedWorker
    from webhooks_app.models import Delivery, DeliveryStatus

    call_command("migrate", interactive=False, verbosity=0)
    worker = EmbeddedWorker()
    beat = EmbeddedBeat(settings.WEBHOOK_SWEEP_SECONDS)
    if drain:
        _, seconds = publish("bench", url, events)
    worker.start()
    beat.start()
    try:
        if not drain:
            _, seconds = publish("bench", url, events)
        out.write_text(json.dumps({"seconds": seconds}))
        deadline = time.monotonic() + WAIT_SECONDS
        while (Delivery.objects.filter(status=DeliveryStatus.PENDING).exists()
               and time.monotonic() < deadline):
            time.sleep(0.05)
    finally:
        beat.stop()
        worker.stop()


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


def versions() -> str:
    def first_line(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "?"
        return done.stdout.strip().splitlines()[0] if done.stdout.strip() else "?"

    pg = first_line(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"])
    redis = first_line(["redis-server", "--version"]).split(" ")[2].removeprefix("v=")
    return (f"python {platform.python_version()}, {os.cpu_count()} CPUs, PostgreSQL {pg}, "
            f"Redis {redis}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000,
                        help="events published per path (default 1000)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="worker threads and baseline client concurrency (default 4)")
    parser.add_argument("--role", choices=["embedded", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bodies", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--drain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "embedded":
        return embedded_child(args.url, args.events, args.out, args.drain)
    if args.role == "baseline":
        return baseline_child(args.url, args.bodies, args.concurrency, args.out)

    workdir = Path(tempfile.mkdtemp(prefix="waha-bench-webhooks-"))
    try:
        with Receiver() as receiver:
            rows = []
            for drain in (False, True):
                mode = "drain" if drain else "flow"
                print(f"embedded, {mode}: {args.events} events ...", flush=True)
                rows.append(run_embedded(receiver, args.events, workdir, drain))
                print(f"PostgreSQL + Redis, {mode}: {args.events} events ...", flush=True)
                rows.append(run_postgres_redis(receiver, args.events, workdir,
                                               args.concurrency, drain))
            print("baseline: posting the same bodies ...\n", flush=True)
            firsts = {r.headers["X-Webhook-Request-Id"]: r for r in rows[0].requests}
            baseline = run_baseline(receiver, list(firsts.values()), workdir, args.concurrency)
        print(versions())
        print(f"receiver: ThreadingHTTPServer on 127.0.0.1, one connection per request; "
              f"{args.concurrency} sending at once on every path\n")
        print_table([baseline, *rows], baseline)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
