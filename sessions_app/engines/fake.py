"""A deterministic engine for tests and demos, with the real engine's timing model.

Start → QR codes rotating (first, then next, a fixed number of codes) → FAILED when they run out,
or WORKING once paired by a test hook, by `pair_after` seconds, or after a pairing code.
Auth state is a small JSON file per session, so a paired session resumes without a QR code.

With `WAHA_FAKE_SERVER_DIR`, engine processes share a stand-in for WhatsApp's servers
(`FakeServer`): a live client holds its session's connection, and a paired client takes the
messages waiting for it, acknowledging each only once the runtime has kept it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import secrets
import string
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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
DEFAULT_ABOUT = "Hey there! I am using WhatsApp."
# How often an empty inbox is looked at again.
INBOX_POLL_SECONDS = 0.05
# At most this many waiting messages are handed over at once.
INBOX_HANDOVER = 500


class FakeServer:
    """What WhatsApp's servers do for the fake engine, kept in a directory all processes share.

    - Connections: a live client holds an exclusive `flock` on `<dir>/<session>.lock`, with
      "<worker id> <connection number>" written in it. The kernel drops the lock when the process
      dies, as a TCP connection drops. A client that finds the lock held by another live client
      records it in `conflicts.log`: two live clients of one session, which WhatsApp would
      answer with StreamReplaced. It never happens while leases work.
    - Inbox: `<dir>/inbox/<session>/<sequence>.json`, one incoming message each; the paired
      client reads all that wait, hands them over in order in one go (as WhatsApp hands over
      what came while a device was offline) and deletes each once the runtime has kept it, so
      a client killed in between leaves the message for the next one (at least once, as
      WhatsApp does).
    """

    CONFLICTS = "conflicts.log"

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "inbox").mkdir(parents=True, exist_ok=True)
        self._numbers = itertools.count(1)

    def lock_path(self, session_name: str) -> Path:
        return self.root / f"{session_name}.lock"

    def inbox(self, session_name: str) -> Path:
        return self.root / "inbox" / session_name

    def connect(self, session_name: str, worker_id: str) -> IO[str]:
        handle = self.lock_path(session_name).open("a+")
        holder = f"{worker_id} {os.getpid()}-{next(self._numbers)}"
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = handle.read().strip()
            with (self.root / self.CONFLICTS).open("a") as log:
                log.write(f"{session_name} {holder} {other}\n")
            return handle
        handle.seek(0)
        handle.truncate()
        handle.write(holder + "\n")
        handle.flush()
        return handle

    @staticmethod
    def disconnect(handle: IO[str]) -> None:
        handle.close()  # closing the descriptor drops the lock

    def waiting(self, session_name: str) -> Iterator[Path]:
        folder = self.inbox(session_name)
        if folder.is_dir():
            yield from sorted(folder.glob("*.json"))

    @staticmethod
    def acknowledge(message: Path) -> None:
        """The client has the message: it is not handed over again."""
        message.unlink()

    def deliver(self, session_name: str, sequence: int, message: dict[str, Any]) -> None:
        """Queue an incoming message for a session (what a phone sending to it causes)."""
        folder = self.inbox(session_name)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{sequence:09d}.tmp"
        partial.write_text(json.dumps(message))
        partial.rename(folder / f"{sequence:09d}.json")


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
        server: FakeServer | None = None,
        worker_id: str = "",
    ) -> None:
        self.auth_dir = auth_dir
        self.server = server
        self.worker_id = worker_id
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
            server=FakeServer(Path(settings.FAKE_SERVER_DIR)) if settings.FAKE_SERVER_DIR
            else None,
            worker_id=settings.WORKER_ID,
        )

    def client(self, spec: SessionSpec, callbacks: EngineCallbacks) -> FakeClient:
        return FakeClient(self, spec, callbacks)

    def auth_path(self, spec: SessionSpec) -> Path:
        return self.auth_dir / f"{spec.uid}.json"

    def wipe(self, spec: SessionSpec) -> None:
        self.auth_path(spec).unlink(missing_ok=True)

    def has_auth(self, spec: SessionSpec) -> bool:
        return self.auth_path(spec).exists()

    # --- accounts' profiles, kept as WhatsApp's servers keep them (in WAHA_FAKE_SERVER_DIR) ----
    @property
    def profiles_dir(self) -> Path:
        return (self.server.root if self.server is not None else self.auth_dir) / "profiles"

    def profile(self, me: dict[str, Any]) -> dict[str, Any]:
        """{name, status, picture} of the account `me` names."""
        path = self.profiles_dir / f"{me['id']}.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
        return {"name": me.get("pushName"), "status": DEFAULT_ABOUT, "picture": None}

    def save_profile(self, me: dict[str, Any], **changes: Any) -> None:
        profile = {**self.profile(me), **changes}
        self.profiles_dir.mkdir(parents=True, exist_ok=True)
        partial = self.profiles_dir / f".{me['id']}.tmp"
        partial.write_text(json.dumps(profile))
        partial.rename(self.profiles_dir / f"{me['id']}.json")

    def picture_of(self, account_id: str) -> bytes | None:
        """The picture last set for the account, as WhatsApp received it (test hook)."""
        path = self.profiles_dir / f"{account_id}.jpg"
        return path.read_bytes() if path.exists() else None

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
            raise EngineError(f"no live fake client for {session_name}") from None

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
    engine_name = "fake"

    def __init__(self, engine: FakeEngine, spec: SessionSpec, callbacks: EngineCallbacks) -> None:
        self.engine = engine
        self.spec = spec
        self.callbacks = callbacks
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.inbox_task: asyncio.Task[None] | None = None
        self.connection: IO[str] | None = None
        self.alive = False
        self.scanning = False
        self._paired = asyncio.Event()
        self._phone: str | None = None
        self.me: dict[str, Any] | None = None

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.alive = True
        if self.engine.server is not None:
            self.connection = self.engine.server.connect(self.spec.name, self.engine.worker_id)
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

    # --- the account's profile ------------------------------------------------------------------
    def _account(self) -> dict[str, Any]:
        if not self.alive or self.me is None:
            raise EngineError("The session is not connected to WhatsApp")
        return self.me

    async def get_profile(self) -> dict[str, Any]:
        me = self._account()
        return {"id": me["id"], **self.engine.profile(me)}

    async def set_profile_name(self, name: str) -> None:
        self.engine.save_profile(self._account(), name=name)

    async def set_profile_status(self, status: str) -> None:
        self.engine.save_profile(self._account(), status=status)

    async def set_profile_picture(self, picture: bytes) -> None:
        me = self._account()
        self.engine.profiles_dir.mkdir(parents=True, exist_ok=True)
        (self.engine.profiles_dir / f"{me['id']}.jpg").write_bytes(picture)
        digest = hashlib.sha256(picture).hexdigest()[:32]
        self.engine.save_profile(me, picture=f"https://pps.whatsapp.net/v/fake/{digest}.jpg")

    async def delete_profile_picture(self) -> None:
        me = self._account()
        (self.engine.profiles_dir / f"{me['id']}.jpg").unlink(missing_ok=True)
        self.engine.save_profile(me, picture=None)

    def receive_text(self, chat_id: str, text: str, sender: str | None = None) -> None:
        """A message arriving from WhatsApp (test hook)."""

        def _receive() -> None:
            payload = self._incoming(chat_id, text, secrets.token_hex(10).upper())
            payload["participant"] = sender
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
            self._read_inbox()
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
            self._read_inbox()
            return
        if pair_timer is not None:
            pair_timer.cancel()
        self.scanning = False
        self.callbacks.failed(QR_EXPIRED)
        self._finish()

    def _read_inbox(self) -> None:
        if self.engine.server is not None:
            self.inbox_task = asyncio.create_task(self._poll_inbox(self.engine.server),
                                                  name=f"fake-inbox-{self.spec.name}")

    async def _poll_inbox(self, server: FakeServer) -> None:
        while self.alive:
            # In a thread: the messages are acknowledged only after the runtime kept them.
            if not await asyncio.to_thread(self._take_waiting, server):
                await asyncio.sleep(INBOX_POLL_SECONDS)

    def _take_waiting(self, server: FakeServer) -> int:
        """Hand over what waits, in one go; answer how many messages were kept."""
        paths = list(itertools.islice(server.waiting(self.spec.name), INBOX_HANDOVER))
        if not paths or not self.alive:
            return 0
        events: list[tuple[str, dict[str, Any]]] = []
        for path in paths:
            message = json.loads(path.read_text())
            # Without its own, a message has the time it came to the server, every time it is
            # handed over, as WhatsApp's servers stamp it.
            timestamp = message.get("timestamp") or int(path.stat().st_mtime)
            payload = self._incoming(message["from"], message["body"], message["id"], timestamp)
            events += [("message", payload), ("message.any", payload)]
        kept = self.callbacks.events(events)
        for path in paths[: kept // 2]:  # both of its events kept: acknowledged
            server.acknowledge(path)
        return kept // 2

    def _incoming(self, chat_id: str, text: str, message_id: str,
                  timestamp: int | None = None) -> dict[str, Any]:
        return {
            "id": f"false_{chat_id}_{message_id}",
            "timestamp": timestamp or int(time.time()),
            "from": chat_id,
            "fromMe": False,
            "source": "app",
            "to": self.me["id"] if self.me else None,
            "participant": None,
            "body": text,
            "hasMedia": False,
            "media": None,
            "ack": 2,
            "ackName": "DEVICE",
            "replyTo": None,
            "_data": {},
        }

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
            if self.connection is not None:
                FakeServer.disconnect(self.connection)
                self.connection = None

    async def _end(self) -> None:
        for task in (self.task, self.inbox_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.task = self.inbox_task = None
        self._finish()
