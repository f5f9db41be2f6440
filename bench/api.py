"""HTTP API figures, embedded default beside the scaled topology, with GET /ping as baseline.

    .venv/bin/python bench/api.py [--sessions 1000] [--requests 200] [--concurrency 8]

Two paths, one after the other, each on a free port on 127.0.0.1 with the fake engine:

- embedded default: `manage.py serve` (web, engine and worker in one process, SQLite in a fresh
  temporary data directory, in-memory channel layer and broker);
- scaled topology (bench/topology.py): `uvicorn waha_project.asgi:application` (web),
  `manage.py run_engines` (engine), `celery worker` and `celery beat`, on a throw-away PostgreSQL
  database and our own redis-server.

On each: `--sessions` stopped sessions created at `--concurrency` (a figure of its own), then

- GET /ping, GET /api/sessions?all=true and GET /api/sessions/{name}: `--requests` each, one at a
  time, so the figures are latencies rather than queueing;
- POST /api/sessions/{name}/stop on stopped sessions: `--requests`, one at a time: a
  state-changing request that leaves the engine alone (its desired state and its audit row);
- POST /api/sessions with start=true: `--requests` new sessions at `--concurrency`, as
  sessions created and started per second; then how long until the engine shows a QR code for
  every one of them, and GET /ping again;
- how long the processes took to stop on SIGTERM.

Prints one table with both paths side by side and stops everything. Figures only: nothing here
passes or fails.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from threading import local

import httpx

# Run as a script, so the project root is not on the path yet; the launchers are the e2e tests'
# one (serve) and bench/topology.py (the scaled roles).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.topology import Topology, conditions, conn_note, terminate
from tests.support.live_server import LiveServer


@dataclass
class Figures:
    label: str
    latencies: list[float]
    wall: float
    concurrency: int

    def percentile(self, fraction: float) -> float:
        """Nearest rank, in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall


def measure(label: str, requests: Iterable[Callable[[httpx.Client], httpx.Response]],
            client_for: Callable[[], httpx.Client], pool: ThreadPoolExecutor | None = None,
            concurrency: int = 1, expect: int = 200) -> Figures:
    """Time each request; one at a time in this thread, or spread over `pool`'s threads."""
    def timed(request: Callable[[httpx.Client], httpx.Response]) -> float:
        client = client_for()
        began = time.perf_counter()
        response = request(client)
        elapsed = time.perf_counter() - began
        if response.status_code != expect:
            raise SystemExit(f"{label}: expected {expect}, got {response.status_code}: "
                             f"{response.text[:300]}")
        return elapsed

    began = time.perf_counter()
    latencies = list(pool.map(timed, requests) if pool else map(timed, requests))
    return Figures(label, latencies, time.perf_counter() - began, concurrency if pool else 1)


def get(path: str, **params: str) -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.get(path, params=params)


def create(name: str, *, start: bool) -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.post("/api/sessions", json={"name": name, "start": start})


def post(path: str) -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.post(path)


def wait_until_showing_qr(client: httpx.Client, count: int, timeout: float = 120.0) -> float:
    """When every started session reached SCAN_QR_CODE (the answer to create says STARTING)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        running = client.get("/api/sessions").json()
        if sum(info["status"] == "SCAN_QR_CODE" for info in running) >= count:
            return time.perf_counter()
        time.sleep(0.05)
    raise SystemExit(f"the started sessions were not all showing a QR code within {timeout:g} s")


@dataclass
class PathResult:
    """Every figure of one path, in table order, and what is printed below the table."""

    label: str
    rows: list[Figures] = field(default_factory=list)
    caught_up: float = 0.0
    stops: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def baseline(self) -> Figures:
        return self.rows[1]

    @property
    def started(self) -> Figures:
        return self.rows[5]


def measure_path(label: str, client_of: Callable[[], httpx.Client],
                 args: argparse.Namespace) -> PathResult:
    """Every figure on one running server; `client_of` makes one API client per pool thread."""
    threads = local()
    clients: list[httpx.Client] = []
    # One pool for the whole path, so its threads keep their connections from one figure to
    # the next.
    pool = ThreadPoolExecutor(args.concurrency)

    def client_for() -> httpx.Client:
        client = getattr(threads, "client", None)
        if client is None:
            client = threads.client = client_of()
            clients.append(client)
        return client

    result = PathResult(label)
    try:
        print(f"  creating {args.sessions} stopped sessions at concurrency "
              f"{args.concurrency} ...", flush=True)
        names = [f"bench-{index:05d}" for index in range(args.sessions)]
        setup = measure(
            f"POST /api/sessions (start=false, {args.sessions})",
            (create(name, start=False) for name in names),
            client_for, pool, args.concurrency, expect=201,
        )
        count = args.requests
        pick = random.Random(7)
        for _ in range(20):  # warm-up: connection, first-request imports, caches
            client_for().get("/ping")
        print("  measuring ...", flush=True)
        ping = measure("GET /ping (baseline)",
                       (get("/ping") for _ in range(count)), client_for)
        listing = measure(f"GET /api/sessions?all=true ({args.sessions})",
                          (get("/api/sessions", all="true") for _ in range(count)),
                          client_for)
        targets = [pick.choice(names) for _ in range(count)]
        one = measure("GET /api/sessions/{name}",
                      (get(f"/api/sessions/{name}") for name in targets),
                      client_for)
        stop = measure("POST /api/sessions/{name}/stop (stopped)",
                       (post(f"/api/sessions/{name}/stop") for name in targets),
                       client_for, expect=201)
        burst_began = time.perf_counter()
        started = measure(
            "POST /api/sessions (start=true)",
            (create(f"started-{index:05d}", start=True) for index in range(count)),
            client_for, pool, args.concurrency, expect=201,
        )
        result.caught_up = wait_until_showing_qr(client_for(), count) - burst_began
        ping_after = measure("GET /ping (baseline, again at the end)",
                             (get("/ping") for _ in range(count)), client_for)
        result.rows = [setup, ping, listing, one, stop, started, ping_after]
    finally:
        pool.shutdown()
        for client in clients:
            client.close()
    return result


def run_embedded(args: argparse.Namespace) -> PathResult:
    data_dir = Path(tempfile.mkdtemp(prefix="waha-bench-api-"))
    server = LiveServer(data_dir)
    print(f"embedded: manage.py serve (fake engine, data in {data_dir}) ...", flush=True)
    try:
        server.start()
        result = measure_path("embedded default", lambda: server.client(timeout=60), args)
        began = time.perf_counter()
        code = server.terminate(timeout=30)
        result.stops.append(("serve", None if code is None else time.perf_counter() - began))
        return result
    finally:
        server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def run_scaled(args: argparse.Namespace) -> PathResult:
    workdir = Path(tempfile.mkdtemp(prefix="waha-bench-api-scaled-"))
    topology = Topology(workdir, conn_max_age=args.conn_max_age)
    print("scaled: uvicorn + run_engines + celery worker + beat, PostgreSQL + Redis ...",
          flush=True)
    try:
        topology.start()
        result = measure_path("scaled topology", lambda: topology.client(timeout=60), args)
        assert topology.web is not None
        result.stops.append(("uvicorn", terminate(topology.web)))
        for engine in topology.engines:
            result.stops.append(("run_engines", terminate(engine)))
        return result
    finally:
        topology.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --- output ---------------------------------------------------------------------------------------
def print_table(paths: list[PathResult]) -> None:
    width = 40
    group = 43

    def cells(row: Figures, baseline: Figures) -> str:
        p50, p99 = row.percentile(0.50), row.percentile(0.99)
        versus = p50 / baseline.percentile(0.50)
        return (f"{row.concurrency:>4} {p50:>8.2f} {p99:>8.2f} {row.per_second:>8.1f} "
                f"{versus:>7.1f}x")

    print(f"{'':<{width}} {'':>5}" + "".join(f" {p.label:^{group}}" for p in paths)
          + f" {'scaled/':>8}")
    header = (f"{'operation':<{width}} {'n':>5}"
              + "".join(f" {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'p50/ping':>8}"
                        for _ in paths)
              + f" {'emb p50':>8}")
    print(header)
    print("-" * len(header))
    for index, first in enumerate(paths[0].rows):
        rows = [p.rows[index] for p in paths]
        ratio = rows[-1].percentile(0.50) / rows[0].percentile(0.50)
        print(f"{first.label:<{width}} {len(first.latencies):>5}"
              + "".join(f" {cells(row, p.baseline)}" for row, p in zip(rows, paths, strict=True))
              + f" {ratio:>7.2f}x")
    print()
    for p in paths:
        started = p.started
        stops = ", ".join(
            f"{name} {'not within 30 s' if seconds is None else f'{seconds:.2f} s'}"
            for name, seconds in p.stops)
        print(f"{p.label}: create+start {started.per_second:.1f} sessions/s at concurrency "
              f"{started.concurrency} ({len(started.latencies)} in {started.wall:.2f} s); all "
              f"showing a QR code {p.caught_up:.2f} s after the first create; stop on SIGTERM: "
              f"{stops}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000,
                        help="stopped sessions created before measuring (default 1000)")
    parser.add_argument("--requests", type=int, default=200,
                        help="timed requests per figure (default 200)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="clients creating sessions at once (default 8)")
    parser.add_argument("--conn-max-age", type=float, default=None, metavar="SECONDS",
                        help="PostgreSQL connections kept this long by the scaled roles "
                             "(conn_max_age on DATABASE_URL, which turns the pool off); "
                             "default: the product's connection pool")
    args = parser.parse_args()

    paths = [run_embedded(args), run_scaled(args)]
    print()
    print(conditions())
    print(f"fake engine; embedded: serve on SQLite (WAL), in-memory layer; scaled: uvicorn, "
          f"run_engines, celery worker (4 threads) and beat on PostgreSQL + Redis; "
          f"{args.sessions} stopped + {args.requests} started sessions per path"
          f"{conn_note(args.conn_max_age)}\n")
    print_table(paths)


if __name__ == "__main__":
    main()
