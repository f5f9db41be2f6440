"""Sends in flight per target (`inflight.Outstanding`): the cap holds, a thread waiting for room
at a full target is woken as soon as a send there ends, and one waiting for everything to end
once nothing is in flight."""

from __future__ import annotations

import threading
import time

from webhooks_app.inflight import Outstanding

A, B = "http://a.test:80", "http://b.test:80"


def wait_in_thread(target: object) -> tuple[threading.Thread, dict[str, object]]:
    result: dict[str, object] = {}

    def run() -> None:
        began = time.monotonic()
        result["answer"] = target()  # type: ignore[operator]
        result["waited"] = time.monotonic() - began

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_the_cap_holds_per_target() -> None:
    outstanding = Outstanding()

    assert [outstanding.reserve(A, 2) for _ in range(3)] == [True, True, False]
    assert outstanding.reserve(B, 2)
    assert outstanding.full(2) == {A}
    assert outstanding.total == 3
    assert outstanding.reserve(A, None)  # uncapped: an attempt asked for by hand


def test_a_waiter_for_room_wakes_when_a_send_at_its_full_target_ends() -> None:
    outstanding = Outstanding()
    for _ in range(3):
        outstanding.reserve(A, 3)
    outstanding.done(A)  # A is flowing: a send there ended a moment ago
    outstanding.reserve(A, 3)  # and full again

    thread, result = wait_in_thread(lambda: outstanding.wait_for_room({A}, 3, timeout=5.0))
    time.sleep(0.1)
    assert thread.is_alive()
    outstanding.done(A)
    thread.join(2.0)

    assert result["answer"] is True
    assert isinstance(result["waited"], float) and result["waited"] < 2.0


def test_room_at_another_target_does_not_end_the_wait() -> None:
    outstanding = Outstanding()
    outstanding.reserve(A, 1)
    outstanding.done(A)
    outstanding.reserve(A, 1)
    outstanding.reserve(B, 1)

    began = time.monotonic()
    outstanding.done(B)
    answer = outstanding.wait_for_room({A}, 1, timeout=0.3)

    assert answer is False
    assert time.monotonic() - began >= 0.25


def test_a_waiter_for_the_end_wakes_once_nothing_is_in_flight() -> None:
    outstanding = Outstanding()
    outstanding.reserve(A, 10)
    outstanding.reserve(B, 10)

    thread, result = wait_in_thread(lambda: outstanding.wait_empty(timeout=5.0))
    outstanding.done(A)
    time.sleep(0.1)
    assert thread.is_alive()
    outstanding.done(B)
    thread.join(2.0)

    assert result["answer"] is True
    assert outstanding.total == 0
