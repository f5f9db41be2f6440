"""The engine role: owns live clients and reconciles them with the desired state.

One asyncio loop. Every few seconds, and at every nudge, it claims what it may run (conditional
UPDATEs, so a session never has two owners), starts what should run and stops what should not.
The same loop on boot is autostart. A pass claims the sessions it would start in batches (one
UPDATE each) and reconciles a batch's sessions at once, each under its own lock; with
WAHA_AUTO_START_DELAY_SECONDS set, boot starts one session at a time instead.

Leases are renewed by their own task, and a second task fences: when the leases could not be
renewed for most of their lifetime (the database is unreachable), every client is stopped before
another engine may take its session over. Writes of observed state are conditional on still
owning the session, so an engine that lost a session cannot overwrite what the new owner reports.

Client callbacks may come from any thread. Status callbacks are applied in order by each
session's own task. WhatsApp events go to the batcher (`ingest.py`), which keeps the events of
every session in batches (group commit); one arriving on a client thread is kept before the
callback returns, so the engine acknowledges a message to WhatsApp only once it is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar, assert_never

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.utils import timezone

from waha_project.logs import log_context

from . import groups, monitoring, services
from .engines import PROFILE_CALLS, Engine, EngineError, EngineUnsupported
from .ingest import Batcher
from .models import EngineProcess, Session, SessionStatus
from .slots import (
    Arrival,
    EventArrived,
    Failed,
    HistoryArrived,
    Kept,
    Paired,
    QrShown,
    Slot,
    SlotCallbacks,
    Starting,
    Working,
)
from .status_writer import StatusWriter

log = logging.getLogger("waha.engine")
T = TypeVar("T")
# What reconcile compares of each candidate row to tell a steady session.
STEADY_FIELDS = ("name", "uid", "should_run", "generation", "logout_pending", "owner")
# Sessions claimed in one UPDATE and started together by a reconcile pass (boot, takeover),
# and the threads their database work runs on meanwhile (more only adds memory here).
BATCH_SIZE = 50
RECONCILE_THREADS = 3


class EngineRuntime:
    def __init__(
        self,
        engine: Engine,
        *,
        worker_id: str | None = None,
        lease_seconds: float | None = None,
        reconcile_seconds: float | None = None,
        max_sessions: int | None = None,
        layer: BaseChannelLayer | None = None,
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id or settings.WORKER_ID
        self.lease_seconds = lease_seconds or settings.LEASE_SECONDS
        self.reconcile_seconds = reconcile_seconds or settings.RECONCILE_SECONDS
        self.max_sessions = max_sessions
        self.layer = layer or get_channel_layer()
        self.channel = groups.engine_channel(self.worker_id)
        self.slots: dict[str, Slot] = {}
        self.reserved = 0  # new clients decided on and not yet in `slots` (the cap counts them)
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.tasks: list[asyncio.Task[Any]] = []
        self.inflight: set[asyncio.Task[Any]] = set()
        self.started = asyncio.Event()
        self.stopping = False
        # Leases are renewed this often, and clients fenced this long before they could expire.
        self.renew_seconds = min(self.reconcile_seconds, self.lease_seconds / 3)
        self.fence_margin = max(self.lease_seconds / 5, 2 * self.renew_seconds)
        self.renewed_at = time.monotonic()
        self.batcher = Batcher()
        self.statuses = StatusWriter(self._in_parallel)
        self.reconcilers = ThreadPoolExecutor(max_workers=RECONCILE_THREADS,
                                              thread_name_prefix="waha-reconcile")

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Register, apply the autostart rules, start what should run, then keep reconciling."""
        self.batcher.start()
        self.renewed_at = time.monotonic()
        waited = False
        while (other := await database_sync_to_async(self._register)()) is not None:
            if not waited:
                log.error("engine id %s is in use by %s; waiting until it stops (give every "
                          "engine process its own WAHA_WORKER_ID)", self.worker_id, other)
                waited = True
            await asyncio.sleep(self.renew_seconds)
        self.renewed_at = time.monotonic()
        if self.layer is not None:
            await self.layer.group_add(groups.ENGINES_GROUP, self.channel)
            self.tasks.append(asyncio.create_task(self._listen(), name="engine-listen"))
        await database_sync_to_async(self._apply_boot_rules)()
        self.tasks.append(asyncio.create_task(self._renew(), name="engine-renew"))
        self.tasks.append(asyncio.create_task(self._fence(), name="engine-fence"))
        await self.reconcile_all(boot=True)
        self.tasks.append(asyncio.create_task(self._tick(), name="engine-tick"))
        self.started.set()
        monitoring.RUNTIMES.add(self)
        log.info("engine %s (%s) running", self.worker_id, self.engine.name)

    async def shutdown(self) -> None:
        """Stop every client and hand the sessions back, keeping what the user wanted."""
        self.stopping = True
        monitoring.RUNTIMES.discard(self)
        pending = [*self.tasks, *self.inflight]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        for name in list(self.slots):
            async with self.locks[name]:
                slot = self.slots.get(name)
                if slot is not None:
                    await self._end(slot, logout=False)
                    await database_sync_to_async(services.record_status)(
                        slot.spec.uid, SessionStatus.STOPPED, owner=self.worker_id
                    )
        await database_sync_to_async(self._unregister)()
        await asyncio.to_thread(self.batcher.close)
        self.reconcilers.shutdown(wait=False, cancel_futures=True)
        if self.layer is not None:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(groups.ENGINES_GROUP, self.channel)
        log.info("engine %s stopped", self.worker_id)

    def callback_backlog(self) -> int:
        """Client callbacks received and not yet applied, over all of this runtime's sessions."""
        queued = sum(slot.queue.qsize() for slot in list(self.slots.values()))
        return queued + self.batcher.backlog()

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            began = time.monotonic()
            try:
                # Off the thread every other database call queues on: a busy boot must not
                # delay the renewal into the fence.
                owned = await database_sync_to_async(self._heartbeat, thread_sensitive=False)()
            except Exception:
                log.exception("renewing the leases failed; retrying")
                continue
            if owned is None:
                log.error("engine id %s was taken by another process while this one could not "
                          "renew; stopping every client", self.worker_id)
                self.stopping = True
                self._end_every_client()
                return
            self.renewed_at = began
            for name in set(self.slots) - owned:
                self._spawn(self._safe_reconcile(name))  # taken over: end our client

    def _end_every_client(self) -> int:
        """Begin ending every client not already ending; answer how many."""
        live = [slot for slot in self.slots.values() if not slot.ended]
        for slot in live:
            self._spawn(self._end(slot, logout=False))
        return len(live)

    async def _fence(self) -> None:
        """Stop every client before leases that could not be renewed may pass to another engine."""
        while True:
            await asyncio.sleep(min(1.0, self.renew_seconds))
            unrenewed = time.monotonic() - self.renewed_at
            if unrenewed > self.lease_seconds - self.fence_margin and (
                    stopping := self._end_every_client()):
                log.error("engine %s could not renew its leases for %.1f s; stopping its %d "
                          "clients so that no session runs in two engines", self.worker_id,
                          unrenewed, stopping)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_seconds)
            try:
                await self.reconcile_all()
            except Exception:
                log.exception("reconcile failed; retrying at the next tick")

    async def _listen(self) -> None:
        assert self.layer is not None
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("channel layer receive failed")
                await asyncio.sleep(1)
                continue
            if message.get("type") == groups.NUDGE_MESSAGE:
                self._spawn(self._safe_reconcile(message["session"]))
            elif message.get("type") == groups.REQUEST_MESSAGE:
                self._spawn(self._answer(message))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    # --- reconcile ------------------------------------------------------------------------------
    async def reconcile_all(self, *, boot: bool = False) -> None:
        candidates = await database_sync_to_async(self._candidates)()
        names = sorted({name for name, row in candidates.items() if not self._steady(name, row)}
                       | (set(self.slots) - set(candidates)))
        delay = settings.AUTO_START_DELAY_SECONDS if boot else 0
        if delay:  # spaced starts, as asked: one session at a time
            for name in names:
                if await self._safe_reconcile(name) and delay:
                    await asyncio.sleep(delay)
            return
        for first in range(0, len(names), BATCH_SIZE):
            await self._reconcile_batch(names[first:first + BATCH_SIZE], candidates)

    async def _reconcile_batch(self, names: list[str], candidates: dict[str, dict[str, Any]]
                               ) -> None:
        """Claim in one UPDATE the sessions of `names` this engine would start, then reconcile
        each of them at once, each under its own lock and by its own rules."""
        free = (len(names) if self.max_sessions is None
                else max(0, self.max_sessions - len(self.slots) - self.reserved))
        wanted = [candidates[name]["uid"] for name in names
                  if name in candidates and self._startable(name, candidates[name])][:free]
        batch = await self._in_parallel(self._claim_many)(wanted) if wanted else set()
        await asyncio.gather(*(self._safe_reconcile(name, batch) for name in names))

    async def _safe_reconcile(self, name: str, batch: set[str] | None = None) -> bool:
        try:
            return await self.reconcile(name, batch)
        except Exception:
            log.exception("reconcile of %s failed", name)
            return False

    async def reconcile(self, name: str, batch: set[str] | None = None) -> bool:
        """Bring one session in line with its row. Returns True when a client was started.

        `batch`: the uids a batch has just claimed for this engine; a session among them that
        the row still shows as ours is not claimed again on its own.
        """
        batch = batch or set()
        if self.stopping:
            return False
        with log_context(session=name, worker_id=self.worker_id):
            async with self.locks[name]:
                row = await self._in_parallel(services.SESSION_BY_NAME.find)(name)
                slot = self.slots.get(name)
                if slot is not None and slot.ended:
                    return False  # its client is still stopping; the next pass starts another
                if slot is not None and (row is None or row.uid != slot.spec.uid):
                    # Deleted (or deleted and created again): unlink the old device.
                    await self._end(slot, logout=True)
                    slot = None
                if row is None:
                    return False
                unlinked = False
                if row.logout_pending:
                    if not await database_sync_to_async(self._claim)(row.uid):
                        return False
                    if slot is not None:
                        await self._end(slot, logout=True)
                        slot, unlinked = None, True
                    # The row knows the device even when it was paired after the slot started.
                    await asyncio.to_thread(self.engine.wipe, services.spec_of(row))
                    await database_sync_to_async(Session.objects.finish_logout)(row.uid)
                if not row.should_run:
                    if slot is not None:
                        await self._end(slot, logout=False)
                    if slot is not None or unlinked:
                        await self.statuses.record(row.uid, SessionStatus.STOPPED,
                                                   owner=self.worker_id)
                    await database_sync_to_async(Session.objects.release)(row.uid,
                                                                          self.worker_id)
                    return False
                if slot is not None and slot.generation == row.generation:
                    if not await database_sync_to_async(self._claim)(row.uid):
                        await self._end(slot, logout=False)  # our lease was lost to another engine
                    return False
                if slot is None and self.max_sessions is not None and (
                    len(self.slots) + self.reserved >= self.max_sessions
                ):
                    if row.uid in batch:  # claimed by its batch, and full since: hand it back
                        await database_sync_to_async(Session.objects.release)(row.uid,
                                                                              self.worker_id)
                    return False
                reserving = slot is None  # counted against the cap until its slot exists
                self.reserved += int(reserving)
                try:
                    # The batch's claim holds if the row, read under the lock after it, still
                    # shows our live lease; otherwise claim again, conditionally, as always.
                    claimed = (row.uid in batch and row.owner == self.worker_id
                               and row.lease_is_live()) or await database_sync_to_async(
                        self._claim)(row.uid)
                    if not claimed:
                        if slot is not None:
                            await self._end(slot, logout=False)
                        return False
                    if slot is not None:
                        await self._end(slot, logout=False)
                    await self._start(row)
                    return True
                finally:
                    self.reserved -= int(reserving)

    async def _start(self, row: Session) -> None:
        spec = services.spec_of(row)
        slot = Slot(spec=spec, generation=row.generation)
        self.slots[row.name] = slot
        await self.statuses.record(row.uid, SessionStatus.STARTING, generation=row.generation,
                                   owner=self.worker_id)
        if slot.ended:  # fenced meanwhile: start no client nothing would track
            return
        slot.drainer = asyncio.create_task(self._drain(slot), name=f"drain-{row.name}")
        slot.client = self.engine.client(
            spec, SlotCallbacks(slot, asyncio.get_running_loop(), self.keep)
        )
        try:
            await slot.client.start()
        except Exception as exc:
            log.warning("session %s could not start: %s", row.name, exc)
            slot.queue.put_nowait(Failed(str(exc) or type(exc).__name__))

    async def _end(self, slot: Slot, *, logout: bool) -> None:
        """End the slot's client; its late callbacks are dropped from now on.

        The slot stays in `slots` until its client has stopped, so no second client of the
        session starts meanwhile. Every caller waits for the same ending, and a caller that is
        cancelled does not cancel it.
        """
        if slot.ending is None:
            slot.ending = asyncio.ensure_future(self._stop_slot(slot, logout=logout))
        await asyncio.shield(slot.ending)

    async def _stop_slot(self, slot: Slot, *, logout: bool) -> None:
        if slot.client is not None:
            try:
                await (slot.client.logout() if logout else slot.client.stop())
            except Exception:
                log.exception("ending the client of %s failed", slot.spec.name)
        if logout:
            await asyncio.to_thread(self.engine.wipe, slot.spec)
        if slot.drainer is not None:
            slot.drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await slot.drainer
        if self.slots.get(slot.spec.name) is slot:
            del self.slots[slot.spec.name]

    async def _drain(self, slot: Slot) -> None:
        """Apply one slot's callbacks in order, under the session's lock."""
        name = slot.spec.name
        with log_context(session=name, worker_id=self.worker_id):
            while True:
                item = await slot.queue.get()
                async with self.locks[name]:
                    if self.slots.get(name) is not slot or slot.ended:
                        return
                    try:
                        await self._apply(slot, item)
                    except Exception:
                        log.exception("applying %s of %s failed", type(item).__name__, name)

    async def _apply(self, slot: Slot, item: Arrival) -> None:
        record = self.statuses.record
        uid, owner = slot.spec.uid, self.worker_id
        match item:
            case QrShown(value, expires_in):
                await record(uid, SessionStatus.SCAN_QR_CODE, qr=value, qr_lifetime=expires_in,
                             owner=owner)
            case Working(me):
                await record(uid, SessionStatus.WORKING, me=me, owner=owner)
            case Starting(reason):
                await record(uid, SessionStatus.STARTING, reason=reason, owner=owner)
            case Failed(reason):
                await record(uid, SessionStatus.FAILED, reason=reason, owner=owner)
            case EventArrived() | HistoryArrived():
                # From the loop's own thread: kept like the others, and nothing waits for it.
                self.batcher.submit(uid, [item], label=slot.spec.name, alive=self._alive(slot))
            case Paired(device_jid):
                await database_sync_to_async(Session.objects.set_device)(uid, device_jid,
                                                                         owner=owner)
            case _:
                assert_never(item)

    def keep(self, slot: Slot, items: list[Kept]) -> int:
        """On a client thread: hand events to the batcher and return once each is kept or
        given up; answer how many of them, from the first, were kept.

        WhatsApp acknowledges a message once the client's handler returns, so returning before
        it is kept could lose it. A failed write is retried while the slot lives; a slot that
        ends (stop, takeover, shutdown) gives up.
        """
        return self.batcher.keep(slot.spec.uid, items, label=slot.spec.name,
                                 alive=self._alive(slot))

    def _alive(self, slot: Slot) -> Callable[[], bool]:
        return lambda: not (slot.ended or self.stopping)

    # --- requests from the API --------------------------------------------------------------------
    async def _answer(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any]
        try:
            result = await self.handle_request(message["op"], message["session"],
                                               message.get("args") or {})
            reply = {"ok": True, "result": result}
        except EngineError as exc:
            reply = {"ok": False, "message": exc.message}
        except EngineUnsupported as exc:
            reply = {"ok": False, "message": exc.message, "unsupported": True}
        except Exception as exc:
            log.exception("request %s for %s failed", message.get("op"), message.get("session"))
            reply = {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
        if self.layer is not None and message.get("reply"):
            await self.layer.send(message["reply"], reply)

    async def handle_request(self, op: str, name: str, args: dict[str, Any]) -> Any:
        slot = self.slots.get(name)
        if slot is None or slot.client is None or slot.ended:
            raise EngineError(f"Session '{name}' is not running on this engine")
        if op == "request_code":
            return await slot.client.request_code(args["phoneNumber"])
        if op == "send_text":
            return await slot.client.send_text(args["chatId"], args["text"], args.get("reply_to"))
        if op in PROFILE_CALLS:
            return await getattr(slot.client, op)(**args)
        raise EngineError(f"unknown request {op!r}")

    # --- database work (run in a thread) ----------------------------------------------------------
    def _register(self) -> str | None:
        """Register under our id; answer who holds it instead while another process runs as us."""
        other = EngineProcess.objects.register(self.worker_id, engine=self.engine.name,
                                               hostname=socket.gethostname(), pid=os.getpid(),
                                               now=timezone.now())
        return None if other is None else f"pid {other.pid} on {other.hostname}"

    def _unregister(self) -> None:
        Session.objects.release_all(self.worker_id)
        EngineProcess.objects.filter(worker_id=self.worker_id).delete()

    def _heartbeat(self) -> set[str] | None:
        """Renew every lease we hold; answer the names of the sessions we still own, or None
        when another process has taken our id (after we could not renew for a whole lease)."""
        now = timezone.now()
        if not EngineProcess.objects.beat(self.worker_id, engine=self.engine.name,
                                          hostname=socket.gethostname(), pid=os.getpid(), now=now):
            return None
        return Session.objects.renew(self.worker_id, now + timedelta(seconds=self.lease_seconds))

    def _apply_boot_rules(self) -> None:
        if settings.RESTART_ALL_SESSIONS:
            Session.objects.want_running()
        if settings.START_SESSIONS:
            Session.objects.filter(name__in=settings.START_SESSIONS).want_running()

    def _steady(self, name: str, row: dict[str, Any]) -> bool:
        """Our live client already runs what the row wants: nothing to reconcile.

        Its lease is renewed by the heartbeat, which also notices one taken over.
        """
        slot = self.slots.get(name)
        return (slot is not None and not slot.ended and slot.spec.uid == row["uid"]
                and slot.generation == row["generation"] and row["should_run"]
                and not row["logout_pending"] and row["owner"] == self.worker_id)

    def _candidates(self) -> dict[str, dict[str, Any]]:
        """The sessions this engine may have to act on, with what reconcile compares, in one
        query."""
        rows = Session.objects.candidates(self.worker_id, timezone.now()).values(*STEADY_FIELDS)
        return {row["name"]: dict(row) for row in rows}

    def _startable(self, name: str, row: dict[str, Any]) -> bool:
        """A candidate that a pass would start here: wanted running, not being logged out, and
        without a client of ours yet."""
        return name not in self.slots and row["should_run"] and not row["logout_pending"]

    def _in_parallel(self, function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
        """Database work that the sessions of a batch do at once: on this runtime's few
        reconcile threads, each with a connection of its own, rather than queued on the one
        thread the engine's other calls share. Each call is whole (its own transaction)."""
        return database_sync_to_async(function, thread_sensitive=False,
                                      executor=self.reconcilers)

    def _claim(self, uid: str) -> bool:
        return Session.objects.claim(uid, self.worker_id, timezone.now(), self.lease_seconds)

    def _claim_many(self, uids: list[str]) -> set[str]:
        return Session.objects.claim_many(uids, self.worker_id, timezone.now(),
                                          self.lease_seconds)


