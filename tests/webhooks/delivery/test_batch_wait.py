"""How long a task waits for a batch's sends (`services._wait_for_batch`): while they keep
ending, at most the patience, and no longer than the quiet period once some have ended; what
is still running is left (to the late recorder)."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

from webhooks_app import services, transport

Future = concurrent.futures.Future[transport.SendResult]


def done_result() -> transport.SendResult:
    return transport.SendResult(status_code=204, body=b"", duration_ms=1)


def finish_later(futures: list[Future], delays: list[float]) -> threading.Thread:
    def run() -> None:
        began = time.monotonic()
        for future, delay in sorted(zip(futures, delays, strict=True), key=lambda p: p[1]):
            time.sleep(max(0.0, began + delay - time.monotonic()))
            future.set_result(done_result())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture(autouse=True)
def short_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "TASK_PATIENCE_SECONDS", 1.0)
    monkeypatch.setattr(services, "TASK_QUIET_SECONDS", 0.2)


def test_a_batch_that_ends_together_is_waited_for_until_the_last() -> None:
    futures = [Future() for _ in range(100)]
    finish_later(futures, [0.05 + i * 0.001 for i in range(100)])

    began = time.monotonic()
    running = services._wait_for_batch(futures)

    assert running == set()
    assert time.monotonic() - began < 0.8  # woken by the last, not by the patience running out


def test_slow_sends_are_left_once_the_others_have_gone_quiet() -> None:
    fast, slow = [Future() for _ in range(5)], [Future() for _ in range(3)]
    finish_later(fast, [0.05] * 5)

    began = time.monotonic()
    running = services._wait_for_batch(fast + slow)
    waited = time.monotonic() - began

    assert running == set(slow)
    assert 0.2 <= waited < 0.9  # the last fast one's end, then the quiet period


def test_sends_that_keep_ending_are_waited_for_up_to_the_patience() -> None:
    futures = [Future() for _ in range(20)]
    finish_later(futures, [0.1 * (i + 1) for i in range(20)])  # one every 0.1 s, for 2 s

    began = time.monotonic()
    running = services._wait_for_batch(futures)
    waited = time.monotonic() - began

    assert 0.9 <= waited < 1.8
    assert 3 <= len(running) <= 14  # those due after the patience ran out


def test_when_nothing_ends_the_wait_is_the_patience() -> None:
    futures = [Future() for _ in range(3)]

    began = time.monotonic()
    running = services._wait_for_batch(futures)

    assert running == set(futures)
    assert 0.9 <= time.monotonic() - began < 1.8
