"""WhatsApp engines. `get_engine()` returns the one chosen by WAHA_ENGINE."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from .base import Engine, EngineCallbacks, EngineClient, EngineError, SessionSpec

__all__ = ["Engine", "EngineCallbacks", "EngineClient", "EngineError", "SessionSpec", "get_engine"]


@cache
def get_engine() -> Engine:
    if settings.ENGINE == "fake":
        from .fake import FakeEngine

        return FakeEngine.from_settings()
    raise ValueError(f"unknown engine {settings.ENGINE!r}")
