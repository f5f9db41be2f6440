"""Coroutines run from sync code, on a loop that lives as long as the process.

`async_to_sync` on a thread that no event loop lent (an engine's event writer, a Celery worker
thread) makes a new loop on a new thread for every call, and the channel layer, whose Redis
connections belong to a loop, opens and closes a connection each time. `run` sends those calls
to one long-lived loop on a daemon thread of this process instead (started again after a fork),
so its connections are kept. A thread that a loop did lend (a view under ASGI, code called
with `sync_to_async`) keeps `async_to_sync`, which runs the coroutine on that loop.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, async_to_sync

R = TypeVar("R")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid = 0


def run(function: Callable[..., Coroutine[Any, Any, R]], *args: Any) -> R:
    """`async_to_sync(function)(*args)`, on this process's own loop when no loop lent us the
    thread."""
    if _lent_loop() is not None:
        return async_to_sync(function)(*args)
    return asyncio.run_coroutine_threadsafe(function(*args), _the_loop()).result()


def _lent_loop() -> asyncio.AbstractEventLoop | None:
    """The running loop `async_to_sync` would use from this thread (asgiref's own rule)."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop: asyncio.AbstractEventLoop | None = getattr(SyncToAsync.threadlocal,
                                                     "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


def _the_loop() -> asyncio.AbstractEventLoop:
    global _loop, _pid
    with _lock:
        if _loop is None or _pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="waha-background-loop",
                             daemon=True).start()
            _loop, _pid = loop, os.getpid()
        return _loop
