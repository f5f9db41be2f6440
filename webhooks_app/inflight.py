"""What this worker process has on its way: sends per target, and attempts that outlived the task
that started them.

- `Outstanding` counts the sends in flight per target (origin), so a claim takes no more of a
  target than `WAHA_WEBHOOK_MAX_PER_TARGET` allows beside what is already on its way, and
  remembers the targets whose due deliveries were left for want of room.
- `LateRecorder` records, on one thread of its own, the attempts a task stopped waiting for (a
  slow receiver must not hold a worker thread for the whole timeout): they are recorded in bulk
  as they end, exactly as the task would have. Until then their rows stay claimed, so a process
  that dies meanwhile loses nothing: the sweeper sends them again once the claim runs out.

Both are per process (a forked child starts empty) and touch no database themselves.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("waha.webhooks")

T = TypeVar("T")
LATE_BATCH = 500
FLOWING_SECONDS = 1.0


class Outstanding:
    """Sends in flight in this process, per target. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._counts: Counter[str] = Counter()
        self._caps: dict[str, int] = {}  # the cap a target was last reserved under
        self._waiting: set[str] = set()
        self._last_done: dict[str, float] = {}

    def reserve(self, origin: str, cap: int | None) -> bool:
        """Count one more send to `origin` if it has room under `cap` (None: no cap)."""
        with self._lock:
            if cap is not None and self._counts[origin] >= cap:
                return False
            self._counts[origin] += 1
            if cap is not None:
                self._caps[origin] = cap
            return True

    def full(self, cap: int) -> set[str]:
        """Targets with no room left."""
        with self._lock:
            return {origin for origin, n in self._counts.items() if n >= cap}

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def done(self, origin: str) -> None:
        """One send to `origin` ended. Wakes a thread waiting for room only when this made
        room (the target was full), and every waiter once nothing is in flight: a wake-up per
        send ended would stir every waiting thread a hundred times a batch."""
        with self._lock:
            left = self._counts[origin] - 1
            made_room = left == self._caps.get(origin, 0) - 1
            if left > 0:
                self._counts[origin] = left
            else:
                del self._counts[origin]
                self._caps.pop(origin, None)
            self._last_done[origin] = time.monotonic()
            if not self._counts:
                self._lock.notify_all()
            elif made_room:
                self._lock.notify()

    def wait_for_room(self, origins: set[str], cap: int, timeout: float) -> bool:
        """Wait up to `timeout` for room at one of these targets, if one of them is flowing
        (a send to it ended within FLOWING_SECONDS: room is about to be made); whether there is.
        A target whose sends hang is not waited for."""
        with self._lock:
            horizon = time.monotonic() - FLOWING_SECONDS
            flowing = {o for o in origins if self._last_done.get(o, 0.0) > horizon}
            if len(self._last_done) > 4096:  # targets seen long ago
                self._last_done = {o: t for o, t in self._last_done.items() if t > horizon}
            return bool(flowing) and self._lock.wait_for(
                lambda: any(self._counts[o] < cap for o in flowing), timeout)

    def note_waiting(self, origin: str) -> None:
        """Due deliveries of this target were left for want of room."""
        with self._lock:
            self._waiting.add(origin)

    def take_waiting(self, origins: set[str]) -> bool:
        """Whether any of these targets had deliveries left for want of room (now forgotten)."""
        with self._lock:
            found = bool(self._waiting & origins)
            self._waiting -= origins
            return found

    def wait_empty(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: not self._counts, timeout)


class LateRecorder(Generic[T]):
    """One daemon thread that hands what arrives to `record`, in batches, in arrival order."""

    def __init__(self, record: Callable[[list[T]], None], name: str) -> None:
        self._record = record
        self._name = name
        self._queue: queue.Queue[T] = queue.Queue()
        self._busy = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()

    def adopt(self, future: concurrent.futures.Future[Any], item: T) -> None:
        """Record `item` once `future` is done; counted as busy from now on."""
        self._ensure_thread()
        with self._idle:
            self._busy += 1
        future.add_done_callback(lambda _: self._queue.put(item))

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._start_lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._busy = 0
                self._queue = queue.Queue()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < LATE_BATCH:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._record(items)
            except Exception:  # the rows stay claimed: the sweeper sends them again
                log.exception("could not record %d late webhook attempt(s)", len(items))
                time.sleep(0.1)
            finally:
                with self._idle:
                    self._busy -= len(items)
                    self._idle.notify_all()
