"""Fixtures for delivery tests: a real receiver on 127.0.0.1, a real Celery worker in this
process (kombu's in-memory broker), and small helpers to raise events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction

from sessions_app import events
from sessions_app.models import Session
from sessions_app.services import create_session
from waha_project.celery import app
from waha_project.embedded import EmbeddedWorker
from webhooks_app.models import Delivery

from ..webhooks.receiver import Receiver

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


def until(predicate: Callable[[], bool], timeout: float = 5.0,
          message: str = "condition") -> None:
    """Poll `predicate` until it holds; fail the test if it does not in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {message}")


def session_with(name: str, *webhooks: dict[str, Any],
                 metadata: dict[str, str] | None = None) -> Session:
    """A stopped session whose config.webhooks are `webhooks` (rows synced as by the API)."""
    config: dict[str, Any] = {"webhooks": list(webhooks)}
    if metadata:
        config["metadata"] = metadata
    return create_session(name, config, start=False)


def hook(url: str, events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"url": url, "events": events or ["*"], **extra}


def raise_event(session: Session, event: str = "message",
                payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Publish one event the way the engine's callbacks do: inside a committed transaction."""
    with transaction.atomic():
        return events.publish(session, event, payload or {"body": "hello"})


def delivery_of(envelope: dict[str, Any]) -> Delivery:
    return Delivery.objects.get(event_id=envelope["id"])


def settled(delivery: Delivery) -> Callable[[], bool]:
    """A predicate: the delivery is no longer pending."""
    def check() -> bool:
        delivery.refresh_from_db()
        return delivery.status != "pending"
    return check
