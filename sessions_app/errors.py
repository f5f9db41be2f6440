"""The sessions domain's errors; `waha_project.errors` maps each kind to its HTTP answer."""

from __future__ import annotations

from waha_project.errors import NotFound, Unavailable, WrongState


class SessionNotFound(NotFound):
    default_message = "Session not found"


class SessionExists(WrongState):
    pass


class EngineUnavailable(Unavailable):
    default_message = "The engine did not answer in time"


__all__ = ["EngineUnavailable", "SessionExists", "SessionNotFound", "WrongState"]
