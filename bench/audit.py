"""The audit row's cost: one state-changing request with and without `AuditMiddleware`.

    .venv/bin/python bench/audit.py [--requests 500]

In one process per database (SQLite in a fresh data directory, as the embedded default has it;
then a throw-away PostgreSQL database with the product's connection pool, as the scaled
topology has it), two Django ASGI handlers serve the same stopped session: one with the
product's middleware, one without `sessions_app.audit.AuditMiddleware`. `POST
/api/sessions/{name}/stop` goes to one, then the other, `--requests` times each, in turns (which
of the two goes first alternates), so a machine shared with other work slows both alike. No
socket and no uvicorn: what differs is the middleware and its INSERT.

Prints p50, p90 and p99 of each and the difference. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.topology import conditions  # noqa: E402
from tests.support.stack import ThrowawayDatabase  # noqa: E402

AUDIT = "sessions_app.audit.AuditMiddleware"
API_KEY = "bench-audit-key-0123456789"
SESSION = "bench-audit"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000


# --- the child: one database ---------------------------------------------------------------------
async def measure(requests: int) -> dict[str, list[float]]:
    import httpx
    from django.conf import settings
    from django.core.handlers.asgi import ASGIHandler
    from django.test import override_settings

    audited = ASGIHandler()  # the handler loads its middleware now
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != AUDIT]):
        plain = ASGIHandler()
    clients = {
        label: httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://bench", headers={"X-Api-Key": API_KEY})
        for label, app in (("with the audit row", audited), ("without", plain))
    }
    times: dict[str, list[float]] = {label: [] for label in clients}
    order = list(clients)
    for round_ in range(20 + requests):  # 20 warm-up rounds, not kept
        for label in order if round_ % 2 else reversed(order):
            began = time.perf_counter()
            response = await clients[label].post(f"/api/sessions/{SESSION}/stop")
            elapsed = time.perf_counter() - began
            if response.status_code != 201:
                raise SystemExit(f"{label}: {response.status_code} {response.text[:200]}")
            if round_ >= 20:
                times[label].append(elapsed)
    for client in clients.values():
        await client.aclose()
    return times


def child(requests: int) -> None:
    import django

    django.setup()
    from asgiref.sync import sync_to_async
    from django.core.management import call_command

    from sessions_app.models import AuditEntry, Session

    call_command("migrate", verbosity=0)
    Session.objects.create(name=SESSION)
    times = asyncio.run(measure(requests))
    rows = sync_to_async(AuditEntry.objects.count)
    print(json.dumps({"times": times, "rows": asyncio.run(rows())}))


# --- the parent ----------------------------------------------------------------------------------
def run(label: str, env: dict[str, str], requests: int) -> dict[str, object]:
    print(f"{label}: {requests} requests each, in turns ...", flush=True)
    done = subprocess.run([sys.executable, __file__, "--child", "--requests", str(requests)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stdout}{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500,
                        help="timed requests per handler (default 500)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests)
        return

    data_dir = Path(tempfile.mkdtemp(prefix="waha-bench-audit-"))
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "waha_project.settings",
            "WAHA_API_KEY": API_KEY, "WAHA_ENGINE": "fake",
            "WAHA_LOCAL_STORE_BASE_DIR": str(data_dir), "WAHA_LOG_LEVEL": "warning"}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    database = ThrowawayDatabase("waha_bench_audit").create()
    try:
        results = {"SQLite (embedded)": run("SQLite", base, args.requests),
                   "PostgreSQL (scaled, pool)": run(
                       "PostgreSQL", {**base, "DATABASE_URL": database.url}, args.requests)}
    finally:
        database.drop()
        shutil.rmtree(data_dir, ignore_errors=True)

    print()
    print(conditions())
    print(f"POST /api/sessions/{{name}}/stop on a stopped session, {args.requests} per handler, "
          "in turns; in-process ASGI, no socket\n")
    header = (f"{'database':<27} {'handler':<20} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}"
              f" {'rows':>6}")
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        times: dict[str, list[float]] = result["times"]  # type: ignore[assignment]
        for label, values in times.items():
            rows = result["rows"] if label.startswith("with ") else 0
            print(f"{name:<27} {label:<20} {percentile(values, 0.5):>8.2f} "
                  f"{percentile(values, 0.9):>8.2f} {percentile(values, 0.99):>8.2f} {rows:>6}")
        with_, without = times.values()
        extra = percentile(with_, 0.5) - percentile(without, 0.5)
        ratio = percentile(with_, 0.5) / percentile(without, 0.5)
        print(f"{name:<27} {'the row adds':<20} {extra:>8.2f} ms at p50 ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
