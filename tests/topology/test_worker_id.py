"""A second engine process under a worker id that a live process already uses waits for it:
two processes under one id would both run every session that id owns."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.support.topology import Topology

SESSIONS = [f"same-id-{n}" for n in range(5)]


def test_a_second_process_with_the_same_worker_id_waits_until_the_first_is_gone(
    topology: Topology, report: Callable[[str], None],
) -> None:
    first = topology.start_engine("same-id")
    topology.create_sessions(SESSIONS, start=True)

    def all_live_in(pid: int) -> bool:
        holders = topology.registry.holders()
        return all(name in holders and holders[name].pid == pid for name in SESSIONS)

    topology.wait_until(lambda: all_live_in(first.pid), 60, "the sessions live in the first")
    second = topology.start_engine("same-id", wait=False)
    topology.wait_until(lambda: "is in use by" in second.output(), 60,
                        "the second process to say the id is in use")
    time.sleep(1.0)  # several reconcile intervals of the second process

    assert not second.ready
    assert topology.registry.conflicts() == []
    assert all_live_in(first.pid)

    first.kill()
    killed = time.monotonic()
    second.wait_ready()
    topology.wait_until(lambda: all_live_in(second.pid), 60, "the sessions live in the second")

    assert topology.registry.conflicts() == []
    report(f"the second 'same-id' process ran all {len(SESSIONS)} sessions "
           f"{time.monotonic() - killed:.1f} s after the first was SIGKILLed")
