"""A delivery is sent once however many times its task runs: a second attempt finds it claimed
by the first or already done."""

from __future__ import annotations

import threading

import pytest
from celery.signals import task_postrun
from django.db import connections

from tests.support.receiver import Receiver, Reply
from waha_project.embedded import EmbeddedWorker
from webhooks_app import services
from webhooks_app.models import Delivery, DeliveryAttempt

from .helpers import delivery_of, hook, raise_event, session_with, until

pytestmark = pytest.mark.django_db(transaction=True)


def test_attempting_a_delivered_delivery_again_sends_nothing(receiver: Receiver) -> None:
    delivery = delivery_of(raise_event(session_with("alpha", hook(receiver.url()))))

    first = services.attempt(delivery.pk)
    second = services.attempt(delivery.pk)

    assert first is not None and first.status == "delivered"
    assert second is None
    assert receiver.count == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1


def test_an_attempt_while_another_is_in_flight_finds_it_claimed(receiver: Receiver) -> None:
    receiver.reply_with(Reply(200, delay=0.5))
    delivery = delivery_of(raise_event(session_with("alpha", hook(receiver.url()))))
    results: list[Delivery | None] = []

    def first_worker() -> None:
        try:
            results.append(services.attempt(delivery.pk))
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_worker)
    thread.start()
    receiver.wait_for(1)  # the first attempt has claimed the delivery and is waiting for the answer
    second = services.attempt(delivery.pk)
    thread.join(10)

    assert second is None
    [first] = results
    assert first is not None and (first.status, first.attempts) == ("delivered", 1)
    assert receiver.count == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1


def test_duplicated_task_messages_send_once(receiver: Receiver, worker: EmbeddedWorker) -> None:
    finished: list[object] = []

    def count(sender: object = None, args: tuple[object, ...] = (), **_: object) -> None:
        if getattr(sender, "name", "") == "webhooks_app.tasks.deliver":
            finished.append(args[0])

    task_postrun.connect(count, weak=False)
    try:
        receiver.reply_with(Reply(200, delay=0.2))
        delivery = delivery_of(raise_event(session_with("alpha", hook(receiver.url()))))
        # A broker redelivering the message, twice.
        services.queue([delivery.pk])
        services.queue([delivery.pk])

        until(lambda: len(finished) == 3, message="all three tasks to run")
    finally:
        task_postrun.disconnect(count)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert receiver.count == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1
