"""HTTP API figures on the embedded default, with GET /ping from the same run as the baseline.

    .venv/bin/python bench/api.py [--sessions 1000] [--requests 200] [--concurrency 8]

Starts `manage.py serve` (fake engine, a fresh temporary data directory, a free port on
127.0.0.1), creates `--sessions` stopped sessions, then measures:

- GET /ping, GET /api/sessions?all=true and GET /api/sessions/{name}: `--requests` each, one at a
  time, so the figures are latencies rather than queueing;
- POST /api/sessions with start=true: `--requests` new sessions at `--concurrency`, as
  sessions created and started per second.

Prints one table and stops the server. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import local

import httpx

# Run as a script, so the project root is not on the path yet; the launcher is the e2e tests' one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.live_server import LiveServer


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


def wait_until_showing_qr(client: httpx.Client, count: int, timeout: float = 120.0) -> float:
    """When every started session reached SCAN_QR_CODE (the answer to create says STARTING)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        running = client.get("/api/sessions").json()
        if sum(info["status"] == "SCAN_QR_CODE" for info in running) >= count:
            return time.perf_counter()
        time.sleep(0.05)
    raise SystemExit(f"the started sessions were not all showing a QR code within {timeout:g} s")


def print_table(rows: list[Figures], baseline: Figures) -> None:
    ping_p50, ping_p99 = baseline.percentile(0.50), baseline.percentile(0.99)
    header = (f"{'operation':<38} {'n':>5} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'req/s':>8} {'p50/ping':>8} {'p99/ping':>8}")
    print(header)
    print("-" * len(header))
    for row in rows:
        p50, p99 = row.percentile(0.50), row.percentile(0.99)
        print(f"{row.label:<38} {len(row.latencies):>5} {row.concurrency:>4} {p50:>8.2f} "
              f"{p99:>8.2f} {row.per_second:>8.1f} {p50 / ping_p50:>7.1f}x {p99 / ping_p99:>7.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000,
                        help="stopped sessions created before measuring (default 1000)")
    parser.add_argument("--requests", type=int, default=200,
                        help="timed requests per figure (default 200)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="clients creating and starting sessions at once (default 8)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="waha-bench-api-"))
    server = LiveServer(data_dir)
    threads = local()
    clients: list[httpx.Client] = []
    # One pool for the whole run, so its threads keep their connections from one figure to the next.
    pool = ThreadPoolExecutor(args.concurrency)

    def client_for() -> httpx.Client:
        client = getattr(threads, "client", None)
        if client is None:
            client = threads.client = server.client(timeout=60)
            clients.append(client)
        return client

    try:
        print(f"starting manage.py serve (fake engine, data in {data_dir}) ...", flush=True)
        server.start()
        print(f"creating {args.sessions} stopped sessions at concurrency {args.concurrency} ...",
              flush=True)
        names = [f"bench-{index:05d}" for index in range(args.sessions)]
        setup = measure(
            "POST /api/sessions (start=false)",
            (lambda c, n=name: c.post("/api/sessions", json={"name": n, "start": False})
             for name in names),
            client_for, pool, args.concurrency, expect=201,
        )
        print(f"  done in {setup.wall:.1f} s ({setup.per_second:.0f}/s)\n", flush=True)

        count = args.requests
        pick = random.Random(7)
        for _ in range(20):  # warm-up: connection, first-request imports, caches
            client_for().get("/ping")
        ping = measure("GET /ping (baseline)",
                       (lambda c: c.get("/ping") for _ in range(count)), client_for)
        listing = measure(f"GET /api/sessions?all=true ({args.sessions})",
                          (lambda c: c.get("/api/sessions", params={"all": "true"})
                           for _ in range(count)), client_for)
        targets = [pick.choice(names) for _ in range(count)]
        one = measure("GET /api/sessions/{name}",
                      (lambda c, n=name: c.get(f"/api/sessions/{n}") for name in targets),
                      client_for)
        burst_began = time.perf_counter()
        started = measure(
            "POST /api/sessions (start=true)",
            (lambda c, i=index: c.post("/api/sessions", json={"name": f"started-{i:05d}"})
             for index in range(count)),
            client_for, pool, args.concurrency, expect=201,
        )
        engine_caught_up = wait_until_showing_qr(client_for(), count) - burst_began
        ping_after = measure("GET /ping (baseline, again at the end)",
                             (lambda c: c.get("/ping") for _ in range(count)), client_for)

        print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, SQLite (WAL), "
              f"fake engine, {args.sessions} stopped + {count} started sessions\n")
        print_table([ping, listing, one, started, ping_after], ping)
        print(f"\ncreate+start: {started.per_second:.1f} sessions/s at concurrency "
              f"{args.concurrency} ({count} in {started.wall:.2f} s)")
        print(f"engine caught up: all {count} showing a QR code {engine_caught_up:.2f} s "
              f"after the first create")
    finally:
        pool.shutdown()
        for client in clients:
            client.close()
        began = time.perf_counter()
        code = server.terminate(timeout=30)
        if code is None:
            server.kill()
            print("serve did not stop within 30 s of SIGTERM: killed")
        else:
            print(f"serve stopped on SIGTERM in {time.perf_counter() - began:.2f} s "
                  f"(exit code {code})")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
