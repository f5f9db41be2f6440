"""Shared fixtures: the real ASGI application, a live engine runtime on the fake engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from channels.layers import channel_layers
from django.conf import settings as django_settings

from sessions_app.engines import get_engine
from sessions_app.engines.fake import FakeEngine
from sessions_app.models import Session
from sessions_app.runtime import EngineRuntime

API_KEY = "test-api-key-123456"


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> None:
    """Each test has its own event loop, so it needs its own in-memory layer."""
    channel_layers.backends.clear()


@pytest.fixture
def fast_qr(settings: Any) -> Any:
    """Short QR timings so rotation and expiry happen within a test."""
    settings.QR_FIRST_SECONDS = 0.6
    settings.QR_NEXT_SECONDS = 0.3
    settings.QR_CODES = 3
    settings.QR_WAIT_RUNNING_SECONDS = 2.0
    settings.QR_WAIT_SCAN_SECONDS = 2.0
    get_engine.cache_clear()
    yield settings
    get_engine.cache_clear()


@pytest.fixture
def engine(fast_qr: Any) -> FakeEngine:
    fake = get_engine()
    assert isinstance(fake, FakeEngine)
    return fake


@pytest.fixture
async def runtime(engine: FakeEngine, transactional_db: None) -> AsyncIterator[EngineRuntime]:
    rt = EngineRuntime(engine, worker_id="test-engine-1", lease_seconds=5, reconcile_seconds=0.2)
    await rt.start()
    yield rt
    await rt.shutdown()


@pytest.fixture
async def api(transactional_db: None) -> AsyncIterator[httpx.AsyncClient]:
    from waha_project.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers={"X-Api-Key": API_KEY}, timeout=30) as client:
        yield client


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0,
                   message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {message}")


async def wait_status(api: httpx.AsyncClient, name: str, status: str,
                      timeout: float = 5.0) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal seen
        seen = (await api.get(f"/api/sessions/{name}")).json()
        return seen.get("status") == status

    try:
        await wait_for(reached, timeout, f"{name} to be {status}")
    except AssertionError:
        raise AssertionError(f"{name} never reached {status}; last seen {seen}") from None
    return seen


def db_session(name: str) -> Session:
    return Session.objects.get(name=name)


__all__ = ["API_KEY", "db_session", "django_settings", "wait_for", "wait_status"]
