"""What this worker process has on its way: sends per target, and attempts that outlived the task
that started them.

- `Outstanding` counts the sends in flight per target (origin), so a claim takes no more of a
  target than `WAHA_WEBHOOK_MAX_PER_TARGET` allows beside what is already on its way, and
  remembers the targets whose due deliveries were left for want of room.
- `Recorder` records every attempt, on one thread of its own, in bulk as the sends end: a task
  hands its sends over and goes on claiming (a slow receiver never holds a worker thread, and
  the database sees one write for many attempts, whichever task started them). Until an
  attempt is recorded its row stays claimed, so a process that dies meanwhile loses nothing:
  the sweeper sends it again once the claim runs out.

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
RECORD_BATCH = 500
FLOWING_SECONDS = 1.0


class Outstanding:
    """Sends in flight in this process, per target. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._counts: Counter[str] = Counter()
        self._waiting: set[str] = set()
        self._last_done: dict[str, float] = {}

    def reserve(self, origin: str, cap: int | None) -> bool:
        """Count one more send to `origin` if it has room under `cap` (None: no cap)."""
        with self._lock:
            if cap is not None and self._counts[origin] >= cap:
                return False
            self._counts[origin] += 1
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
        with self._lock:
            self._counts[origin] -= 1
            if self._counts[origin] <= 0:
                del self._counts[origin]
            self._last_done[origin] = time.monotonic()
            self._lock.notify_all()

    def wait_for_room(self, origins: set[str], cap: int, timeout: float, want: int = 1) -> bool:
        """Wait up to `timeout` for room for `want` sends at one of these targets, if one of
        them is flowing (a send to it ended within FLOWING_SECONDS: room is about to be made);
        whether there is room (for at least one) in the end. A target whose sends hang is not
        waited for."""
        want = max(1, min(want, cap))
        with self._lock:
            horizon = time.monotonic() - FLOWING_SECONDS
            flowing = {o for o in origins if self._last_done.get(o, 0.0) > horizon}
            if len(self._last_done) > 4096:  # targets seen long ago
                self._last_done = {o: t for o, t in self._last_done.items() if t > horizon}
            if not flowing:
                return False
            self._lock.wait_for(lambda: any(self._counts[o] <= cap - want for o in flowing),
                                timeout)
            return any(self._counts[o] < cap for o in flowing)

    def has_room(self, origins: set[str], cap: int) -> bool:
        with self._lock:
            return any(self._counts[o] < cap for o in origins)

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


class Tally:
    """How many of one task's attempts are not recorded yet, to wait for."""

    def __init__(self) -> None:
        self._left = 0
        self._done = threading.Condition()

    def add(self, n: int) -> None:
        with self._done:
            self._left += n

    def settle(self, n: int) -> None:
        with self._done:
            self._left -= n
            if self._left <= 0:
                self._done.notify_all()

    def wait(self, timeout: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self._left <= 0, timeout)


class Recorder(Generic[T]):
    """One daemon thread that hands what arrives to `record`, in batches, in arrival order."""

    def __init__(self, record: Callable[[list[T]], None], name: str) -> None:
        self._record = record
        self._name = name
        self._queue: queue.SimpleQueue[tuple[T, Tally | None]] = queue.SimpleQueue()
        self._busy = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()

    def adopt(self, items: list[tuple[concurrent.futures.Future[Any], T]],
              tally: Tally | None = None) -> None:
        """Record each item once its future is done; counted as busy from now on, and in
        `tally` until recorded."""
        self._ensure_thread()
        with self._idle:
            self._busy += len(items)
        if tally is not None:
            tally.add(len(items))
        put = self._queue.put
        for future, item in items:
            future.add_done_callback(lambda _, item=item: put((item, tally)))  # type: ignore[misc]

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
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            arrived = [self._queue.get()]
            while len(arrived) < RECORD_BATCH:
                try:
                    arrived.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._record([item for item, _ in arrived])
            except Exception:  # the rows stay claimed: the sweeper sends them again
                log.exception("could not record %d webhook attempt(s)", len(arrived))
                time.sleep(0.1)
            finally:
                tallies = Counter(tally for _, tally in arrived if tally is not None)
                for tally, n in tallies.items():
                    tally.settle(n)
                with self._idle:
                    self._busy -= len(arrived)
                    self._idle.notify_all()
