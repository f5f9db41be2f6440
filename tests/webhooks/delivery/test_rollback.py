"""An event raised in a transaction that rolls back is never sent."""

from __future__ import annotations

import pytest
from django.db import transaction

from sessions_app import events
from tests.support.receiver import Receiver
from waha_project.embedded import EmbeddedWorker
from webhooks_app.models import Delivery

from .helpers import hook, raise_event, session_with, until

pytestmark = pytest.mark.django_db(transaction=True)


class Undone(Exception):
    pass


def test_a_rolled_back_change_sends_nothing(receiver: Receiver, worker: EmbeddedWorker) -> None:
    session = session_with("alpha", hook(receiver.url()))

    with pytest.raises(Undone), transaction.atomic():
        rolled_back = events.publish(session, "message", {"body": "never"})
        assert Delivery.objects.filter(event_id=rolled_back["id"]).exists()
        raise Undone()
    # A later committed event goes through the same worker: once it has arrived, the rolled-back
    # one would have been queued before it.
    kept = raise_event(session, "message", {"body": "kept"})

    [request] = receiver.wait_for(1)
    assert request.headers["X-Webhook-Request-Id"] == kept["id"]
    assert not Delivery.objects.filter(event_id=rolled_back["id"]).exists()
    until(lambda: Delivery.objects.filter(event_id=kept["id"], status="delivered").exists())
    assert receiver.count == 1
    assert list(Delivery.objects.values_list("event_id", flat=True)) == [kept["id"]]
