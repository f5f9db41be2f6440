"""The engine role: owns live clients and reconciles them with the desired state.

One asyncio loop. Every few seconds, and at every nudge, it claims what it may run (one
conditional UPDATE per session, so a session never has two owners), starts what should run,
stops what should not, and renews its leases. The same loop on boot is autostart.
Client callbacks may come from any thread; each session's are applied in order by its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import weakref
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import groups, services
from .engines import Engine, EngineClient, EngineError, SessionSpec
from .models import EngineProcess, Session, SessionStatus

log = logging.getLogger("waha.engine")

# The runtimes of this process, for /metrics (callback backlog, live clients).
RUNNING: weakref.WeakSet[EngineRuntime] = weakref.WeakSet()


@dataclass
class Slot:
    """One live client of ours, for one generation of one session."""

    spec: SessionSpec
    generation: int
    client: EngineClient | None = None
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    drainer: asyncio.Task[None] | None = None


class SlotCallbacks:
    """The EngineCallbacks of one slot: thread-safe, they only enqueue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, slot: Slot) -> None:
        self.loop = loop
        self.slot = slot

    def _put(self, kind: str, data: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.slot.queue.put_nowait, (kind, data))

    def qr(self, value: str, expires_in: float) -> None:
        self._put("qr", {"value": value, "expires_in": expires_in})

    def working(self, me: dict[str, Any]) -> None:
        self._put("working", {"me": me})

    def starting(self, reason: str = "") -> None:
        self._put("starting", {"reason": reason})

    def failed(self, reason: str) -> None:
        self._put("failed", {"reason": reason})

    def event(self, name: str, payload: dict[str, Any]) -> None:
        self._put("event", {"name": name, "payload": payload})

    def history(self, batch: dict[str, Any]) -> None:
        self._put("history", batch)

    def paired(self, device_jid: str) -> None:
        self._put("paired", {"device_jid": device_jid})


@dataclass(frozen=True)
class Row:
    """What reconcile needs of a session row, read in one query."""

    name: str
    uid: str
    config: dict[str, Any]
    should_run: bool
    generation: int
    logout_pending: bool
    owner: str
    lease_expires_at: datetime | None
    device_jid: str


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
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.tasks: list[asyncio.Task[Any]] = []
        self.inflight: set[asyncio.Task[Any]] = set()
        self.started = asyncio.Event()
        self.stopping = False

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Register, apply the autostart rules, start what should run, then keep reconciling."""
        await database_sync_to_async(self._register)()
        if self.layer is not None:
            await self.layer.group_add(groups.ENGINES_GROUP, self.channel)
            self.tasks.append(asyncio.create_task(self._listen(), name="engine-listen"))
        await database_sync_to_async(self._apply_boot_rules)()
        await self.reconcile_all(boot=True)
        self.tasks.append(asyncio.create_task(self._tick(), name="engine-tick"))
        self.started.set()
        RUNNING.add(self)
        log.info("engine %s (%s) running", self.worker_id, self.engine.name)

    async def shutdown(self) -> None:
        """Stop every client and hand the sessions back, keeping what the user wanted."""
        self.stopping = True
        RUNNING.discard(self)
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
                        slot.spec.uid, SessionStatus.STOPPED
                    )
        await database_sync_to_async(self._unregister)()
        if self.layer is not None:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(groups.ENGINES_GROUP, self.channel)
        log.info("engine %s stopped", self.worker_id)

    def callback_backlog(self) -> int:
        """Client callbacks received and not yet applied, over all of this runtime's sessions."""
        return sum(slot.queue.qsize() for slot in list(self.slots.values()))

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
        await database_sync_to_async(self._heartbeat)()
        names = await database_sync_to_async(self._candidates)()
        names |= set(self.slots)
        delay = settings.AUTO_START_DELAY_SECONDS if boot else 0
        for name in sorted(names):
            started = await self._safe_reconcile(name)
            if started and delay:
                await asyncio.sleep(delay)

    async def _safe_reconcile(self, name: str) -> bool:
        try:
            return await self.reconcile(name)
        except Exception:
            log.exception("reconcile of %s failed", name)
            return False

    async def reconcile(self, name: str) -> bool:
        """Bring one session in line with its row. Returns True when a client was started."""
        if self.stopping:
            return False
        async with self.locks[name]:
            row = await database_sync_to_async(self._load)(name)
            slot = self.slots.get(name)
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
                else:
                    await asyncio.to_thread(self.engine.wipe, _spec(row))
                await database_sync_to_async(self._logout_done)(row.uid)
            if not row.should_run:
                if slot is not None:
                    await self._end(slot, logout=False)
                if slot is not None or unlinked:
                    await database_sync_to_async(services.record_status)(
                        row.uid, SessionStatus.STOPPED
                    )
                await database_sync_to_async(self._release)(row.uid)
                return False
            if slot is not None and slot.generation == row.generation:
                if not await database_sync_to_async(self._claim)(row.uid):
                    await self._end(slot, logout=False)  # our lease was lost to another engine
                return False
            if slot is None and self.max_sessions is not None and (
                len(self.slots) >= self.max_sessions
            ):
                return False
            if not await database_sync_to_async(self._claim)(row.uid):
                if slot is not None:
                    await self._end(slot, logout=False)
                return False
            if slot is not None:
                await self._end(slot, logout=False)
            await self._start(row)
            return True

    async def _start(self, row: Row) -> None:
        spec = _spec(row)
        slot = Slot(spec=spec, generation=row.generation)
        self.slots[row.name] = slot
        await database_sync_to_async(services.record_status)(
            row.uid, SessionStatus.STARTING, generation=row.generation
        )
        slot.drainer = asyncio.create_task(self._drain(slot), name=f"drain-{row.name}")
        slot.client = self.engine.client(spec, SlotCallbacks(asyncio.get_running_loop(), slot))
        try:
            await slot.client.start()
        except Exception as exc:
            log.warning("session %s could not start: %s", row.name, exc)
            slot.queue.put_nowait(("failed", {"reason": str(exc) or type(exc).__name__}))

    async def _end(self, slot: Slot, *, logout: bool) -> None:
        """Take the slot out first, so its late callbacks are dropped, then end its client."""
        if self.slots.get(slot.spec.name) is slot:
            del self.slots[slot.spec.name]
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

    async def _drain(self, slot: Slot) -> None:
        """Apply one slot's callbacks in order, under the session's lock."""
        name = slot.spec.name
        while True:
            kind, data = await slot.queue.get()
            async with self.locks[name]:
                if self.slots.get(name) is not slot:
                    return
                try:
                    await self._apply(slot, kind, data)
                except Exception:
                    log.exception("applying %s of %s failed", kind, name)

    async def _apply(self, slot: Slot, kind: str, data: dict[str, Any]) -> None:
        record = database_sync_to_async(services.record_status)
        uid = slot.spec.uid
        if kind == "qr":
            await record(uid, SessionStatus.SCAN_QR_CODE, qr=data["value"],
                         qr_lifetime=data["expires_in"])
        elif kind == "working":
            await record(uid, SessionStatus.WORKING, me=data["me"])
        elif kind == "starting":
            await record(uid, SessionStatus.STARTING, reason=data.get("reason", ""))
        elif kind == "failed":
            await record(uid, SessionStatus.FAILED, reason=data["reason"])
        elif kind == "event":
            await database_sync_to_async(services.record_event)(uid, data["name"],
                                                                data["payload"])
        elif kind == "history":
            await database_sync_to_async(services.record_history)(uid, data)
        elif kind == "paired":
            await database_sync_to_async(services.record_device)(uid, data["device_jid"])

    # --- requests from the API --------------------------------------------------------------------
    async def _answer(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any]
        try:
            result = await self.handle_request(message["op"], message["session"],
                                               message.get("args") or {})
            reply = {"ok": True, "result": result}
        except EngineError as exc:
            reply = {"ok": False, "status": exc.status, "message": exc.message}
        except Exception as exc:
            log.exception("request %s for %s failed", message.get("op"), message.get("session"))
            reply = {"ok": False, "status": 500, "message": f"{type(exc).__name__}: {exc}"}
        if self.layer is not None and message.get("reply"):
            await self.layer.send(message["reply"], reply)

    async def handle_request(self, op: str, name: str, args: dict[str, Any]) -> Any:
        slot = self.slots.get(name)
        if slot is None or slot.client is None:
            raise EngineError(f"Session '{name}' is not running on this engine", 409)
        if op == "request_code":
            return await slot.client.request_code(args["phoneNumber"])
        if op == "send_text":
            return await slot.client.send_text(args["chatId"], args["text"], args.get("reply_to"))
        raise EngineError(f"unknown request {op!r}", 400)

    # --- database work (run in a thread) ----------------------------------------------------------
    def _register(self) -> None:
        now = timezone.now()
        EngineProcess.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={"engine": self.engine.name, "hostname": socket.gethostname(),
                      "pid": os.getpid(), "started_at": now, "heartbeat_at": now},
        )

    def _unregister(self) -> None:
        Session.objects.owned_by(self.worker_id).update(owner="", lease_expires_at=None)
        EngineProcess.objects.filter(worker_id=self.worker_id).delete()

    def _heartbeat(self) -> None:
        now = timezone.now()
        EngineProcess.objects.filter(worker_id=self.worker_id).update(heartbeat_at=now)
        Session.objects.owned_by(self.worker_id).update(
            lease_expires_at=now + timedelta(seconds=self.lease_seconds)
        )

    def _apply_boot_rules(self) -> None:
        if settings.RESTART_ALL_SESSIONS:
            Session.objects.filter(should_run=False).update(should_run=True)
        if settings.START_SESSIONS:
            Session.objects.filter(name__in=settings.START_SESSIONS, should_run=False).update(
                should_run=True
            )

    def _candidates(self) -> set[str]:
        now = timezone.now()
        wanted = Q(should_run=True) | Q(logout_pending=True)
        claimable = Session.objects.claimable_by(self.worker_id, now).filter(wanted)
        mine = Session.objects.owned_by(self.worker_id)
        return set(claimable.values_list("name", flat=True)) | set(
            mine.values_list("name", flat=True)
        )

    def _load(self, name: str) -> Row | None:
        values = (
            Session.objects.filter(name=name)
            .values("name", "uid", "config", "should_run", "generation", "logout_pending",
                    "owner", "lease_expires_at", "device_jid")
            .first()
        )
        return None if values is None else Row(**values)

    def _claim(self, uid: str) -> bool:
        """Take or renew the lease: one conditional UPDATE, so two engines never both win."""
        now = timezone.now()
        claimed = (
            Session.objects.filter(uid=uid)
            .claimable_by(self.worker_id, now)
            .update(owner=self.worker_id,
                    lease_expires_at=now + timedelta(seconds=self.lease_seconds))
        )
        return claimed == 1

    def _release(self, uid: str) -> None:
        Session.objects.filter(uid=uid, owner=self.worker_id).update(
            owner="", lease_expires_at=None
        )

    def _logout_done(self, uid: str) -> None:
        Session.objects.filter(uid=uid).update(logout_pending=False, me=None, device_jid="")


def _spec(row: Row) -> SessionSpec:
    return SessionSpec(name=row.name, uid=row.uid, config=row.config, device_jid=row.device_jid)
