"""SIGTERM hands every session back; the next engine process brings back exactly what ran.

An engine process runs paired sessions (WORKING), unpaired ones (SCAN_QR_CODE) and has stopped
ones. SIGTERM: it exits 0, every lease is released, what the user wanted (should_run) is kept and
every status is STOPPED. A new engine process (under the same worker id, or another) then runs
every running session again (the paired ones resume WORKING without a QR code) and leaves the
stopped ones STOPPED and unowned. The paired sessions were paired by an earlier engine process
that paired every QR session after a moment (WAHA_FAKE_PAIR_AFTER_SECONDS) and was itself
stopped with SIGTERM.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.support.topology import Engine, SessionRow, Topology

pytestmark = pytest.mark.timeout(300)

PAIRED = [f"paired-{n}" for n in range(4)]
SCANNING = [f"scanning-{n}" for n in range(4)]
NEVER_STARTED = [f"never-started-{n}" for n in range(2)]
STOPPED_AFTER_RUNNING = [f"stopped-{n}" for n in range(2)]
RUNNING = PAIRED + SCANNING
STOPPED = NEVER_STARTED + STOPPED_AFTER_RUNNING
WAIT = 60.0


def runs_on(topology: Topology, engine: Engine, expected: dict[str, str]) -> bool:
    """Every session in `expected` has that status, is owned by `engine` and is live there."""
    _, rows = topology.rows()
    holders = topology.registry.holders()
    for name, status in expected.items():
        row, holder = rows.get(name), holders.get(name)
        if (row is None or row.status != status or row.owner != engine.worker_id
                or not row.lease_live or holder is None or holder.pid != engine.pid):
            return False
    return True


def at_rest(topology: Topology, names: list[str]) -> bool:
    """STOPPED, unowned and live nowhere."""
    _, rows = topology.rows()
    holders = topology.registry.holders()
    return all(
        name in rows and rows[name].status == "STOPPED" and rows[name].owner == ""
        and name not in holders
        for name in names
    )


def describe(topology: Topology) -> Callable[[], str]:
    def state() -> str:
        _, rows = topology.rows()
        holders = topology.registry.holders()
        lines = []
        for name, row in sorted(rows.items()):
            live = holders[name].line.strip() if name in holders else "-"
            lines.append(f"{name}: {row.status} should_run={row.should_run} "
                         f"owner={row.owner!r} lease_live={row.lease_live} live={live}")
        return "\n".join(lines)

    return state


def assert_handed_back(topology: Topology, should_run: dict[str, bool]) -> dict[str, SessionRow]:
    _, rows = topology.rows()
    assert set(rows) == set(should_run)
    for name, row in rows.items():
        assert (row.owner, row.lease_expires_at) == ("", None), f"{name} still leased: {row}"
        assert row.should_run is should_run[name], f"{name} lost what the user wanted: {row}"
        assert row.status == "STOPPED", f"{name} was not recorded as stopped: {row}"
    assert topology.registry.holders() == {}
    return rows


@pytest.mark.parametrize("next_worker", ["engine-1", "engine-2"],
                         ids=["same-worker-id", "other-worker-id"])
def test_sigterm_hands_sessions_back_and_the_next_engine_brings_back_what_ran(
    topology: Topology, report: Callable[[str], None], next_worker: str,
) -> None:
    state = describe(topology)
    pairing = topology.start_engine("pairing", WAHA_FAKE_PAIR_AFTER_SECONDS="0.3")
    topology.create_sessions(PAIRED, start=True)
    topology.wait_until(lambda: runs_on(topology, pairing, dict.fromkeys(PAIRED, "WORKING")),
                        WAIT, "the paired sessions WORKING", state)
    assert pairing.terminate() == 0, pairing.output()

    engine = topology.start_engine("engine-1")
    topology.create_sessions(SCANNING + STOPPED_AFTER_RUNNING, start=True)
    topology.create_sessions(NEVER_STARTED, start=False)
    expected = {**dict.fromkeys(PAIRED, "WORKING"),
                **dict.fromkeys(SCANNING + STOPPED_AFTER_RUNNING, "SCAN_QR_CODE")}
    topology.wait_until(lambda: runs_on(topology, engine, expected), WAIT,
                        "every started session running on engine-1", state)
    topology.call_services(("stop_session", [name], {}) for name in STOPPED_AFTER_RUNNING)
    topology.wait_until(lambda: at_rest(topology, STOPPED), WAIT,
                        "the stopped sessions at rest", state)
    _, before = topology.rows()

    code = topology.terminate(engine)
    assert code == 0, f"run_engines exited with {code} on SIGTERM:\n{engine.output()}"
    should_run = {name: name in RUNNING for name in RUNNING + STOPPED}
    assert_handed_back(topology, should_run)

    since = topology.db_now()
    spawned = time.monotonic()
    successor = topology.start_engine(next_worker)
    running = {**dict.fromkeys(PAIRED, "WORKING"), **dict.fromkeys(SCANNING, "SCAN_QR_CODE")}
    topology.wait_until(lambda: runs_on(topology, successor, running), WAIT,
                        f"every running session back on {next_worker}", state)
    took = time.monotonic() - spawned
    assert at_rest(topology, STOPPED), state()
    _, after = topology.rows()
    for name in PAIRED:
        statuses = topology.history(name, since)
        assert "SCAN_QR_CODE" not in statuses, f"{name} asked for a QR code again: {statuses}"
        assert statuses[-1] == "WORKING"
        assert not after[name].has_qr
        assert after[name].me is not None and after[name].me == before[name].me
    for name in STOPPED:
        assert not after[name].should_run, f"{name} was started again: {after[name]}"
        assert after[name].generation == before[name].generation
    report(f"{next_worker}: {len(RUNNING)} sessions back ({len(PAIRED)} WORKING without a QR "
           f"code) {took:.1f} s after the process was spawned; {len(STOPPED)} stopped ones "
           f"left alone")
