"""A deterministic engine for tests and demos, with the real engine's timing model.

Start → QR codes rotating (first, then next, a fixed number of codes) → FAILED when they run out,
or WORKING once paired by a test hook, by `pair_after` seconds, or after a pairing code.
Auth state is a small JSON file per session, so a paired session resumes without a QR code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import string
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings

from .base import (
    Engine,
    EngineCallbacks,
    EngineClient,
    EngineError,
    SessionSpec,
    sent_text_payload,
)

QR_EXPIRED = "QR code was not scanned in time: all QR codes expired"


class FakeEngine(Engine):
    name = "fake"

    def __init__(
        self,
        auth_dir: Path,
        *,
        qr_first: float,
        qr_next: float,
        qr_codes: int,
        pair_after: float | None = None,
    ) -> None:
        self.auth_dir = auth_dir
        self.qr_first = qr_first
        self.qr_next = qr_next
        self.qr_codes = qr_codes
        self.pair_after = pair_after
        self.live: dict[str, FakeClient] = {}
        self.live_count: dict[str, int] = defaultdict(int)
        self.peak_live: dict[str, int] = defaultdict(int)
        self.started: dict[str, int] = defaultdict(int)

    @classmethod
    def from_settings(cls) -> FakeEngine:
        return cls(
            Path(settings.DATA_DIR) / "fake-engine",
            qr_first=settings.QR_FIRST_SECONDS,
            qr_next=settings.QR_NEXT_SECONDS,
            qr_codes=settings.QR_CODES,
            pair_after=settings.FAKE_PAIR_AFTER_SECONDS,
        )

    def client(self, spec: SessionSpec, callbacks: EngineCallbacks) -> FakeClient:
        return FakeClient(self, spec, callbacks)

    def auth_path(self, spec: SessionSpec) -> Path:
        return self.auth_dir / f"{spec.uid}.json"

    def wipe(self, spec: SessionSpec) -> None:
        self.auth_path(spec).unlink(missing_ok=True)

    def has_auth(self, spec: SessionSpec) -> bool:
        return self.auth_path(spec).exists()

    # --- test hooks: what a phone would do -----------------------------------------------------
    def pair(self, session_name: str, phone_number: str | None = None) -> None:
        self._live_client(session_name).pair(phone_number)

    def receive_text(self, session_name: str, chat_id: str, text: str) -> None:
        self._live_client(session_name).receive_text(chat_id, text)

    def logout_from_phone(self, session_name: str) -> None:
        self._live_client(session_name).logged_out_from_phone()

    def _live_client(self, session_name: str) -> FakeClient:
        try:
            return self.live[session_name]
        except KeyError:
            raise EngineError(f"no live fake client for {session_name}", 404) from None

    def _went_live(self, client: FakeClient) -> None:
        name = client.spec.name
        self.live[name] = client
        self.live_count[name] += 1
        self.started[name] += 1
        self.peak_live[name] = max(self.peak_live[name], self.live_count[name])

    def _went_down(self, client: FakeClient) -> None:
        name = client.spec.name
        self.live_count[name] -= 1
        if self.live.get(name) is client:
            del self.live[name]


class FakeClient(EngineClient):
    def __init__(self, engine: FakeEngine, spec: SessionSpec, callbacks: EngineCallbacks) -> None:
        self.engine = engine
        self.spec = spec
        self.callbacks = callbacks
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.alive = False
        self.scanning = False
        self._paired = asyncio.Event()
        self._phone: str | None = None
        self.me: dict[str, Any] | None = None

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.alive = True
        self.engine._went_live(self)
        self.task = asyncio.create_task(self._run(), name=f"fake-client-{self.spec.name}")

    async def stop(self) -> None:
        await self._end()

    async def logout(self) -> None:
        await self._end()
        self.engine.wipe(self.spec)

    async def request_code(self, phone_number: str) -> str:
        if not self.alive:
            raise EngineError("The session is not running")
        self._phone = phone_number
        letters = "".join(secrets.choice(string.ascii_uppercase) for _ in range(8))
        return f"{letters[:4]}-{letters[4:]}"

    async def send_text(self, chat_id: str, text: str, reply_to: str | None = None
                        ) -> dict[str, Any]:
        if not self.alive or self.me is None:
            raise EngineError("The session is not connected to WhatsApp")
        message_id = secrets.token_hex(10).upper()
        payload = sent_text_payload(message_id=message_id, chat_id=chat_id,
                                    me_id=self.me["id"], text=text,
                                    timestamp=int(time.time()), reply_to=reply_to)
        self.callbacks.event("message.any", payload)
        return payload

    def receive_text(self, chat_id: str, text: str, sender: str | None = None) -> None:
        """A message arriving from WhatsApp (test hook)."""

        def _receive() -> None:
            message_id = secrets.token_hex(10).upper()
            payload: dict[str, Any] = {
                "id": f"false_{chat_id}_{message_id}",
                "timestamp": int(time.time()),
                "from": chat_id,
                "fromMe": False,
                "source": "app",
                "to": self.me["id"] if self.me else None,
                "participant": sender,
                "body": text,
                "hasMedia": False,
                "media": None,
                "ack": 2,
                "ackName": "DEVICE",
                "replyTo": None,
                "_data": {},
            }
            self.callbacks.event("message", payload)
            self.callbacks.event("message.any", payload)

        self._call_soon(_receive)

    def pair(self, phone_number: str | None = None) -> None:
        def _pair() -> None:
            if phone_number:
                self._phone = phone_number
            self._paired.set()

        self._call_soon(_pair)

    def logged_out_from_phone(self) -> None:
        def _logout() -> None:
            self.engine.wipe(self.spec)
            self.callbacks.failed("Logged out from the phone")
            self._finish()

        self._call_soon(_logout)

    def _call_soon(self, func: Any) -> None:
        if self.loop is None:
            raise EngineError("the client has not started")
        self.loop.call_soon_threadsafe(func)

    async def _run(self) -> None:
        path = self.engine.auth_path(self.spec)
        if path.exists():
            await asyncio.sleep(0.01)  # a resumed device still has to connect
            self.me = json.loads(path.read_text())["me"]
            self.callbacks.working(self.me)
            return
        self.scanning = True
        pair_timer = None
        for index in range(self.engine.qr_codes):
            lifetime = self.engine.qr_first if index == 0 else self.engine.qr_next
            self.callbacks.qr(self._qr_value(index), lifetime)
            if index == 0 and self.engine.pair_after is not None:
                pair_timer = asyncio.get_running_loop().call_later(
                    self.engine.pair_after, self._paired.set
                )
            try:
                await asyncio.wait_for(self._paired.wait(), lifetime)
            except TimeoutError:
                continue
            self.scanning = False
            me = self.me = self._me()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"me": me}))
            self.callbacks.paired(me["jid"])
            self.callbacks.working(me)
            return
        if pair_timer is not None:
            pair_timer.cancel()
        self.scanning = False
        self.callbacks.failed(QR_EXPIRED)
        self._finish()

    def _qr_value(self, index: int) -> str:
        ref = secrets.token_urlsafe(24)
        return f"2@{ref},{self.spec.uid},{index}"

    def _me(self) -> dict[str, Any]:
        digits = self._phone or str(
            int(hashlib.sha256(self.spec.uid.encode()).hexdigest(), 16) % 10**11
        ).rjust(11, "1")
        return {
            "id": f"{digits}@c.us",
            "pushName": "Fake User",
            "jid": f"{digits}:7@s.whatsapp.net",
            "lid": f"{digits[::-1]}:7@lid",
        }

    def _finish(self) -> None:
        if self.alive:
            self.alive = False
            self.engine._went_down(self)

    async def _end(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._finish()
