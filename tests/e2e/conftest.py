"""End-to-end tests: the product as a real `manage.py serve` process, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: runs `manage.py serve` as a real process on 127.0.0.1"
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh WAHA_LOCAL_STORE_BASE_DIR: its own SQLite file, auth state and secret key."""
    return tmp_path / "data"


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    """Every server a test starts goes in here, and is killed at teardown whatever happened."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.kill()
