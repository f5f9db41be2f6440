"""The engine protocol: what the runtime needs from a WhatsApp client implementation.

The runtime owns the session rows; an engine only runs clients and reports through
`EngineCallbacks`, whose methods are safe to call from any thread. Status callbacks return at
once; `event`, `events` and `history` called from a client thread return once the runtime has
kept them, so a client acknowledges a message to WhatsApp only after that.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Protocol

from waha_project.errors import Unsupported, WrongState

# The engine name WAHA's answers and envelopes carry: WAHA clients know GOWS (its Go engine,
# whatsmeow, which neonize wraps too); the driver actually running is in `engine.driver`.
ENGINE_LABEL = "GOWS"


class EngineError(WrongState):
    """A client could not do what was asked (not running, not connected, refused by WhatsApp)."""


class EngineUnsupported(Unsupported):
    """The engine has no way to do what was asked; the message names it."""


def unsupported(engine: str, what: str) -> EngineUnsupported:
    return EngineUnsupported(f"The {engine} engine cannot {what}" if engine
                             else f"This engine cannot {what}")


# The calls on the account's profile (`EngineClient`'s methods of these names), asked of the
# engine that runs the session.
PROFILE_CALLS = frozenset({"get_profile", "set_profile_name", "set_profile_status",
                           "set_profile_picture", "delete_profile_picture"})


@dataclass(frozen=True)
class SessionSpec:
    name: str
    uid: str
    config: dict[str, Any] = field(default_factory=dict)
    device_jid: str = ""


class EngineCallbacks(Protocol):
    def qr(self, value: str, expires_in: float) -> None: ...

    def working(self, me: dict[str, Any]) -> None: ...

    def starting(self, reason: str = "") -> None: ...

    def failed(self, reason: str) -> None: ...

    def event(self, name: str, payload: dict[str, Any]) -> None: ...

    def events(self, batch: list[tuple[str, dict[str, Any]]]) -> int:
        """Many events at once, in order (what WhatsApp hands over after a time offline).

        Answers how many of them, from the first, were kept: fewer than all only when the
        session ended meanwhile (and 0 on the runtime's own event loop, where nothing waits).
        """
        ...

    def history(self, batch: dict[str, Any]) -> None:
        """A history sync: {"chats": [...], "messages": [...], "contacts": [...]} for the store."""

    def paired(self, device_jid: str) -> None:
        """The device JID once pairing succeeded, kept so the session resumes its own device."""


class EngineClient(abc.ABC):
    """One live WhatsApp client for one session."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Begin connecting and return without waiting for the connection."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """End the client and keep its credentials."""

    @abc.abstractmethod
    async def logout(self) -> None:
        """Unlink the device, delete its credentials and end the client."""

    @abc.abstractmethod
    async def request_code(self, phone_number: str) -> str:
        """Ask WhatsApp for a pairing code for this phone number."""

    @abc.abstractmethod
    async def send_text(self, chat_id: str, text: str, reply_to: str | None = None
                        ) -> dict[str, Any]:
        """Send a text message; answer its WAHA message payload (as in a `message.any` event)."""

    # The account's profile. An engine overrides what it can do; the rest answer 501.
    engine_name = ""

    async def get_profile(self) -> dict[str, Any]:
        """{id, name, status (the About text), picture (a URL, or None)}."""
        raise unsupported(self.engine_name, "read the profile")

    async def set_profile_name(self, name: str) -> None:
        raise unsupported(self.engine_name, "set the profile name")

    async def set_profile_status(self, status: str) -> None:
        raise unsupported(self.engine_name, "set the profile status (About)")

    async def set_profile_picture(self, picture: bytes) -> None:
        """`picture`: a square JPEG, as WhatsApp takes it (`sessions_app.pictures`)."""
        raise unsupported(self.engine_name, "set the profile picture")

    async def delete_profile_picture(self) -> None:
        raise unsupported(self.engine_name, "delete the profile picture")


class Engine(abc.ABC):
    name: str

    @abc.abstractmethod
    def client(self, spec: SessionSpec, callbacks: EngineCallbacks) -> EngineClient: ...

    @abc.abstractmethod
    def wipe(self, spec: SessionSpec) -> None:
        """Delete the auth state of a session that no client is running."""

    def describe(self) -> dict[str, Any]:
        return {"driver": self.name}


def sent_text_payload(*, message_id: str, chat_id: str, me_id: str, text: str, timestamp: int,
                      reply_to: str | None) -> dict[str, Any]:
    """The WAHA message payload of a text we sent (WhatsApp echoes no event for it)."""
    return {
        "id": f"true_{chat_id}_{message_id}",
        "timestamp": timestamp,
        "from": me_id,
        "fromMe": True,
        "source": "api",
        "to": chat_id,
        "participant": None,
        "body": text,
        "hasMedia": False,
        "media": None,
        "ack": 1,
        "ackName": "SERVER",
        "replyTo": {"id": reply_to, "participant": None, "body": None} if reply_to else None,
        "_data": {"ID": message_id},
    }
