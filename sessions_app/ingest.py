"""Group commit: the events of every session of one engine process, kept in batches.

A client hands over its WhatsApp events (and history batches) here; a writer thread gathers
them into batches and keeps each batch in one transaction (`services.record_events`: store rows
and delivery rows in bulk, the channel layer and the broker once, after the commit). A client
thread waiting for its events is released once the batch holding them has committed, so a
message is still acknowledged to WhatsApp only once it is kept.

- A batch closes when it holds `size` events, or `window` seconds after its first event
  arrived, whichever comes first: a lone event waits at most the window, and under load each
  transaction carries many events.
- Events of one session are written in the order they arrived. When a batch fails, its halves
  are tried in turn, down to the events that fail alone (when the database does not answer at
  all, nothing is split: everything waits for the next try). A failed event is tried again
  after a growing pause (0.2 s up to 5 s) while its session's client lives; its session's later
  events wait behind it, the other sessions' events are kept meanwhile. Once the client ends
  (stop, takeover, shutdown), a failed event is given up, as a client that stops can no longer
  acknowledge anything.
- Events from the event loop's own thread (which must never block) are handed over the same
  way, without waiting.

Why a thread and not a task on the event loop: the callers that wait are client threads, which
block anyway; one long-lived thread owns one database connection for its whole life (kept open,
no connection per batch, no hop through `database_sync_to_async`'s executors), and neither the
loop's latency (reconcile, leases, requests) nor a slow commit can hold the other back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from django.db import connection, transaction

from . import services
from .slots import EventArrived, Kept

log = logging.getLogger("waha.engine")

BATCH_SIZE = 200
BATCH_WINDOW_SECONDS = 0.005
FIRST_RETRY_SECONDS = 0.2
LAST_RETRY_SECONDS = 5.0
# How often a failed event's session is checked while it waits for its next try.
ALIVE_CHECK_SECONDS = 0.05

Entry = tuple[str, Kept]  # (session uid, what to keep)


class Flag:
    """Set once, waited on by any number of threads: a lock held until it is set.

    A ticket per event needs one, and `threading.Event` builds a `Condition` (three caught
    AttributeErrors) for each: most of what handing an event over cost the engine."""

    __slots__ = ("_held", "_is_set")

    def __init__(self) -> None:
        self._held = threading.Lock()
        self._held.acquire()
        self._is_set = False

    def set(self) -> None:
        if not self._is_set:
            self._is_set = True
            self._held.release()

    def is_set(self) -> bool:
        return self._is_set

    def wait(self, timeout: float | None = None) -> bool:
        if self._is_set:
            return True
        if self._held.acquire(timeout=-1 if timeout is None else timeout):
            self._held.release()  # for the next waiter
        return self._is_set


class Ticket:
    """One event or history batch handed over, until it is kept or given up."""

    __slots__ = ("alive", "arrived", "delay", "item", "kept", "label", "retry_at", "settled",
                 "uid")

    def __init__(self, uid: str, item: Kept, label: str, alive: Callable[[], bool]) -> None:
        self.uid = uid
        self.item = item
        self.label = label
        self.alive = alive
        self.arrived = time.monotonic()
        self.settled = Flag()
        self.kept = False
        self.delay = FIRST_RETRY_SECONDS
        self.retry_at = 0.0

    @property
    def what(self) -> str:
        return "event" if isinstance(self.item, EventArrived) else "history batch"


def _record(entries: list[Entry]) -> None:
    services.record_events(entries)  # looked up at each call, so tests can replace it


class Batcher:
    """One engine's writer of events: `submit` (or `keep`, which waits) from any thread; the
    writer thread, started by `start`, keeps them in batches until `close`."""

    def __init__(self, write: Callable[[list[Entry]], None] = _record, *,
                 size: int = BATCH_SIZE, window: float = BATCH_WINDOW_SECONDS,
                 name: str = "waha-ingest") -> None:
        self.write = write
        self.size = size
        self.window = window
        self.arrivals: queue.SimpleQueue[Ticket | None] = queue.SimpleQueue()
        # Sessions whose first waiting event failed: their events in order, retried together.
        self.held: dict[str, deque[Ticket]] = {}
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._lock = threading.Lock()
        self._closed = False
        self._unsettled = 0

    # --- from any thread ------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def submit(self, uid: str, items: Sequence[Kept], *, label: str,
               alive: Callable[[], bool]) -> list[Ticket]:
        """Hand items of one session over, in order, without waiting."""
        tickets = [Ticket(uid, item, label, alive) for item in items]
        with self._lock:
            if not self._closed:
                self._unsettled += len(tickets)
                for ticket in tickets:
                    self.arrivals.put(ticket)
                return tickets
        for ticket in tickets:
            log.error("session %s ended before its %s could be kept: the engine is stopping",
                      label, ticket.what)
            ticket.settled.set()
        return tickets

    def keep(self, uid: str, items: Sequence[Kept], *, label: str,
             alive: Callable[[], bool]) -> int:
        """Hand items over and wait until each is kept or given up; answer how many of them,
        from the first, were kept."""
        tickets = self.submit(uid, items, label=label, alive=alive)
        for ticket in tickets:
            ticket.settled.wait()
        kept = 0
        while kept < len(tickets) and tickets[kept].kept:
            kept += 1
        return kept

    def backlog(self) -> int:
        """Items handed over and not yet kept or given up."""
        return self._unsettled

    def close(self, timeout: float = 10.0) -> None:
        """Keep what was handed over (one try each), give up the rest, and stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.arrivals.put(None)
        if self.thread.is_alive():
            self.thread.join(timeout)

    # --- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                try:
                    batch, more = self._collect()
                    if batch:
                        self._keep(batch, probe=True)
                except Exception:  # a bug here must not leave every client waiting forever
                    log.exception("the event writer failed; carrying on")
                    more = True
                if not more:
                    break
        finally:
            self._give_up_all()
            connection.close()

    def _collect(self) -> tuple[list[Ticket], bool]:
        """The next batch (due retries first, in order), and whether to carry on after it."""
        batch = self._due()
        if not batch:
            try:
                first = self.arrivals.get(timeout=ALIVE_CHECK_SECONDS if self.held else None)
            except queue.Empty:
                return [], True
            if first is None:
                return self._rest(), False
            self._route(first, batch)
        deadline = (batch[0].arrived if batch else time.monotonic()) + self.window
        while len(batch) < self.size:
            remaining = deadline - time.monotonic()
            try:
                ticket = (self.arrivals.get(timeout=remaining) if remaining > 0
                          else self.arrivals.get_nowait())
            except queue.Empty:
                break
            if ticket is None:
                return batch + self._rest(), False
            self._route(ticket, batch)
        return batch, True

    def _rest(self) -> list[Ticket]:
        """On closing: whatever is still queued, to be tried once."""
        rest: list[Ticket] = []
        while True:
            try:
                ticket = self.arrivals.get_nowait()
            except queue.Empty:
                return rest
            if ticket is not None:
                self._route(ticket, rest)

    def _route(self, ticket: Ticket, batch: list[Ticket]) -> None:
        held = self.held.get(ticket.uid)
        if held is not None:
            held.append(ticket)  # behind its session's failed event
        else:
            batch.append(ticket)

    def _due(self) -> list[Ticket]:
        """Held events whose session's next try is due; those of ended clients are given up."""
        now = time.monotonic()
        due: list[Ticket] = []
        for uid, tickets in list(self.held.items()):
            for ticket in [ticket for ticket in tickets if not ticket.alive()]:
                tickets.remove(ticket)
                self._give_up(ticket, "its session ended")
            if not tickets:
                del self.held[uid]
            elif tickets[0].retry_at <= now:
                due.extend(tickets)
                del self.held[uid]
        return due

    def _keep(self, batch: list[Ticket], *, probe: bool, failed: set[str] | None = None) -> None:
        """Commit a batch; if it fails, its halves in turn, down to the events that fail.

        `failed` names the sessions with an event held for its next try: their later events
        are held behind it, in order, instead of being tried.
        """
        failed = set() if failed is None else failed
        for ticket in batch:
            if ticket.uid in failed:
                self.held[ticket.uid].append(ticket)
        batch = [ticket for ticket in batch if ticket.uid not in failed]
        if not batch:
            return
        try:
            self._commit(batch)
            return
        except Exception as exc:
            error = exc
        if len(batch) > 1 and (not probe or self._database_answers()):
            if probe:
                log.warning("keeping a batch of %d failed (%s); keeping its halves in turn",
                            len(batch), error)
            middle = len(batch) // 2
            self._keep(batch[:middle], probe=False, failed=failed)
            self._keep(batch[middle:], probe=False, failed=failed)
            return
        for ticket in batch:  # alone, or the database does not answer: all wait for a next try
            if ticket.uid in failed:
                self.held[ticket.uid].append(ticket)
            elif self._failed(ticket, error):
                failed.add(ticket.uid)

    def _commit(self, batch: list[Ticket]) -> None:
        committed = False

        def settle() -> None:
            nonlocal committed
            committed = True
            for ticket in batch:
                ticket.kept = True
                self._settle(ticket)

        try:
            with transaction.atomic():
                # First of the commit hooks: clients are released before the channel layer and
                # the broker are told.
                transaction.on_commit(settle)
                self.write([(ticket.uid, ticket.item) for ticket in batch])
        except Exception:
            if committed:  # kept: it must never be written twice
                log.exception("after keeping %d events", len(batch))
                return
            connection.close()  # a failed write leaves a fresh connection to retry on
            raise

    def _database_answers(self) -> bool:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except Exception:
            connection.close()
            return False

    def _failed(self, ticket: Ticket, error: BaseException) -> bool:
        """Hold a failed event for its next try while its client lives; True when held."""
        with self._lock:
            closing = self._closed
        if closing or not ticket.alive():
            self._give_up(ticket, str(error))
            return False
        log.warning("keeping a %s of %s failed (%s); retrying in %.1f s", ticket.what,
                    ticket.label, error, ticket.delay)
        ticket.retry_at = time.monotonic() + ticket.delay
        ticket.delay = min(ticket.delay * 2, LAST_RETRY_SECONDS)
        self.held[ticket.uid] = deque([ticket])
        return True

    def _give_up(self, ticket: Ticket, why: str) -> None:
        log.error("session %s ended before its %s could be kept: %s", ticket.label, ticket.what,
                  why)
        self._settle(ticket)

    def _give_up_all(self) -> None:
        waiting = [ticket for tickets in self.held.values() for ticket in tickets]
        self.held.clear()
        for ticket in waiting + self._rest():
            self._give_up(ticket, "the engine is stopping")

    def _settle(self, ticket: Ticket) -> None:
        with self._lock:
            self._unsettled -= 1
        ticket.settled.set()
