"""The names of events, and which of them a subscriber (a webhook, a `/ws` socket) receives."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models


class EventName(models.TextChoices):
    SESSION_STATUS = "session.status"
    MESSAGE = "message"
    MESSAGE_ANY = "message.any"
    MESSAGE_ACK = "message.ack"
    MESSAGE_REACTION = "message.reaction"
    MESSAGE_REVOKED = "message.revoked"
    MESSAGE_EDITED = "message.edited"
    PRESENCE_UPDATE = "presence.update"
    GROUP_JOIN = "group.v2.join"
    GROUP_LEAVE = "group.v2.leave"
    GROUP_UPDATE = "group.v2.update"
    GROUP_PARTICIPANTS = "group.v2.participants"
    CALL_RECEIVED = "call.received"
    CALL_ACCEPTED = "call.accepted"
    CALL_REJECTED = "call.rejected"
    ENGINE_EVENT = "engine.event"


ALL = "*"


def matches(events: Iterable[str], event: str) -> bool:
    """`*` is every event but engine.event, which must be named."""
    names = set(events)
    return event in names or (ALL in names and event != EventName.ENGINE_EVENT)
