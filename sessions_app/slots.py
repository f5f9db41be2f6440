"""One live client of the engine runtime, and what its callbacks hand over.

A client's callbacks arrive on threads the engine owns and must only translate and hand off.
Each becomes one small typed item: status items are queued for the slot's own task, which
applies them in order; events and history are handed to the runtime's batcher
(`sessions_app/ingest.py`), and from a client thread the callback returns only once they are
kept, so the client acknowledges them to WhatsApp only once they are stored.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .engines import EngineClient, SessionSpec


@dataclass(frozen=True, slots=True)
class QrShown:
    value: str
    expires_in: float


@dataclass(frozen=True, slots=True)
class Working:
    me: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Starting:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


@dataclass(frozen=True, slots=True)
class Paired:
    device_jid: str


@dataclass(frozen=True, slots=True)
class EventArrived:
    name: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HistoryArrived:
    batch: dict[str, Any]


# What a client thread waits for until it is kept.
Kept = EventArrived | HistoryArrived
Arrival = QrShown | Working | Starting | Failed | Paired | EventArrived | HistoryArrived


@dataclass
class Slot:
    """One live client of ours, for one generation of one session."""

    spec: SessionSpec
    generation: int
    client: EngineClient | None = None
    queue: asyncio.Queue[Arrival] = field(default_factory=asyncio.Queue)
    drainer: asyncio.Task[None] | None = None
    ending: asyncio.Future[None] | None = None

    @property
    def ended(self) -> bool:
        """Its client is ending or has ended: its callbacks are dropped from now on."""
        return self.ending is not None


class SlotCallbacks:
    """The EngineCallbacks of one slot, safe from any thread.

    Status callbacks are queued for the slot's task. Events and history from a client thread
    go to `keep` (the runtime's batcher), which returns once they are kept and answers how many
    were. On the loop's own thread, which must not block, they are queued like the rest, so
    they stay in order with the status changes around them; the slot's task hands them to the
    batcher without waiting (and 0 is answered: none is known kept yet).
    """

    def __init__(self, slot: Slot, loop: asyncio.AbstractEventLoop,
                 keep: Callable[[Slot, list[Kept]], int]) -> None:
        self.slot = slot
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self.keep = keep

    def _put(self, item: Arrival) -> None:
        self.loop.call_soon_threadsafe(self.slot.queue.put_nowait, item)

    def _keep(self, items: list[Kept]) -> int:
        if threading.get_ident() != self.loop_thread:
            return self.keep(self.slot, items)
        for item in items:
            self._put(item)
        return 0

    def qr(self, value: str, expires_in: float) -> None:
        self._put(QrShown(value, expires_in))

    def working(self, me: dict[str, Any]) -> None:
        self._put(Working(me))

    def starting(self, reason: str = "") -> None:
        self._put(Starting(reason))

    def failed(self, reason: str) -> None:
        self._put(Failed(reason))

    def event(self, name: str, payload: dict[str, Any]) -> None:
        self._keep([EventArrived(name, payload)])

    def events(self, batch: list[tuple[str, dict[str, Any]]]) -> int:
        return self._keep([EventArrived(name, payload) for name, payload in batch])

    def history(self, batch: dict[str, Any]) -> None:
        self._keep([HistoryArrived(batch)])

    def paired(self, device_jid: str) -> None:
        self._put(Paired(device_jid))
