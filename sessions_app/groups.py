"""Channel-layer names and message types, in one place for producers and consumers."""

from __future__ import annotations

ALL_SESSIONS_GROUP = "waha.events.all"
ENGINES_GROUP = "waha.engines"

EVENT_MESSAGE = "waha.event"
NUDGE_MESSAGE = "engine.nudge"
REQUEST_MESSAGE = "engine.request"


def session_group(name: str) -> str:
    return f"waha.events.session.{name}"


def engine_channel(worker_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in worker_id)
    return f"waha.engine.{safe}"[:99]
