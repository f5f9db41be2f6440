"""Fixtures for the no-loss tests: a migrated throw-away PostgreSQL database for the module, and
per test our own Redis, Celery worker and beat (tests.support.stack.Stack), a loopback
receiver, and a `report` that prints a figure and repeats it in the terminal summary, so CI logs
show it without `-s`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.receiver import Receiver
from tests.support.stack import Stack, ThrowawayDatabase, product_environment

# Short enough that the test waits seconds, not the production half-minute.
STACK_SETTINGS = {
    "WAHA_WEBHOOK_REQUEUE_SECONDS": "3",
    "WAHA_WEBHOOK_SWEEP_SECONDS": "0.5",
}
REPORT_KEY = pytest.StashKey[list[str]]()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayDatabase]:
    data_dir = tmp_path_factory.mktemp("noloss-migrate")
    db = ThrowawayDatabase().create()
    try:
        db.migrate(product_environment(data_dir, db.url, None))
        yield db
    finally:
        db.drop()


@pytest.fixture
def stack(database: ThrowawayDatabase, tmp_path: Path) -> Iterator[Stack]:
    started = Stack(tmp_path / "stack", database.url, STACK_SETTINGS)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    lines = request.config.stash.setdefault(REPORT_KEY, [])

    def record(line: str) -> None:
        print(line)
        lines.append(line)

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(REPORT_KEY, [])
    if lines:
        terminalreporter.section("webhook no-loss figures")
        for line in lines:
            terminalreporter.write_line(line)
