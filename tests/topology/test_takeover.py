"""When one of two engine processes is SIGKILLed, the other takes over every session.

Two `run_engines` children share 200 fake sessions (started, unpaired, so they sit in
SCAN_QR_CODE). Once both own some and every session is live where the database says it is
owned, one engine is SIGKILLed: the survivor must own all 200 and run them live within the lease
time plus a reconcile interval plus slack for a loaded machine. At every poll, before and after
the kill, no owner but the two worker ids appears and the fake WhatsApp server records no session
live in two processes. The split and the takeover time are printed, not asserted as performance.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.support.topology import LEASE_SECONDS, RECONCILE_SECONDS, Engine, Topology

pytestmark = pytest.mark.timeout(420)

SESSIONS = 200
WORKERS = ("engine-a", "engine-b")
# A loaded two-core machine: the survivor claims and starts about 100 sessions one by one.
SLACK_SECONDS = 20.0
POLL_SECONDS = 0.1
SCAN = "SCAN_QR_CODE"


class Watch:
    """Polls the database and the registry, failing at once on an owner nobody runs or on a
    session live in two processes; remembers what it saw last for the waits' conditions."""

    def __init__(self, topology: Topology, engines: list[Engine]) -> None:
        self.topology = topology
        self.engines = engines
        self.polls = 0

    def poll(self) -> None:
        self.polls += 1
        _, self.rows = self.topology.rows()
        self.holders = self.topology.registry.holders()
        conflicts = self.topology.registry.conflicts()
        assert not conflicts, f"sessions live in two processes: {conflicts[:10]}"
        strangers = {row.owner for row in self.rows.values()} - {"", *WORKERS}
        assert not strangers, f"owners no engine runs under: {strangers}"
        pids = {engine.pid for engine in self.engines}
        assert {holder.pid for holder in self.holders.values()} <= pids

    def settled_on(self, engines: list[Engine]) -> bool:
        """Every session SCAN_QR_CODE, owned by one of `engines` and live in that very one."""
        self.poll()
        if len(self.rows) != SESSIONS:
            return False
        pid_of = {engine.worker_id: engine.pid for engine in engines}
        for name, row in self.rows.items():
            holder = self.holders.get(name)
            if (row.status != SCAN or row.owner not in pid_of or not row.lease_live
                    or holder is None or holder.pid != pid_of[row.owner]):
                return False
        return True

    def describe(self) -> str:
        statuses = Counter((row.owner, row.status) for row in self.rows.values())
        live = Counter(holder.worker_id for holder in self.holders.values())
        return f"rows by (owner, status): {dict(statuses)}\nlive by engine: {dict(live)}"


def test_the_survivor_takes_over_every_session_when_the_other_engine_is_sigkilled(
    topology: Topology, report: Callable[[str], None],
) -> None:
    engines = [topology.start_engine(worker, wait=False) for worker in WORKERS]
    for engine in engines:
        engine.wait_ready()
    watch = Watch(topology, engines)
    topology.create_sessions([f"load-{n:03d}" for n in range(SESSIONS)], start=True)

    took = topology.wait_until(lambda: watch.settled_on(engines), 180,
                               f"{SESSIONS} sessions live and SCAN_QR_CODE on two engines",
                               watch.describe, POLL_SECONDS)
    split = Counter(row.owner for row in watch.rows.values())
    report(f"split of {SESSIONS} sessions: {dict(sorted(split.items()))} "
           f"(all live in {took:.1f} s after creation)")
    assert set(split) == set(WORKERS), "both engines should own sessions before the kill"

    victim, survivor = sorted(engines, key=lambda engine: split[engine.worker_id],
                              reverse=True)
    killed_at = time.monotonic()
    topology.kill(victim)

    def survivor_owns_all() -> bool:
        watch.poll()
        return all(row.owner == survivor.worker_id and row.lease_live
                   for row in watch.rows.values())

    bound = LEASE_SECONDS + RECONCILE_SECONDS + SLACK_SECONDS
    topology.wait_until(survivor_owns_all, bound + 60,
                        f"{survivor.worker_id} owning every session", watch.describe,
                        POLL_SECONDS)
    owned_after = time.monotonic() - killed_at
    topology.wait_until(lambda: watch.settled_on([survivor]), bound + 60,
                        f"every session live on {survivor.worker_id}", watch.describe,
                        POLL_SECONDS)
    live_after = time.monotonic() - killed_at
    report(f"after SIGKILL of {victim.worker_id} ({split[victim.worker_id]} sessions): "
           f"{survivor.worker_id} owned all {SESSIONS} in {owned_after:.1f} s and ran them "
           f"live in {live_after:.1f} s (bound {bound:g} s: lease {LEASE_SECONDS:g} + reconcile "
           f"{RECONCILE_SECONDS:g} + slack {SLACK_SECONDS:g}); {watch.polls} polls")
    assert live_after <= bound, (
        f"the takeover took {live_after:.1f} s, past the lease plus a reconcile interval "
        f"plus slack ({bound:g} s)"
    )
    assert not victim.running and survivor.running
