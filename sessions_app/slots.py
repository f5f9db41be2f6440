"""One live client of the engine runtime, and what its callbacks hand over.

A client's callbacks arrive on threads the engine owns and must only translate and hand off.
Each becomes one small typed item: status items are queued for the slot's own task, which
applies them in order; events and history from a client thread are kept (written) before the
callback returns, so the client acknowledges them to WhatsApp only once they are stored.
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
    # Events being written for a client thread that waits for them.
    writing: int = 0

    @property
    def ended(self) -> bool:
        """Its client is ending or has ended: its callbacks are dropped from now on."""
        return self.ending is not None


class SlotCallbacks:
    """The EngineCallbacks of one slot, safe from any thread.

    Status callbacks are queued for the slot's task. Events and history from a client thread
    go to `keep`, which returns once they are written; on the loop's own thread, which must not
    block, they are queued like the rest.
    """

    def __init__(self, slot: Slot, loop: asyncio.AbstractEventLoop,
                 keep: Callable[[Slot, Kept], None]) -> None:
        self.slot = slot
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self.keep = keep

    def _put(self, item: Arrival) -> None:
        self.loop.call_soon_threadsafe(self.slot.queue.put_nowait, item)

    def _keep(self, item: Kept) -> None:
        if threading.get_ident() == self.loop_thread:
            self._put(item)
        else:
            self.keep(self.slot, item)

    def qr(self, value: str, expires_in: float) -> None:
        self._put(QrShown(value, expires_in))

    def working(self, me: dict[str, Any]) -> None:
        self._put(Working(me))

    def starting(self, reason: str = "") -> None:
        self._put(Starting(reason))

    def failed(self, reason: str) -> None:
        self._put(Failed(reason))

    def event(self, name: str, payload: dict[str, Any]) -> None:
        self._keep(EventArrived(name, payload))

    def history(self, batch: dict[str, Any]) -> None:
        self._keep(HistoryArrived(batch))

    def paired(self, device_jid: str) -> None:
        self._put(Paired(device_jid))
