"""Channel-layer names and message types, in one place for producers and consumers."""

from __future__ import annotations

from typing import Any

ALL_SESSIONS_GROUP = "waha.events.all"
ENGINES_GROUP = "waha.engines"

# One envelope ("envelope"), or several of one batch in order ("envelopes"): a batch of the
# engine's events is one message per group, not one per event.
EVENT_MESSAGE = "waha.event"
EVENTS_MESSAGE = "waha.events"
NUDGE_MESSAGE = "engine.nudge"
REQUEST_MESSAGE = "engine.request"


def event_message(envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    if len(envelopes) == 1:
        return {"type": EVENT_MESSAGE, "envelope": envelopes[0]}
    return {"type": EVENTS_MESSAGE, "envelopes": envelopes}


def envelopes_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The envelopes an EVENT_MESSAGE or an EVENTS_MESSAGE carries, in order."""
    return message["envelopes"] if message["type"] == EVENTS_MESSAGE else [message["envelope"]]


def session_group(name: str) -> str:
    return f"waha.events.session.{name}"


def engine_channel(worker_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in worker_id)
    return f"waha.engine.{safe}"[:99]
