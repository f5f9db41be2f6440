"""Fixtures for the engine-role tests: patient QR timings and runtimes that always shut down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, Protocol

import pytest
from channels.db import database_sync_to_async

from sessions_app.engines.fake import FakeEngine, FakeServer
from sessions_app.models import Session
from sessions_app.runtime import EngineRuntime


class MakeRuntime(Protocol):
    def __call__(self, worker_id: str, *, engine: FakeEngine | None = None,
                 lease_seconds: float = 5.0, start: bool = True) -> Awaitable[EngineRuntime]: ...


@pytest.fixture
def patient_engine(engine: FakeEngine) -> FakeEngine:
    """QR codes that outlive the test, so a started session stays live until told otherwise."""
    engine.qr_first = 60.0
    engine.qr_next = 60.0
    return engine


@pytest.fixture
async def make_runtime(engine: FakeEngine, transactional_db: None) -> AsyncIterator[MakeRuntime]:
    """Build extra runtimes inline; every one is shut down at the end, even on failure."""
    made: list[EngineRuntime] = []
    default_engine = engine

    async def make(worker_id: str, *, engine: FakeEngine | None = None,
                   lease_seconds: float = 5.0, start: bool = True) -> EngineRuntime:
        rt = EngineRuntime(engine or default_engine, worker_id=worker_id,
                           lease_seconds=lease_seconds, reconcile_seconds=0.2)
        made.append(rt)
        if start:
            await rt.start()
        return rt

    yield make
    for rt in reversed(made):
        await rt.shutdown()


@pytest.fixture
async def served(engine: FakeEngine, tmp_path: Path, transactional_db: None,
                 ) -> AsyncIterator[tuple[FakeServer, FakeEngine, EngineRuntime]]:
    """A fake WhatsApp server, a fake engine paired at once against it, and its runtime."""
    server = FakeServer(tmp_path / "server")
    fake = FakeEngine(tmp_path / "auth", qr_first=60, qr_next=60, qr_codes=1, pair_after=0,
                      server=server, worker_id="engine-a")
    runtime = EngineRuntime(fake, worker_id="engine-a", lease_seconds=5, reconcile_seconds=0.2)
    await runtime.start()
    yield server, fake, runtime
    await runtime.shutdown()


async def load(name: str) -> Session:
    return await database_sync_to_async(Session.objects.get)(name=name)


async def update(name: str, **fields: Any) -> None:
    await database_sync_to_async(Session.objects.filter(name=name).update)(**fields)


async def create_row(name: str, **fields: Any) -> Session:
    return await database_sync_to_async(Session.objects.create)(name=name, **fields)
