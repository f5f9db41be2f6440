"""Small helpers of the delivery tests: sessions with webhooks, events raised as the engine does,
and waiting for a delivery to settle."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import transaction

from sessions_app import events
from sessions_app.models import Session
from sessions_app.services import create_session
from webhooks_app.models import Delivery


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
