"""A ticket's settlement (`ingest.Flag`): waited on by any number of threads, each released
once it is set; a wait with a timeout that runs out says it is not set."""

from __future__ import annotations

import threading

from sessions_app.ingest import Flag


def test_a_wait_that_runs_out_says_not_set() -> None:
    flag = Flag()

    assert flag.wait(0.05) is False
    assert not flag.is_set()


def test_every_waiter_is_released_once_set_and_later_waits_return_at_once() -> None:
    flag = Flag()
    released: list[bool] = []
    waiters = [threading.Thread(target=lambda: released.append(flag.wait(5.0)))
               for _ in range(5)]
    for waiter in waiters:
        waiter.start()

    flag.set()
    flag.set()  # a second time changes nothing
    for waiter in waiters:
        waiter.join(5.0)

    assert released == [True] * 5
    assert flag.is_set() and flag.wait() and flag.wait(0)
