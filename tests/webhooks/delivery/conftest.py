"""Fixtures for delivery tests: a real receiver on 127.0.0.1 and a real Celery worker in this
process (kombu's in-memory broker)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.receiver import Receiver
from waha_project.celery import app
from waha_project.embedded import EmbeddedWorker

StartWorker = Callable[[], EmbeddedWorker]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture(autouse=True)
def empty_broker() -> None:
    """The in-memory broker lives as long as the process: start each test with no message left
    over from another one (the database is emptied between tests, the broker is not)."""
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)


@pytest.fixture
def start_worker(transactional_db: None) -> Iterator[StartWorker]:
    """Start a real Celery worker on a thread when the test says so; stopped at teardown."""
    started: list[EmbeddedWorker] = []

    def start() -> EmbeddedWorker:
        worker = EmbeddedWorker(concurrency=2)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(start_worker: StartWorker) -> EmbeddedWorker:
    return start_worker()
