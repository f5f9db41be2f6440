"""A batch of deliveries costs the same statements whatever its size: nothing is read or written
per delivery (a field left out of a claim's read would be one query each)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.receiver import Receiver
from webhooks_app import services
from webhooks_app.models import Delivery

from .helpers import hook, raise_event, session_with

pytestmark = pytest.mark.django_db(transaction=True)


def deliver_batch(session: Any, size: int) -> list[str]:
    for n in range(size):
        raise_event(session, "message", {"body": f"message {n}"})
    ids = list(Delivery.objects.filter(status="pending").values_list("pk", flat=True))
    assert len(ids) == size
    with CaptureQueriesContext(connection) as captured:
        assert services.deliver(ids) == size
    assert Delivery.objects.filter(status="delivered").count() == size
    Delivery.objects.all().delete()
    return [query["sql"].split(" ", 1)[0] for query in captured.captured_queries]


def test_a_batch_costs_the_same_statements_whatever_its_size(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "queue", lambda ids, countdown=0: None)  # no worker here
    session = session_with("alpha", hook(receiver.url("/hook")))

    small = deliver_batch(session, 3)
    large = deliver_batch(session, 30)

    assert receiver.count == 33
    assert large == small, "a statement per delivery"
