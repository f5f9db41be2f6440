"""An engine's status writes, coalesced: the observations of many sessions in one transaction.

At boot an engine starts its sessions in batches, and each reports STARTING, then WORKING (or a
QR code), at about the same moment. Written one at a time, that is a transaction and five
statements per report; here the reports that arrive while one batch is being written go
together in the next (`services.record_statuses`). A lone report waits for nothing but one turn
of the event loop. Each caller still waits for its own report to be committed, and a session's
reports stay in order, since each session awaits its report before the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from . import services
from .models import Session
from .services import Observation

log = logging.getLogger("waha.engine")

BATCH_SIZE = 200

Write = Callable[[Sequence[Observation]], list[Session | None]]
OffLoop = Callable[[Write], Callable[[Sequence[Observation]], Awaitable[list[Session | None]]]]


def _write(observations: Sequence[Observation]) -> list[Session | None]:
    return services.record_statuses(observations)  # looked up at each call, so tests can replace it


class StatusWriter:
    """`record` from the event loop; `off_loop` says how database work leaves it (a thread)."""

    def __init__(self, off_loop: OffLoop, *, write: Write = _write,
                 size: int = BATCH_SIZE) -> None:
        self.off_loop = off_loop
        self.write = write
        self.size = size
        self.pending: list[tuple[Observation, asyncio.Future[Session | None]]] = []
        self.flushing: asyncio.Task[None] | None = None

    async def record(self, uid: str, status: str, **observed: Any) -> Session | None:
        """Write one observation (as `services.record_status`) and answer its session."""
        future: asyncio.Future[Session | None] = asyncio.get_running_loop().create_future()
        self.pending.append((Observation(uid, status, **observed), future))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush(), name="waha-status-writer")
        # Shielded: a caller that gives up does not take the others' batch with it.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        while self.pending:
            await asyncio.sleep(0)  # the reports of this turn of the loop join the batch
            batch, self.pending = self.pending[:self.size], self.pending[self.size:]
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[tuple[Observation, asyncio.Future[Session | None]]]
                           ) -> None:
        try:
            sessions = await self.off_loop(self.write)([o for o, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            # One report's failure is its own: each is tried alone.
            log.warning("a batch of %d status reports failed (%s); writing each alone",
                        len(batch), exc)
            for item in batch:
                await self._write_batch([item])
            return
        for (_, future), session in zip(batch, sessions, strict=True):
            _settle(future, result=session)


def _settle(future: asyncio.Future[Session | None], *, result: Session | None = None,
            error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
