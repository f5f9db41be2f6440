"""WhatsApp engines. `get_engine()` returns the one chosen by WAHA_ENGINE."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from .base import (
    ENGINE_LABEL,
    PROFILE_CALLS,
    Engine,
    EngineCallbacks,
    EngineClient,
    EngineError,
    EngineUnsupported,
    SessionSpec,
)

__all__ = [
    "ENGINE_LABEL", "PROFILE_CALLS", "Engine", "EngineCallbacks", "EngineClient", "EngineError",
    "EngineUnsupported", "SessionSpec", "get_engine",
]


@cache
def get_engine() -> Engine:
    if settings.ENGINE == "fake":
        from .fake import FakeEngine

        return FakeEngine.from_settings()
    if settings.ENGINE == "neonize":
        # Imported only when chosen: loading the Go library costs ~60 MB.
        from .neonize_engine import NeonizeEngine

        return NeonizeEngine.from_settings()
    raise ValueError(f"unknown engine {settings.ENGINE!r}")
