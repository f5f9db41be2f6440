"""The delivery worker draining a backlog of webhook deliveries, its memory sampled, beside a
bare client.

    .venv/bin/python bench/backlog.py [--deliveries 100000] [--concurrency 4] [--targets 1]
        [--baseline-concurrency 16] [--deadline 600] [--no-beat] [--conn-max-age S]

On the scaled topology's services (bench/topology.py: a throw-away PostgreSQL database and our
own redis-server) and one real nginx (bench/nginx.py), with the product's defaults:

- a target is one of nginx's loopback ports (`--targets` of them, one nginx process): an origin
  `http://127.0.0.1:PORT`, which is what the product keys a connection pool, a cap of sends in
  flight (`WAHA_WEBHOOK_MAX_PER_TARGET`, per worker process) and a circuit breaker on. The
  deliveries go round robin over them, to `/hook/t<k>/<session>`;
- the worker is `celery worker --pool threads --concurrency C`, started first and left idle;
- a seeding child (Django set up on the topology's environment) writes `--deliveries` pending
  rows with bulk inserts of SEED_BATCH, as a global webhook's deliveries of `message` events:
  each body an envelope built by the product's `build_envelope` for a fake incoming text (about
  690 bytes), serialised as `enqueue_many` does, with an HMAC key (so every attempt is signed);
- the baseline: the bare aiohttp client of bench/webhooks.py (`--role baseline`) posting
  BASELINE_REQUESTS of the same bodies, with the headers the product sends, to the same ports,
  `--baseline-concurrency` in flight, once before the drain and once after;
- then a queueing child stamps the rows `enqueued_at` and queues them as the product does once
  a transaction commits (`webhooks_app.services.queue`: one `deliver` task per 100 ids), the
  backlog a worker finds in the broker after an outage; once it is done, `celery beat` starts
  (unless `--no-beat`), as it runs beside every scaled worker: its sweeper queues again what is
  still pending 30 s after it was queued (`WAHA_WEBHOOK_REQUEUE_SECONDS`), 5,000 a sweep;
- every 0.5 s from the queueing: the worker's VmRSS, VmHWM and threads (/proc/<pid>/status),
  its CPU (utime + stime), the deliveries arrived at nginx (distinct X-Webhook-Request-Id
  answered 204), the task messages waiting in Redis, and every 2 s the rows no longer pending
  (every 0.5 s once all arrived), until
  every delivery arrived and none is pending (or `--deadline` seconds); then 5 s more once the
  broker's queue is empty, for the memory after the drain.

Figures only: nothing here passes or fails. Every child dies with the bench (PR_SET_PDEATHSIG)
and the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis

# Run as a script, so the project root is not on the path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.nginx import Hit, Nginx
from bench.topology import Topology, TopologyFailed, conditions, conn_note
from bench.webhooks import (
    HMAC_KEY,
    SHORT_TIMEOUT,
    RunFigures,
    cpu_seconds,
    nginx_version,
    run_baseline,
    times,
)
from tests.support.stack import Child
from webhooks_app import signing

SCRIPT = Path(__file__).resolve()
SESSIONS = 50  # session names the envelopes come from, round robin
SEED_BATCH = 5000
BASELINE_REQUESTS = 10_000
SAMPLE_EVERY = 0.5
# The rows still pending are counted every COUNT_EVERY samples until every delivery has arrived
# (a count over a large backlog costs PostgreSQL 0.1 s of CPU), then at every sample.
COUNT_EVERY = 4
IDLE_SECONDS = 3.0  # sampled before the queueing: the worker idle after boot
SETTLE_SECONDS = 5.0  # sampled after the drain, once the broker's queue is empty
SETUP_TIMEOUT = 1800.0
CELERY_QUEUE = "celery"
DEFAULT_CAP = 64  # WAHA_WEBHOOK_MAX_PER_TARGET's default
CHECKPOINTS = (0.1, 0.5, 0.9, 1.0)


def target_prefix(index: int) -> str:
    return f"/hook/t{index}/"


# --- the children, with Django set up on the topology's environment ------------------------------
def incoming(k: int, me: dict[str, str]) -> dict[str, Any]:
    """A fake incoming text, shaped as the fake engine's (`FakeEngine._incoming`)."""
    chat = f"{10_000_000_000 + k % 997}@c.us"
    return {
        "id": f"false_{chat}_BL{k:08X}", "timestamp": int(time.time()), "from": chat,
        "fromMe": False, "source": "app", "to": me["id"], "participant": None,
        "body": f"Backlog message {k}: see you at 6?",
        "hasMedia": False, "media": None, "ack": 2, "ackName": "DEVICE", "replyTo": None,
        "_data": {},
    }


def seed_child(count: int, urls: list[str], out: Path) -> None:
    """Pending deliveries of a global webhook, bulk-inserted; nothing queued."""
    import django

    django.setup()
    from django.utils import timezone

    from sessions_app.events import build_envelope
    from sessions_app.models import Session
    from webhooks_app.models import (
        DEFAULT_RETRY_ATTEMPTS,
        DEFAULT_RETRY_DELAY_SECONDS,
        Delivery,
        RetryPolicy,
    )
    from webhooks_app.services import user_agent

    sessions = []
    for n in range(SESSIONS):
        digits = f"1{n:010d}"
        sessions.append(Session(name=f"backlog-{n:03d}", config={}, me={
            "id": f"{digits}@c.us", "pushName": "Backlog", "jid": f"{digits}:7@s.whatsapp.net",
            "lid": f"{digits[::-1]}:7@lid"}))
    began = time.perf_counter()
    sizes: list[int] = []
    for start in range(0, count, SEED_BATCH):
        now = timezone.now()
        rows = []
        for k in range(start, min(count, start + SEED_BATCH)):
            session = sessions[k % SESSIONS]
            assert session.me is not None
            envelope = build_envelope(session, "message", incoming(k, session.me))
            body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
            sizes.append(len(body.encode()))
            rows.append(Delivery(
                is_global=True, session_name=session.name, event="message",
                event_id=envelope["id"], event_timestamp=envelope["timestamp"], body=body,
                url=urls[k % len(urls)] + session.name, hmac_key=HMAC_KEY, custom_headers=[],
                retry_policy=RetryPolicy.CONSTANT,
                retry_delay_seconds=DEFAULT_RETRY_DELAY_SECONDS,
                retry_attempts=DEFAULT_RETRY_ATTEMPTS, next_attempt_at=now, enqueued_at=None))
        Delivery.objects.bulk_create(rows)
    out.write_text(json.dumps({"seconds": time.perf_counter() - began,
                               "body_bytes": statistics.median(sizes),
                               "user_agent": user_agent()}))


def queue_child(out: Path) -> None:
    """Every pending row stamped and queued, as `enqueue_many` does once its transaction
    commits."""
    import django

    django.setup()
    from django.utils import timezone

    from webhooks_app.models import Delivery, DeliveryStatus
    from webhooks_app.services import DELIVERY_BATCH, queue

    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING)
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    began = time.perf_counter()
    pending.update(enqueued_at=timezone.now())
    queue(ids)
    out.write_text(json.dumps({"queued": len(ids), "tasks": -(-len(ids) // DELIVERY_BATCH),
                               "seconds": time.perf_counter() - began}))


# --- what is sampled ------------------------------------------------------------------------------
@dataclass
class Sample:
    at: float  # seconds since the queueing
    arrived: int  # distinct deliveries answered 204 by nginx
    recorded: int  # rows no longer pending
    rss: int  # KiB
    hwm: int  # KiB
    threads: int
    cpu: float  # the worker's CPU seconds since the queueing
    tasks: int  # task messages waiting in Redis (not those the worker holds)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (KiB) and Threads, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            values[key] = int(value.split()[0])
    return values


class Watch:
    """Reads the worker, nginx, the database and the broker; one `Sample` per call."""

    def __init__(self, topology: Topology, nginx: Nginx, worker: Child, total: int) -> None:
        assert worker.process is not None
        self.nginx, self.worker, self.total = nginx, worker, total
        self.pid = worker.process.pid
        self.db = psycopg.connect(topology.database.url, autocommit=True)
        self.broker = redis.Redis.from_url(topology.redis_url)
        self.offset = self.first = len(nginx.hits())
        self.seen: set[str] = set()
        self.began = time.time()
        self.cpu_began = 0.0
        self.samples = 0
        self.recorded = 0

    def start(self) -> None:
        self.began = time.time()
        self.cpu_began = cpu_seconds({"worker": self.pid})["worker"]

    def hits(self) -> list[Hit]:
        """Every request to a target since the watch was made."""
        return [hit for hit in self.nginx.hits()[self.first:] if hit.uri.startswith("/hook/t")]

    def sample(self) -> Sample:
        if not self.worker.running:
            raise TopologyFailed(f"{self.worker.name} exited:\n{self.worker.output()}")
        hits = self.nginx.hits()
        for hit in hits[self.offset:]:
            if hit.status == 204 and hit.uri.startswith("/hook/t"):
                self.seen.add(hit.event_id)
        self.offset = len(hits)
        status = proc_status(self.pid)
        if self.samples % COUNT_EVERY == 0 or len(self.seen) >= self.total:
            pending = self.db.execute("SELECT count(*) FROM webhooks_app_delivery "
                                      "WHERE status = 'pending'").fetchone()
            assert pending is not None
            self.recorded = self.total - int(pending[0])
        self.samples += 1
        return Sample(time.time() - self.began, len(self.seen), self.recorded,
                      status["VmRSS"], status["VmHWM"], status["Threads"],
                      cpu_seconds({"worker": self.pid})["worker"] - self.cpu_began,
                      int(self.broker.llen(CELERY_QUEUE)))

    def close(self) -> None:
        self.db.close()
        self.broker.close()


# --- one run --------------------------------------------------------------------------------------
@dataclass
class Baseline:
    figures: RunFigures
    client_cpu: float  # seconds, the bare client's child
    nginx_cpu: float


def baseline_jobs(topology: Topology, agent: str) -> list[dict[str, Any]]:
    """BASELINE_REQUESTS of the seeded deliveries, with the headers the product sends, to the
    same ports under /hook/b0/ (what `run_baseline` counts)."""
    rows = topology.query("SELECT url, event_id, event_timestamp, body FROM "
                          "webhooks_app_delivery ORDER BY id LIMIT %s", BASELINE_REQUESTS)
    jobs = []
    for url, event_id, event_ms, body in rows:
        assert isinstance(url, str) and isinstance(body, str)
        headers = signing.request_headers(event_id=str(event_id),
                                          event_timestamp_ms=int(str(event_ms)),
                                          body=body.encode(), hmac_key=HMAC_KEY,
                                          custom_headers=None, user_agent=agent)
        # What the product's HTTP client adds to them (and aiohttp would send otherwise).
        headers.update({"Accept": "*/*", "Accept-Encoding": "identity",
                        "Connection": "keep-alive"})
        jobs.append({"url": re.sub(r"/hook/t\d+/", "/hook/b0/", url), "body": body,
                     "headers": headers})
    return jobs


def measure_baseline(jobs: list[dict[str, Any]], nginx: Nginx, workdir: Path,
                     concurrency: int) -> Baseline:
    """`run_baseline`, with the CPU of its child (reaped within) and of nginx."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    nginx_before = cpu_seconds({"nginx": nginx.pid()})["nginx"]
    figures = run_baseline(jobs, nginx, workdir, concurrency)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    nginx_cpu = cpu_seconds({"nginx": nginx.pid()})["nginx"] - nginx_before
    client = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Baseline(figures, client, nginx_cpu)


def run_child(topology: Topology, name: str, argv: list[str], timeout: float) -> dict[str, Any]:
    out = topology.workdir / f"{name}.json"
    child = topology.spawn(name, [sys.executable, str(SCRIPT), *argv, "--out", str(out)])
    if child.wait(timeout) != 0:
        raise TopologyFailed(f"{name} failed:\n{child.output()}")
    return dict(json.loads(out.read_text()))


@dataclass
class Run:
    args: argparse.Namespace
    seeded: dict[str, Any]
    queued: dict[str, Any]
    idle: Sample
    samples: list[Sample]
    drained: Sample | None  # every delivery arrived and none pending; None if cut
    after: Sample | None  # SETTLE_SECONDS after the drain, the broker's queue empty
    hits: list[Hit]
    began: float  # epoch of the queueing
    nginx_cpu: float
    statuses: dict[str, int]
    attempt_rows: int
    retried: int
    errors: list[str]
    before: Baseline
    later: Baseline
    worker_pid: int
    cap: str


def run(args: argparse.Namespace, nginx: Nginx, topology: Topology, workdir: Path) -> Run:
    total = args.deliveries
    print("database, redis-server and worker ...", flush=True)
    topology.create()
    topology.env.pop(SHORT_TIMEOUT, None)  # the product's default send timeout
    worker = topology.start_worker(args.concurrency)

    urls = [nginx.url(target_prefix(k), k) for k in range(args.targets)]
    print(f"seeding {total} pending deliveries ...", flush=True)
    seeded = run_child(topology, "seed", ["--role", "seed", "--deliveries", str(total),
                                          "--urls", json.dumps(urls)], SETUP_TIMEOUT)
    jobs = baseline_jobs(topology, seeded["user_agent"])
    print(f"baseline: {len(jobs)} bodies, {args.baseline_concurrency} in flight ...",
          flush=True)
    before = measure_baseline(jobs, nginx, workdir, args.baseline_concurrency)

    watch = Watch(topology, nginx, worker, total)
    try:
        for _ in range(int(IDLE_SECONDS / SAMPLE_EVERY)):
            time.sleep(SAMPLE_EVERY)
            idle = watch.sample()
        print(f"queueing {total} deliveries; worker RSS idle {idle.rss / 1024:.1f} MiB ...",
              flush=True)
        watch.start()
        nginx_began = cpu_seconds({"nginx": nginx.pid()})["nginx"]
        out = topology.workdir / "queue.json"
        queuer = topology.spawn("queue", [sys.executable, str(SCRIPT), "--role", "queue",
                                          "--out", str(out)])
        samples: list[Sample] = []
        drained: Sample | None = None
        beat = args.no_beat
        next_print = 10.0
        while True:
            time.sleep(max(0.0, watch.began + SAMPLE_EVERY * (len(samples) + 1) - time.time()))
            sample = watch.sample()
            samples.append(sample)
            if not beat and queuer.process is not None and queuer.process.poll() is not None:
                if queuer.process.returncode != 0:
                    raise TopologyFailed(f"queue failed:\n{queuer.output()}")
                topology.start_beat()
                beat = True
            if sample.at >= next_print:
                print(f"  {sample.at:5.0f} s: {sample.arrived} arrived, {sample.recorded} "
                      f"recorded, RSS {sample.rss / 1024:.1f} MiB", flush=True)
                next_print += 10.0
            if sample.arrived >= total and sample.recorded >= total:
                drained = sample
                break
            if sample.at > args.deadline:
                print(f"cut at the deadline ({args.deadline:g} s)", flush=True)
                break
        nginx_cpu = cpu_seconds({"nginx": nginx.pid()})["nginx"] - nginx_began
        after: Sample | None = None
        if drained is not None:
            settle_from: float | None = None
            while True:
                time.sleep(SAMPLE_EVERY)
                sample = watch.sample()
                samples.append(sample)
                if sample.tasks == 0 and settle_from is None:
                    settle_from = sample.at
                if settle_from is not None and sample.at - settle_from >= SETTLE_SECONDS:
                    after = sample
                    break
                if sample.at > args.deadline + SETTLE_SECONDS:
                    break
        queued = json.loads(out.read_text()) if out.exists() else {}
        time.sleep(0.2)  # a duplicate in flight at the end still counts
        watch.sample()
        hits = watch.hits()
    finally:
        watch.close()

    statuses = {str(status): int(str(n)) for status, n in topology.query(
        "SELECT status, count(*) FROM webhooks_app_delivery GROUP BY status")}
    [(attempt_rows,)] = topology.query("SELECT count(*) FROM webhooks_app_deliveryattempt")
    [(retried,)] = topology.query("SELECT count(*) FROM webhooks_app_delivery "
                                  "WHERE attempts > 1")
    errors = [f"{n}: {error}" for error, n in topology.query(
        "SELECT last_error, count(*) FROM webhooks_app_delivery WHERE last_error <> '' "
        "GROUP BY last_error ORDER BY count(*) DESC LIMIT 3")]
    print(f"baseline again: {len(jobs)} bodies, {args.baseline_concurrency} in flight ...",
          flush=True)
    later = measure_baseline(jobs, nginx, workdir, args.baseline_concurrency)
    return Run(args, seeded, queued, idle, samples, drained, after, hits, watch.began,
               nginx_cpu, statuses, int(str(attempt_rows)), int(str(retried)), errors,
               before, later, watch.pid,
               topology.env.get("WAHA_WEBHOOK_MAX_PER_TARGET", str(DEFAULT_CAP)))


# --- output ---------------------------------------------------------------------------------------
def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def print_run(r: Run) -> None:
    args, total = r.args, r.args.deliveries
    ok = [hit for hit in r.hits if hit.status == 204]
    first: dict[str, float] = {}
    for hit in ok:
        first[hit.event_id] = min(hit.at, first.get(hit.event_id, hit.at))
    arrivals = sorted(first.values())
    duplicates = len(ok) - len(first)

    print()
    print(conditions() + f", nginx {nginx_version()}")
    print(f"backlog: {total} pending deliveries of a global webhook on `message` (median body "
          f"{r.seeded['body_bytes']:.0f} B, HMAC-signed), round robin over {args.targets} "
          f"target(s): one nginx (204), one loopback port per target, so each its own origin "
          f"(pool, breaker, cap of {r.cap} in flight per worker process)")
    sweeper = "no beat" if args.no_beat else "then beat's sweeper started"
    print(f"worker: celery worker --pool threads --concurrency {args.concurrency} (pid "
          f"{r.worker_pid}), the product's defaults; seeded with bulk inserts in "
          f"{r.seeded['seconds']:.1f} s while it was idle; queued with services.queue "
          f"({r.queued.get('tasks', '?')} tasks of 100 ids, {r.queued.get('seconds', 0):.1f} s), "
          f"{sweeper}{conn_note(args.conn_max_age)}")
    print(f"sampled every {SAMPLE_EVERY:g} s from the queueing: VmRSS, VmHWM, threads "
          f"(/proc/<pid>/status), CPU = utime + stime since the queueing; arrived = distinct "
          f"X-Webhook-Request-Id answered 204; recorded = rows no longer pending (counted "
          f"every {COUNT_EVERY * SAMPLE_EVERY:g} s until all arrived); tasks = messages waiting "
          f"in Redis")
    print()

    rows: list[tuple[str, Sample]] = [("idle after boot", r.idle)]
    for fraction in CHECKPOINTS:
        hit = next((s for s in r.samples if s.arrived >= fraction * total), None)
        if hit is not None:
            rows.append((f"{fraction:.0%} arrived", hit))
    if r.drained is not None:
        rows.append(("all recorded", r.drained))
    if r.after is not None:
        rows.append((f"after the drain (+{SETTLE_SECONDS:g} s idle)", r.after))
    peak = max(r.samples, key=lambda s: s.rss)
    rows.append(("peak (largest sample)", peak))
    header = (f"{'point':<30} {'t s':>6} {'arrived':>8} {'recorded':>8} {'tasks':>5} "
              f"{'RSS MiB':>8} {'ΔRSS MiB':>8} {'HWM MiB':>8} {'threads':>7} {'CPU s':>6} "
              f"{'deliv/s':>8}")
    print(header)
    print("-" * len(header))
    since_at, since_arrived = 0.0, 0  # the queueing
    for label, s in rows:
        idle, peaked = s is r.idle, label.startswith("peak")
        rate = "-"
        if not idle and not peaked and s.at > since_at:
            rate = f"{(s.arrived - since_arrived) / (s.at - since_at):.0f}"
            since_at, since_arrived = s.at, s.arrived
        print(f"{label:<30} {'-' if idle else f'{s.at:.1f}':>6} {s.arrived:>8} {s.recorded:>8} "
              f"{s.tasks:>5} {mib(s.rss):>8} {(s.rss - r.idle.rss) / 1024:>+8.1f} "
              f"{mib(s.hwm):>8} {s.threads:>7} {0.0 if idle else s.cpu:>6.1f} {rate:>8}")
    print()

    delivered = len(first)
    end = (arrivals[-1] - r.began) if arrivals else 0.0
    rate = delivered / end if end else 0.0
    steady = ""
    if len(arrivals) >= 10:
        lo, hi = arrivals[len(arrivals) // 10], arrivals[len(arrivals) * 9 // 10 - 1]
        if hi > lo:
            of = "" if len(arrivals) == total else " of those"
            steady = f"; 10% → 90%{of}: {(len(arrivals) * 8 // 10) / (hi - lo):.0f}/s"
    recorded_at = f"; all recorded {r.drained.at:.1f} s" if r.drained is not None else ""
    print(f"drain: {delivered} of {total} arrived {end:.1f} s after the queueing "
          f"({rate:.0f} deliveries/s{steady}); first after "
          f"{(arrivals[0] - r.began) if arrivals else 0:.2f} s{recorded_at}")
    end_sample = r.drained or r.samples[-1]
    growths = []
    for fraction in (0.1, 0.5):
        at = next((s for s in r.samples if s.arrived >= fraction * total), None)
        if at is not None and end_sample.arrived > at.arrived:
            growth = end_sample.rss - at.rss
            per_1000 = growth / ((end_sample.arrived - at.arrived) / 1000)
            growths.append(f"{fraction:.0%} → end {growth / 1024:+.1f} MiB ({per_1000:+.1f} KiB "
                           f"per 1,000 deliveries)")
    end_label = "at the end of the drain" if r.drained is not None else "at the cut"
    print(f"worker memory: {mib(r.idle.rss)} MiB idle, {mib(end_sample.rss)} MiB {end_label}; "
          f"{'; '.join(growths) or '-'}; largest sample {mib(peak.rss)} MiB, VmHWM "
          f"{mib(r.samples[-1].hwm)} MiB")
    cpu = end_sample.cpu
    connections = len({hit.connection for hit in ok})
    print(f"CPU per delivery: worker {cpu / max(delivered, 1) * 1e6:.0f} µs ({cpu:.1f} s), "
          f"nginx {r.nginx_cpu / max(delivered, 1) * 1e6:.0f} µs; "
          f"{connections} connections to nginx, {len(ok) / max(connections, 1):.0f} requests "
          f"each")
    for label, base in (("before", r.before), ("after", r.later)):
        fig = base.figures
        print(f"bare aiohttp {label}, {args.baseline_concurrency} in flight, "
              f"{fig.messages} requests of the same bodies: {fig.per_second:.0f} req/s "
              f"(client {base.client_cpu / fig.messages * 1e6:.0f} µs, nginx "
              f"{base.nginx_cpu / fig.messages * 1e6:.0f} µs per request); the worker's drain "
              f"{times(rate / fig.per_second)} of it")
    per_target = Counter(hit.uri.split("/")[2] for hit in ok)
    spread = ("; per target " + ", ".join(f"{k} {n}" for k, n in sorted(per_target.items()))
              if args.targets > 1 else "")
    other = len(r.hits) - len(ok)
    print(f"duplicates: {duplicates} (requests beyond the first per X-Webhook-Request-Id); "
          f"not delivered: {total - delivered}; rows: "
          + ", ".join(f"{n} {status}" for status, n in sorted(r.statuses.items()))
          + f"; attempt rows {r.attempt_rows}, rows with more than one attempt {r.retried}"
          + (f"; {other} answers other than 204" if other else "") + spread)
    if r.errors:
        print("last errors: " + "; ".join(r.errors))


# --- main -----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=100_000,
                        help="pending deliveries in the backlog (100000)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker threads (4)")
    parser.add_argument("--targets", type=int, default=1,
                        help="targets, each one of nginx's ports (an origin) (1)")
    parser.add_argument("--baseline-concurrency", type=int, default=16,
                        help="the bare client's requests in flight (16)")
    parser.add_argument("--deadline", type=float, default=600.0,
                        help="seconds after the queueing to cut the run (600)")
    parser.add_argument("--no-beat", action="store_true",
                        help="no celery beat: the queued tasks alone")
    parser.add_argument("--conn-max-age", type=float, default=None, metavar="SECONDS",
                        help="PostgreSQL connections kept this long by the roles "
                             "(conn_max_age on DATABASE_URL); default: the product's pool")
    parser.add_argument("--role", choices=["seed", "queue"], help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "seed":
        return seed_child(args.deliveries, json.loads(args.urls), args.out)
    if args.role == "queue":
        return queue_child(args.out)
    if args.deliveries < 1 or args.targets < 1 or args.concurrency < 1:
        parser.error("--deliveries, --targets and --concurrency must be at least 1")

    # A SIGTERM unwinds like Ctrl-C: every child is stopped, the database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="waha-bench-backlog-"))
    try:
        with Nginx(workdir, ports=args.targets).start() as nginx:
            topology = Topology(workdir / "topology", conn_max_age=args.conn_max_age)
            try:
                result = run(args, nginx, topology, workdir)
            except TopologyFailed as exc:
                raise SystemExit(f"{exc}\n{topology.logs()[-4000:]}") from None
            finally:
                topology.stop()
        print_run(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
