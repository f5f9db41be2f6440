"""Channel-layer names and message types, in one place for producers and consumers."""

from __future__ import annotations

from typing import Any

from waha_project.access import Action, Principal

ALL_SESSIONS_GROUP = "waha.events.all"
ALL_SESSIONS = "*"  # what a subscriber asks for to hear every session
ENGINES_GROUP = "waha.engines"

# A publication to the websockets: its items, one per event, each prepared once for every
# subscriber (`fanout.item`); a batch of the engine's events is one message per group.
EVENT_MESSAGE = "waha.event"
NUDGE_MESSAGE = "engine.nudge"
REQUEST_MESSAGE = "engine.request"
# To the `/ws` streams of one key (`key_group`): the key changed or went, the stream ends.
KEY_CHANGED_MESSAGE = "waha.key.changed"


def event_message(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": EVENT_MESSAGE, "items": items}


def key_group(key_id: str) -> str:
    return f"waha.key.{key_id}"


def session_group(name: str) -> str:
    return f"waha.events.session.{name}"


def readable_groups(principal: Principal, asked: str) -> list[str] | None:
    """The event groups a subscriber joins for `asked` (a session's name, or `ALL_SESSIONS`),
    narrowed to the sessions the principal may read; None when it asks for one it may not read
    (it is not told whether that session exists)."""
    readable = principal.sessions_with(Action.READ)
    if asked == ALL_SESSIONS:
        if readable is None:
            return [ALL_SESSIONS_GROUP]
        return [session_group(name) for name in readable]
    if readable is not None and asked not in readable:
        return None
    return [session_group(asked)]


def engine_channel(worker_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in worker_id)
    return f"waha.engine.{safe}"[:99]
