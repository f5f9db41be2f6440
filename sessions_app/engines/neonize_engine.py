"""The real engine: neonize (Python over whatsmeow), one client per session.

Facts this module is built around (neonize 0.5.x):
- whatsmeow's client maps inside the Go library have no lock: concurrent calls into it crash the
  process. Every call into Go here holds GO_LOCK; a connect holds it until the client is
  registered on the Go side (its first callback, or connect() returning, or a timeout).
- Device props are global in the Go library and merged at connect: every connect passes a
  fully filled DeviceProps, under the same lock.
- connect() blocks for the life of the connection, so it runs on a thread of its own; event and QR
  callbacks run on that thread while whatsmeow waits, so they only translate and hand off.
- The end of the QR rotation does not reliably reach Python, and stop() does not always end an
  unpaired connect(): we keep our own deadline after each QR code, then stop and report FAILED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection
from neonize.client import NewClient, ProxySettings
from neonize.events import (
    EVENT_TO_INT,
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    HistorySyncEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    PairStatusEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.exc import NeonizeError
from neonize.proto.Neonize_pb2 import JID, PairStatus
from neonize.proto.waCompanionReg.WAWebProtobufsCompanionReg_pb2 import DeviceProps
from neonize.utils.enum import ClientName, ClientType
from neonize.utils.jid import Jid2String

from ..ignore import IgnoreRules
from ..store import full_sync, store_enabled
from .base import (
    Engine,
    EngineCallbacks,
    EngineClient,
    EngineError,
    SessionSpec,
    sent_text_payload,
    unsupported,
)
from .neonize_events.dispatch import translate
from .neonize_events.failures import failure_reason
from .neonize_events.history import history_batch
from .neonize_events.jids import me_info

log = logging.getLogger("waha.engine.neonize")

GO_LOCK = threading.Lock()
REGISTER_TIMEOUT_SECONDS = 15.0
STOP_JOIN_SECONDS = 5.0
QR_EXPIRED = "QR code was not scanned in time: all QR codes expired"
# whatsmeow's own rotation: the first code lives 60 s, each next one 20 s.
QR_FIRST_SECONDS = 60.0
QR_NEXT_SECONDS = 20.0
FAILURE_EVENTS = (StreamReplacedEv, TemporaryBanEv, ClientOutdatedEv, ConnectFailureEv)

BROWSERS: dict[str, tuple[int, ClientType]] = {
    "chrome": (DeviceProps.CHROME, ClientType.CHROME),
    "firefox": (DeviceProps.FIREFOX, ClientType.FIREFOX),
    "safari": (DeviceProps.SAFARI, ClientType.SAFARI),
    "edge": (DeviceProps.EDGE, ClientType.EDGE),
    "opera": (DeviceProps.OPERA, ClientType.OPERA),
    "ie": (DeviceProps.IE, ClientType.IE),
}
HISTORY_DAYS_SHORT = 90
HISTORY_DAYS_FULL = 365

# Go-side logs of every client go through this logger; its level is read at each connect.
GO_LOGGER = logging.getLogger("neonize.utils.log")


def _client_names(config: dict[str, Any]) -> tuple[str, str]:
    client = config.get("client") or {}
    device = client.get("deviceName") or settings.CLIENT_DEVICE_NAME
    browser = client.get("browserName") or settings.CLIENT_BROWSER_NAME
    return device, browser


def device_props(config: dict[str, Any]) -> DeviceProps:
    """Every field set: the Go library merges props into a global, so unset ones would leak."""
    device, browser = _client_names(config)
    platform = BROWSERS.get(browser.lower(), BROWSERS["chrome"])[0]
    full = store_enabled(config) and full_sync(config)
    days = HISTORY_DAYS_FULL if full else HISTORY_DAYS_SHORT
    return DeviceProps(
        os=device,
        platformType=platform,
        requireFullSync=full,
        historySyncConfig=DeviceProps.HistorySyncConfig(
            fullSyncDaysLimit=days,
            fullSyncSizeMbLimit=10_240 if full else 2_048,
            storageQuotaMb=10_240 if full else 2_048,
            recentSyncDaysLimit=days,
        ),
    )


def pairing_client_type(config: dict[str, Any]) -> ClientType:
    _, browser = _client_names(config)
    return BROWSERS.get(browser.lower(), BROWSERS["chrome"])[1]


def proxy_url(server: str, username: str | None = None, password: str | None = None) -> str:
    scheme, _, address = server.rpartition("://")
    scheme = scheme or "http"
    if username:
        credentials = quote(username, safe="")
        if password:
            credentials += ":" + quote(password, safe="")
        return f"{scheme}://{credentials}@{address}"
    return f"{scheme}://{address}"


def proxy_for(spec: SessionSpec) -> str | None:
    """Session proxy, then the single global one, then the global list (stable per session)."""
    own = spec.config.get("proxy") or {}
    if own.get("server"):
        return proxy_url(own["server"], own.get("username"), own.get("password"))
    if settings.PROXY_SERVER:
        return proxy_url(settings.PROXY_SERVER, settings.PROXY_USERNAME, settings.PROXY_PASSWORD)
    if settings.PROXY_SERVER_LIST:
        servers = settings.PROXY_SERVER_LIST
        return proxy_url(servers[zlib.crc32(spec.name.encode()) % len(servers)])
    return None


def parse_jid(value: str) -> JID:
    """"12345:7@s.whatsapp.net" (or with an agent, "12345.1:7@...") back into a JID."""
    user_part, _, server = value.partition("@")
    user, _, device = user_part.partition(":")
    user, _, agent = user.partition(".")
    return JID(User=user, RawAgent=int(agent or 0), Device=int(device or 0), Integrator=0,
               Server=server or "s.whatsapp.net", IsEmpty=False)


def jid_from_chat_id(chat_id: str) -> JID:
    """A WAHA chat id ("123@c.us", "…@g.us", "…@newsletter", "…@lid") as a whatsmeow JID."""
    user, _, server = chat_id.partition("@")
    if server == "c.us":
        server = "s.whatsapp.net"
    return JID(User=user, RawAgent=0, Device=0, Integrator=0, Server=server, IsEmpty=False)


def readable_connect_error(exc: BaseException) -> str:
    message = str(exc) or type(exc).__name__
    if "Proxy Authentication Required" in message:
        return ("The proxy refused our credentials (407 Proxy Authentication Required). "
                f"Details: {message}")
    if "proxyconnect" in message:
        return f"Could not reach the proxy. Details: {message}"
    if "dial" in message or "no such host" in message or "connection refused" in message:
        return ("Could not reach WhatsApp (web.whatsapp.com): no internet route or DNS from this "
                f"machine, or a proxy is needed. Details: {message}")
    return f"Could not connect to WhatsApp: {message}"


def whatsmeow_database_url(url: str) -> str:
    """DATABASE_URL as whatsmeow's driver (Go's lib/pq) should get it: lib/pq requires TLS
    unless told otherwise, where psycopg (libpq) prefers it; without an sslmode, ask the same."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("sslmode", "prefer")
    return urlunsplit(parts._replace(query=urlencode(query)))


def device_address(jid: Any) -> tuple[str, int]:
    """(user, device) of a JID from neonize's device list, which leaves ":<device>" in User."""
    user, _, device = str(jid.User).partition(":")
    return user, int(device) if device.isdigit() else int(jid.Device)


def create_auth_tables(url: str) -> None:
    """whatsmeow creates (or upgrades) its tables when it opens a store."""
    from neonize.client import ClientFactory

    with GO_LOCK:
        ClientFactory.get_all_devices_from_db(whatsmeow_database_url(url))


class NeonizeEngine(Engine):
    name = "neonize"

    def __init__(self, auth_dir: Path, *, database_url: str = "") -> None:
        self.auth_dir = auth_dir
        # whatsmeow keeps its tables in PostgreSQL when the product runs on it.
        self.database_url = (whatsmeow_database_url(database_url)
                             if database_url.startswith("postgres") else "")

    @classmethod
    def from_settings(cls) -> NeonizeEngine:
        import os

        return cls(Path(settings.DATA_DIR) / "neonize",
                   database_url=os.environ.get("DATABASE_URL", ""))

    def client(self, spec: SessionSpec, callbacks: EngineCallbacks) -> NeonizeClient:
        return NeonizeClient(self, spec, callbacks)

    def auth_store(self, spec: SessionSpec) -> str:
        if self.database_url:
            return self.database_url
        self.auth_dir.mkdir(parents=True, exist_ok=True)
        return str(self.auth_dir / f"{spec.uid}.sqlite3")

    def wipe(self, spec: SessionSpec) -> None:
        if self.database_url:
            if spec.device_jid:
                # The device's other tables go with it (ON DELETE CASCADE), but for one.
                with connection.cursor() as cursor, contextlib.suppress(Exception):
                    cursor.execute("DELETE FROM whatsmeow_privacy_tokens WHERE our_jid = %s",
                                   [spec.device_jid])
                with connection.cursor() as cursor, contextlib.suppress(Exception):
                    cursor.execute("DELETE FROM whatsmeow_device WHERE jid = %s",
                                   [spec.device_jid])
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            (self.auth_dir / f"{spec.uid}.sqlite3{suffix}").unlink(missing_ok=True)


class NeonizeClient(EngineClient):
    engine_name = "neonize"

    def __init__(self, engine: NeonizeEngine, spec: SessionSpec,
                 callbacks: EngineCallbacks) -> None:
        self.engine = engine
        self.spec = spec
        self.callbacks = callbacks
        self.rules = IgnoreRules.from_config(spec.config)
        self.log = logging.getLogger(f"waha.engine.session.{spec.name}")
        if spec.config.get("debug"):
            self.log.setLevel(logging.DEBUG)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client: NewClient | None = None
        self.thread: threading.Thread | None = None
        self.me_id: str | None = None
        self.qr_count = 0
        self.qr_deadline: float | None = None  # wall clock, so tests can move time
        self.first_qr = threading.Event()
        self.stopping = False
        self.ended = threading.Event()
        self._ticker: asyncio.TimerHandle | None = None
        self._ending: asyncio.Future[None] | None = None
        self._lock_held = False
        self._lock_guard = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread = threading.Thread(target=self._run, name=f"neonize-{self.spec.name}",
                                       daemon=True)
        self.thread.start()
        self._ticker = self.loop.call_later(1.0, self._tick)

    def _new_client(self) -> NewClient:
        store = self.engine.auth_store(self.spec)
        jid = self._known_jid(store)
        client = NewClient(store, jid=jid, props=device_props(self.spec.config),
                           uuid=self.spec.uid, new_device=jid is None and bool(
                               self.engine.database_url))
        client.event.qr(self._on_qr)
        for event_type in EVENT_TO_INT:
            if event_type.__name__ not in {"QREv", "Device"}:
                client.event(event_type)(self._on_event)
        return client

    def _known_jid(self, store: str) -> JID | None:
        """Resume this session's own device: but only one the store really holds.

        Asking the Go library for a device that is not there crashes the process.
        """
        if not self.spec.device_jid:
            return None
        from neonize.client import ClientFactory

        with GO_LOCK:
            devices = ClientFactory.get_all_devices_from_db(store)
        wanted = parse_jid(self.spec.device_jid)
        for device in devices:
            user, number = device_address(device.JID)
            if user == wanted.User and number == wanted.Device:
                return wanted
        return None

    def _run(self) -> None:
        try:
            self.client = self._new_client()
        except Exception as exc:
            self.log.exception("could not create the WhatsApp client")
            self.callbacks.failed(f"Could not open the session's auth store: {exc}")
            self.ended.set()
            return
        proxy = proxy_for(self.spec)
        settings_ = ProxySettings(proxy_address=proxy) if proxy else None
        self._hold_go_lock()
        if self.stopping:  # stopped before it could connect
            self._release_go_lock()
            self.ended.set()
            return
        previous_level = GO_LOGGER.level
        GO_LOGGER.setLevel(logging.DEBUG if self.spec.config.get("debug") else logging.INFO)
        try:
            self.client.connect(settings_)
        except NeonizeError as exc:
            self._release_go_lock()
            if not self.stopping:
                reason = readable_connect_error(exc)
                self.log.warning("connect failed: %s", reason)
                self.callbacks.failed(reason)
        except Exception as exc:
            self._release_go_lock()
            if not self.stopping:
                self.log.exception("connect crashed")
                self.callbacks.failed(f"The WhatsApp client crashed: {type(exc).__name__}: {exc}")
        else:
            self._release_go_lock()
            if not self.stopping:
                self.callbacks.failed("The connection to WhatsApp ended")
        finally:
            GO_LOGGER.setLevel(previous_level)
            self.ended.set()

    def _hold_go_lock(self) -> None:
        GO_LOCK.acquire()
        with self._lock_guard:
            self._lock_held = True
        # If no callback ever comes, do not keep every other client waiting.
        timer = threading.Timer(REGISTER_TIMEOUT_SECONDS, self._release_go_lock)
        timer.daemon = True
        timer.start()

    def _release_go_lock(self) -> None:
        with self._lock_guard:
            if self._lock_held:
                self._lock_held = False
                GO_LOCK.release()

    async def stop(self) -> None:
        await self._end(logout=False)

    async def logout(self) -> None:
        await self._end(logout=True)
        await asyncio.to_thread(self.engine.wipe, self.spec)

    async def _end(self, *, logout: bool) -> None:
        self.stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        await asyncio.to_thread(self._stop_blocking, logout)

    def _stop_blocking(self, logout: bool) -> None:
        with GO_LOCK:
            client = self.client
            if client is None:
                return
            if logout:
                try:
                    client.logout()
                except Exception as exc:  # not paired, or already unlinked
                    self.log.info("logout: %s", exc)
            client.stop()
        if self.thread is not None:
            # An unpaired connect() can outlive stop(); the thread is a daemon, so let it be.
            self.thread.join(STOP_JOIN_SECONDS)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and not self.ended.is_set()

    # --- our own QR deadline ----------------------------------------------------------------
    def _tick(self) -> None:
        if self.stopping or self.loop is None:
            return
        self.check_deadline(time.time())
        if not self.stopping:
            self._ticker = self.loop.call_later(1.0, self._tick)

    def check_deadline(self, now: float) -> bool:
        """FAILED once a QR code has outlived its lifetime (plus grace) with no new one."""
        if self.stopping or self.qr_deadline is None or now < self.qr_deadline:
            return False
        self.qr_deadline = None
        self.log.info("no QR code scanned in time; stopping the client")
        self.callbacks.failed(QR_EXPIRED)
        self._end_soon(logout=False)
        return True

    def _end_soon(self, *, logout: bool) -> None:
        """Stop from any thread (never from whatsmeow's callback thread itself)."""
        self.stopping = True
        if self.loop is None:
            return

        async def end() -> None:
            await self._end(logout=logout)
            if logout:
                await asyncio.to_thread(self.engine.wipe, self.spec)

        def schedule() -> None:
            self._ending = asyncio.ensure_future(end())

        self.loop.call_soon_threadsafe(schedule)

    # --- callbacks: on whatsmeow's thread, translate and hand off only ------------------------
    def _on_qr(self, client: NewClient, data: bytes) -> None:
        self._release_go_lock()
        lifetime = QR_FIRST_SECONDS if self.qr_count == 0 else QR_NEXT_SECONDS
        self.qr_count += 1
        self.qr_deadline = time.time() + lifetime + settings.QR_GRACE_SECONDS
        self.first_qr.set()
        self.callbacks.qr(data.decode(), lifetime)

    def _on_event(self, client: NewClient, event: Any) -> None:
        self._release_go_lock()
        try:
            self._dispatch(client, event)
        except Exception:
            self.log.exception("could not handle %s", type(event).__name__)

    def _dispatch(self, client: NewClient, event: Any) -> None:
        if isinstance(event, ConnectedEv):
            self.qr_deadline = None
            me = self._me(client)
            if me is not None:
                self.me_id = me["id"]
                self.callbacks.working(me)
        elif isinstance(event, PairStatusEv):
            if event.Status == PairStatus.SUCCESS:
                self.qr_deadline = None
                self.callbacks.paired(Jid2String(event.ID))
            else:
                self.callbacks.event("engine.event", {"event": "PairStatusEv",
                                                      "data": {"error": event.Error}})
        elif isinstance(event, LoggedOutEv):
            self.callbacks.failed(failure_reason(event))
            self._end_soon(logout=True)
        elif isinstance(event, FAILURE_EVENTS):
            self.callbacks.failed(failure_reason(event))
            self._end_soon(logout=False)
        elif isinstance(event, DisconnectedEv | KeepAliveTimeoutEv):
            if self.me_id is not None and not self.stopping:
                self.callbacks.starting("Disconnected from WhatsApp; reconnecting")
        elif isinstance(event, KeepAliveRestoredEv):
            me = self._me(client)
            if me is not None:
                self.callbacks.working(me)
        elif isinstance(event, HistorySyncEv):
            self.callbacks.history(history_batch(event, me_id=self.me_id, rules=self.rules))
        else:
            for name, payload in translate(event, me_id=self.me_id, rules=self.rules):
                self.callbacks.event(name, payload)

    def _me(self, client: NewClient) -> dict[str, Any] | None:
        device = getattr(client, "me", None)
        if device is None or not device.JID.User:
            return None
        lid = device.LID if device.HasField("LID") and device.LID.User else None
        return me_info(device.JID, device.PushName, lid)

    # --- requests that need the live client --------------------------------------------------
    async def request_code(self, phone_number: str) -> str:
        if not self.running:
            raise EngineError("The session is not running")
        # whatsmeow pairs by phone only on a connected socket: after the first QR code.
        got_qr = await asyncio.to_thread(self.first_qr.wait, 10.0)
        if not got_qr:
            raise EngineError("The session is not connected to WhatsApp yet; try again shortly")
        client_type = pairing_client_type(self.spec.config)
        return await asyncio.to_thread(self._pair_phone, phone_number, client_type)

    def _pair_phone(self, phone_number: str, client_type: ClientType) -> str:
        assert self.client is not None
        with GO_LOCK:
            try:
                # Display name "Chrome (LINUX)": the Browser (OS) form whatsmeow asks for.
                return str(self.client.PairPhone(phone_number, True, ClientName.LINUX,
                                                 client_type))
            except Exception as exc:
                raise EngineError(f"WhatsApp refused the pairing code request: {exc}") from None

    async def send_text(self, chat_id: str, text: str, reply_to: str | None = None
                        ) -> dict[str, Any]:
        if self.me_id is None or not self.running:
            raise EngineError("The session is not connected to WhatsApp")
        payload = await asyncio.to_thread(self._send_text, chat_id, text, reply_to)
        self.callbacks.event("message.any", payload)
        return payload

    def _send_text(self, chat_id: str, text: str, reply_to: str | None) -> dict[str, Any]:
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
            ContextInfo,
            ExtendedTextMessage,
            Message,
        )

        assert self.client is not None
        jid = jid_from_chat_id(chat_id)
        message: Message | str = text
        reply_id = reply_to.rsplit("_", 1)[-1] if reply_to else None
        if reply_id:
            message = Message(extendedTextMessage=ExtendedTextMessage(
                text=text, contextInfo=ContextInfo(stanzaID=reply_id,
                                                   participant=Jid2String(jid))))
        with GO_LOCK:
            try:
                response = self.client.send_message(jid, message)
            except Exception as exc:
                raise EngineError(f"WhatsApp did not take the message: {exc}") from None
        return sent_text_payload(
            message_id=response.ID, chat_id=chat_id, me_id=self.me_id or "", text=text,
            timestamp=int(response.Timestamp) // 1000 if response.Timestamp > 10**11
            else int(response.Timestamp or time.time()),
            reply_to=reply_id,
        )

    # --- the account's profile -------------------------------------------------------------------
    def _linked(self) -> NewClient:
        if self.me_id is None or not self.running or self.client is None:
            raise EngineError("The session is not connected to WhatsApp")
        return self.client

    async def get_profile(self) -> dict[str, Any]:
        client, me_id = self._linked(), self.me_id or ""
        return await asyncio.to_thread(self._profile, client, me_id)

    def _profile(self, client: NewClient, me_id: str) -> dict[str, Any]:
        jid = jid_from_chat_id(me_id)
        with GO_LOCK:
            device = client.get_me()
            try:
                [found] = client.get_user_info(jid)
                status: str | None = found.UserInfo.Status or None
            except Exception as exc:
                raise EngineError(f"WhatsApp did not answer the profile request: {exc}") from None
            try:
                picture: str | None = client.get_profile_picture(jid).URL or None
            except Exception:  # no picture, or hidden from us: WhatsApp answers an error
                picture = None
        return {"id": me_id, "name": device.PushName or None, "status": status,
                "picture": picture}

    async def set_profile_name(self, name: str) -> None:
        await self._profile_call("the profile name", "set_profile_name", name)

    async def set_profile_status(self, status: str) -> None:
        await self._profile_call("the profile status", "set_status_message", status)

    async def set_profile_picture(self, picture: bytes) -> None:
        await self._profile_call("the profile picture", "set_profile_photo", picture)

    async def delete_profile_picture(self) -> None:
        # neonize 0.5 has no call that removes a profile photo.
        raise unsupported(self.engine_name, "delete the profile picture")

    async def _profile_call(self, what: str, call: str, value: str | bytes) -> None:
        client = self._linked()

        def run() -> None:
            with GO_LOCK:
                try:
                    getattr(client, call)(value)
                except Exception as exc:
                    raise EngineError(f"WhatsApp refused {what}: {exc}") from None

        await asyncio.to_thread(run)
