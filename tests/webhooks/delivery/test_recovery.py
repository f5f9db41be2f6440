"""The sweeper queues what is due and was never picked up: a message lost with the broker, or an
attempt claimed by a worker that was killed. Nothing depends on a message surviving."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.support.receiver import Receiver
from waha_project.celery import app
from webhooks_app import services
from webhooks_app.models import Delivery

from .conftest import StartWorker
from .helpers import delivery_of, hook, raise_event, session_with, settled, until

pytestmark = pytest.mark.django_db(transaction=True)


def lose_every_message() -> None:
    """What a restarted in-memory broker or a flushed queue does."""
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)


def age(delivery: Delivery, **fields: Any) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(**fields)


def test_a_delivery_whose_message_was_lost_is_queued_again_and_delivered(
        receiver: Receiver, start_worker: StartWorker) -> None:
    delivery = delivery_of(raise_event(session_with("alpha", hook(receiver.url()))))
    lose_every_message()
    start_worker()
    assert services.sweep() == 0  # just queued: its message is trusted for a while

    an_hour_ago = timezone.now() - timedelta(hours=1)
    age(delivery, enqueued_at=an_hour_ago, next_attempt_at=an_hour_ago)
    assert services.sweep() == 1

    until(settled(delivery), message="the swept delivery to settle")
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    [request] = receiver.wait_for(1)
    assert request.headers["X-Webhook-Request-Id"] == delivery.event_id
    assert services.sweep() == 0


def test_a_delivery_left_to_the_sweeper_is_queued_once_it_is_due(
        receiver: Receiver, start_worker: StartWorker) -> None:
    delivery = delivery_of(raise_event(session_with("alpha", hook(receiver.url()))))
    lose_every_message()
    start_worker()
    # What a long retry wait stores: no message, a time in the future.
    age(delivery, enqueued_at=None, next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert services.sweep() == 0

    age(delivery, next_attempt_at=timezone.now() - timedelta(seconds=1))  # the wait is over
    assert services.sweep() == 1

    until(settled(delivery), message="the swept delivery to settle")
    assert delivery.status == "delivered"
    assert receiver.count == 1


def test_an_attempt_claimed_by_a_killed_worker_is_swept_again(
        receiver: Receiver, start_worker: StartWorker) -> None:
    delivery = delivery_of(raise_event(session_with("alpha", hook(receiver.url()))))
    lose_every_message()
    start_worker()
    now = timezone.now()
    # A worker claimed it and died before recording anything: the lock is still live.
    age(delivery, enqueued_at=now - timedelta(hours=1), next_attempt_at=now - timedelta(hours=1),
        locked_until=now + timedelta(minutes=1))
    assert services.sweep() == 0
    assert services.attempt(delivery.pk) is None

    age(delivery, locked_until=now - timedelta(seconds=1))  # the claim has run out
    assert services.sweep() == 1

    until(settled(delivery), message="the swept delivery to settle")
    assert (delivery.status, delivery.attempts, delivery.locked_until) == ("delivered", 1, None)
    assert receiver.count == 1


def test_the_sweeper_leaves_finished_deliveries_alone(receiver: Receiver) -> None:
    session = session_with("alpha", hook(receiver.url()))
    delivered = delivery_of(raise_event(session))
    failed = delivery_of(raise_event(session))
    lose_every_message()
    an_hour_ago = timezone.now() - timedelta(hours=1)
    age(delivered, status="delivered", enqueued_at=an_hour_ago, next_attempt_at=an_hour_ago)
    age(failed, status="failed", enqueued_at=an_hour_ago, next_attempt_at=an_hour_ago)

    assert services.sweep() == 0
