"""Fixtures: a throw-away PostgreSQL database left unmigrated (the web role migrates it), our
own redis-server, a loopback webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.receiver import Receiver
from tests.support.stack import Stack, ThrowawayDatabase


@pytest.fixture
def database() -> Iterator[ThrowawayDatabase]:
    db = ThrowawayDatabase(prefix="waha_procfile").create()
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture
def stack(database: ThrowawayDatabase, tmp_path: Path) -> Iterator[Stack]:
    """Only its redis-server is started here; `stack.env` is the product's environment."""
    started = Stack(tmp_path / "stack", database.url)
    try:
        started.start_redis()
        yield started
    finally:
        started.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started
