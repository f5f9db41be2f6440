"""Coroutines run from sync code (`waha_project.background.run`): on a thread no loop lent,
every call runs on one long-lived loop (so the channel layer's connections, which belong to a
loop, are kept); on a thread a loop lent (`sync_to_async`), on that loop, as `async_to_sync`
does."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async

from waha_project import background


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def fails() -> None:
    raise ValueError("from the coroutine")


def test_calls_from_plain_threads_share_one_lasting_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    threads = [threading.Thread(target=lambda: loops.append(background.run(running_loop)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join()
    loops.append(background.run(running_loop))

    assert len(set(map(id, loops))) == 1
    assert loops[0].is_running()


def test_an_error_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="from the coroutine"):
        background.run(fails)


@pytest.mark.asyncio
async def test_a_thread_lent_by_a_loop_runs_the_coroutine_on_that_loop() -> None:
    ours = asyncio.get_running_loop()

    used = await sync_to_async(background.run)(running_loop)

    assert used is ours
