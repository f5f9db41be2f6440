"""Online status and typing → `presence.update`."""

from __future__ import annotations

from typing import Any

from neonize.proto.Neonize_pb2 import ChatPresence

from webhooks_app.subscriptions import EventName

from .jids import waha_chat_id
from .waha import Event, seconds


def translate_presence(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    presence = {
        "participant": chat,
        "lastKnownPresence": "offline" if event.Unavailable else "online",
        "lastSeen": seconds(event.LastSeen),
    }
    return [(EventName.PRESENCE_UPDATE.value, {"id": chat, "presences": [presence]})]


def translate_chat_presence(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    if event.State == ChatPresence.PAUSED:
        state = "paused"
    elif event.Media == ChatPresence.AUDIO:
        state = "recording"
    else:
        state = "typing"
    presence = {
        "participant": waha_chat_id(event.MessageSource.Sender) or chat,
        "lastKnownPresence": state,
        "lastSeen": None,
    }
    return [(EventName.PRESENCE_UPDATE.value, {"id": chat, "presences": [presence]})]
