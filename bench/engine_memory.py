"""Resident memory of one engine process (`manage.py run_engines`) per idle fake session.

    .venv/bin/python bench/engine_memory.py [--sessions 1,100,1000]

On the scaled topology's services (a throw-away PostgreSQL database on 127.0.0.1:5432 and our
own redis-server; no web, worker or beat: nothing here needs them), one `run_engines` child per
figure, one after the other: first with no session (the baseline), then with each count of
`--sessions`. Before each, a setup child creates the sessions missing so far with `start=true`
and writes the fake engine's auth file for each (`FakeEngine.auth_path`), so the engine resumes
them straight to WORKING at boot, as after a restart with paired devices; nothing then happens
on them (idle: live and WORKING, no traffic). `WAHA_AUTO_START_DELAY_SECONDS=0`.

Per engine process:

- running s: spawn → its "engine ... running" line, printed once boot reconcile has claimed every
  session, recorded STARTING and started its client;
- WORKING s: spawn → every session WORKING in the database (polled every 50 ms);
- boot s: from the engine's registration (its `EngineProcess.started_at`) to the last session's
  WORKING (`status_changed_at`), both written by the engine: the bring-up without the
  interpreter's start and Django's set-up, which move by a second on a busy machine;
- then it waits one reconcile tick (`WAHA_RECONCILE_SECONDS`, 5 s by default) and samples
  /proc/<pid>/smaps_rollup every half second until the last 6 samples' RSS are within 0.5 %
  (at most 60 s; "unsettled" if not): RSS, PSS, USS (Private_Clean + Private_Dirty) and anon
  (Anonymous: heap and stacks, the process's own) are the medians of those 6; threads from
  /proc/<pid>/status; idle CPU % = the process's user + system CPU time over the sampling
  window (at least two reconcile ticks) / its wall time;
- stop s: SIGTERM → exit (every client stopped, STOPPED recorded, leases handed back).

Increments are against the 0-session process of the same run: (RSS_n - RSS_0) / n, and the
same for anon. PSS and USS move with whatever else maps the same files: a library page is
private while this process alone maps it and shared once another Python process of the same
venv maps it too, so on a shared machine they are not per-session figures.
The fake engine loads no WhatsApp library (neonize's Go client is not imported), so this is
the runtime's own cost per session: its slot, client task and queue, not a real client's.
Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as a script, so the project root is not on the path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.topology import (
    ENGINE_RUNNING,
    Topology,
    TopologyFailed,
    conditions,
    conn_note,
    terminate,
    wait_for_output,
)

SCRIPT = Path(__file__).resolve()
RECONCILE_SECONDS = 5.0  # the product's default WAHA_RECONCILE_SECONDS
SAMPLE_EVERY = 0.5
STABLE_SAMPLES = 6
STABLE_SPREAD = 0.005
SETTLE_TIMEOUT = 60.0
UP_TIMEOUT = 600.0


@dataclass
class Memory:
    rss: int  # KiB
    pss: int
    uss: int
    anon: int
    threads: int


@dataclass
class Figures:
    sessions: int
    running: float
    working: float
    boot: float | None  # engine registered → last session WORKING, from the rows
    memory: Memory
    settled: bool
    cpu_percent: float
    stop: float | None


# --- /proc ------------------------------------------------------------------------------------
def read_memory(pid: int) -> Memory:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0])
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE)
    return Memory(fields["Rss"], fields["Pss"],
                  fields["Private_Clean"] + fields["Private_Dirty"], fields["Anonymous"],
                  int(found.group(1)) if found else 0)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    after_name = stat[stat.rindex(")") + 2:].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int) -> tuple[Memory, bool, float]:
    """Sample until RSS is stable: (the median sample, settled or not, idle CPU %)."""
    time.sleep(RECONCILE_SECONDS + 1)  # one reconcile tick over every session first
    began, cpu_began = time.monotonic(), cpu_seconds(pid)
    samples: list[Memory] = []
    settled = False
    while time.monotonic() - began < SETTLE_TIMEOUT:
        samples.append(read_memory(pid))
        recent = [m.rss for m in samples[-STABLE_SAMPLES:]]
        stable = max(recent) - min(recent) <= STABLE_SPREAD * max(recent)
        if (len(recent) == STABLE_SAMPLES and stable
                and time.monotonic() - began >= 2 * RECONCILE_SECONDS):
            settled = True
            break
        time.sleep(SAMPLE_EVERY)
    cpu = (cpu_seconds(pid) - cpu_began) / (time.monotonic() - began) * 100
    last = samples[-STABLE_SAMPLES:]
    median = Memory(int(statistics.median(m.rss for m in last)),
                    int(statistics.median(m.pss for m in last)),
                    int(statistics.median(m.uss for m in last)),
                    int(statistics.median(m.anon for m in last)),
                    int(statistics.median(m.threads for m in last)))
    return median, settled, cpu


# --- one engine process -------------------------------------------------------------------------
def working_count(topology: Topology) -> int:
    rows = topology.query("SELECT count(*) FROM sessions_app_session WHERE status = 'WORKING'")
    return int(rows[0][0])  # type: ignore[call-overload]


def measure(topology: Topology, sessions: int) -> Figures:
    spawned = time.perf_counter()
    engine = topology.spawn_engine({"WAHA_AUTO_START_DELAY_SECONDS": "0"})
    assert engine.process is not None
    wait_for_output(engine, ENGINE_RUNNING, UP_TIMEOUT)
    running = time.perf_counter() - spawned
    deadline = time.monotonic() + UP_TIMEOUT
    while working_count(topology) < sessions:
        if time.monotonic() > deadline or not engine.running:
            raise TopologyFailed(f"{working_count(topology)} of {sessions} sessions WORKING:\n"
                                 f"{engine.output()}")
        time.sleep(0.05)
    working = time.perf_counter() - spawned
    boot = boot_seconds(topology, engine.process.pid) if sessions else None
    memory, settled, cpu = settle(engine.process.pid)
    stop = terminate(engine, timeout=300)
    return Figures(sessions, running, working, boot, memory, settled, cpu, stop)


def boot_seconds(topology: Topology, pid: int) -> float:
    """From the engine's registration to the last WORKING, both written by the engine."""
    [(seconds,)] = topology.query(
        "SELECT EXTRACT(EPOCH FROM (SELECT max(status_changed_at) FROM sessions_app_session "
        "WHERE status = 'WORKING') - started_at) FROM sessions_app_engineprocess WHERE pid = %s",
        pid)
    return float(seconds)  # type: ignore[arg-type]


def add_sessions(topology: Topology, total: int) -> None:
    """The setup child: sessions up to `total`, each wanted running and already paired."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--role", "setup", "--total", str(total)],
        cwd=SCRIPT.parents[1], env=topology.env, stdin=subprocess.DEVNULL,
        capture_output=True, timeout=600, check=False,
    )
    if done.returncode != 0:
        raise TopologyFailed(f"setup failed ({done.returncode}):\n"
                             f"{done.stdout.decode()}{done.stderr.decode()}")


def setup_child(total: int) -> None:
    import django

    django.setup()
    from sessions_app import services
    from sessions_app.engines.fake import FakeEngine
    from sessions_app.models import Session

    engine = FakeEngine.from_settings()
    engine.auth_dir.mkdir(parents=True, exist_ok=True)
    for index in range(Session.objects.count(), total):
        session = services.create_session(f"idle-{index:05d}", {}, start=True)
        digits = f"1{index:010d}"
        me = {"id": f"{digits}@c.us", "pushName": "Idle", "jid": f"{digits}:7@s.whatsapp.net",
              "lid": f"{digits[::-1]}:7@lid"}
        engine.auth_path(services.spec_of(session)).write_text(json.dumps({"me": me}))


# --- output -------------------------------------------------------------------------------------
def print_table(rows: list[Figures]) -> None:
    base = rows[0]
    header = (f"{'sessions':>8} {'running s':>9} {'WORKING s':>9} {'boot s':>7} {'RSS MiB':>8} "
              f"{'PSS MiB':>8} {'USS MiB':>8} {'anon MiB':>8} {'ΔRSS/sess':>9} "
              f"{'Δanon/sess':>10} {'threads':>7} {'idle CPU':>8} {'stop s':>6}")
    print(header)
    print("-" * len(header))
    for row in rows:
        m = row.memory
        per_rss, per_anon = f"{'-':>9}", f"{'-':>10}"
        if row.sessions:
            per_rss = f"{(m.rss - base.memory.rss) / row.sessions:>9.1f}"
            per_anon = f"{(m.anon - base.memory.anon) / row.sessions:>10.1f}"
        stop = f"{row.stop:>6.2f}" if row.stop is not None else f"{'>300':>6}"
        note = "" if row.settled else "  (unsettled)"
        boot = f"{row.boot:>7.2f}" if row.boot is not None else f"{'-':>7}"
        print(f"{row.sessions:>8} {row.running:>9.2f} {row.working:>9.2f} {boot} "
              f"{m.rss / 1024:>8.1f} {m.pss / 1024:>8.1f} {m.uss / 1024:>8.1f} "
              f"{m.anon / 1024:>8.1f} {per_rss} {per_anon} {m.threads:>7} "
              f"{row.cpu_percent:>7.1f}% {stop}{note}")
    print()
    for row in rows[1:]:
        assert row.boot is not None
        print(f"{row.sessions} sessions: all WORKING {row.working:.2f} s after spawn (a process "
              f"with none was ready in {base.working:.2f} s); {row.boot:.2f} s from the engine's "
              f"registration to the last WORKING, {row.boot / row.sessions * 1000:.1f} ms/session")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,100,1000",
                        help="idle session counts, comma-separated, ascending (default "
                             "1,100,1000); a 0-session process is always measured first")
    parser.add_argument("--conn-max-age", type=float, default=None, metavar="SECONDS",
                        help="PostgreSQL connections kept this long by the scaled roles "
                             "(conn_max_age on DATABASE_URL, which turns the pool off); "
                             "default: the product's connection pool")
    parser.add_argument("--role", choices=["setup"], help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "setup":
        return setup_child(args.total)

    counts = sorted({int(value) for value in args.sessions.split(",") if int(value) > 0})
    workdir = Path(tempfile.mkdtemp(prefix="waha-bench-engine-memory-"))
    topology = Topology(workdir, conn_max_age=args.conn_max_age)
    rows: list[Figures] = []
    try:
        topology.create()
        for count in [0, *counts]:
            if count:
                print(f"creating sessions up to {count} (started, paired) ...", flush=True)
                add_sessions(topology, count)
            print(f"run_engines with {count} idle sessions ...", flush=True)
            rows.append(measure(topology, count))
        print()
        print(conditions())
        print("one `manage.py run_engines` process per row (fake engine, PostgreSQL + Redis), "
              f"sessions resumed straight to WORKING, idle{conn_note(args.conn_max_age)}")
        print("ΔRSS/sess, Δanon/sess: KiB per session over the 0-session row\n")
        print_table(rows)
    except TopologyFailed as exc:
        raise SystemExit(f"{exc}\n{topology.logs()[-4000:]}") from None
    finally:
        topology.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
