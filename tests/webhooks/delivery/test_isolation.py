"""No receiver starves the others: a receiver that never answers holds neither the worker's
threads nor a healthy receiver's deliveries, and a receiver never has more than
WAHA_WEBHOOK_MAX_PER_TARGET attempts in flight from one worker. A real worker, real receivers;
the bounds below are generous: nothing here measures speed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.receiver import Receiver, Reply
from waha_project.embedded import EmbeddedWorker
from webhooks_app.models import Delivery, DeliveryAttempt

from .conftest import StartWorker
from .helpers import hook, raise_event, session_with, until

pytestmark = pytest.mark.django_db(transaction=True)

NO_RETRIES = {"policy": "constant", "delaySeconds": 0, "attempts": 0}
EVENTS = 20


def test_a_receiver_that_never_answers_does_not_hold_back_a_healthy_one(
        receiver: Receiver, start_worker: StartWorker, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 60  # longer than this test: the silent one never ends
    with Receiver() as silent:
        silent.default = Reply(200, delay=120)  # accepts, reads, answers only when stopped
        silent_url = silent.url("/silent")
        session = session_with("alpha", hook(silent_url, retries=NO_RETRIES),
                               hook(receiver.url("/healthy"), retries=NO_RETRIES))
        start_worker()  # two threads, fewer than the silent receiver's requests

        for n in range(EVENTS):
            raise_event(session, "message", {"body": f"message {n}"})

        until(lambda: Delivery.objects.filter(url=receiver.url("/healthy"),
                                              status="delivered").count() == EVENTS,
              timeout=30, message="every healthy delivery")
        assert receiver.count == EVENTS
        # Meanwhile the silent receiver holds its requests: none of them has ended.
        assert silent.count >= 1
        assert not DeliveryAttempt.objects.filter(delivery__url=silent_url).exists()
    # Stopped, the silent receiver hangs up: those attempts end, and are recorded.
    until(lambda: DeliveryAttempt.objects.filter(delivery__url=silent_url).count() == silent.count,
        timeout=30, message="the silent receiver's attempts to be recorded")


def test_a_receiver_never_has_more_than_the_cap_in_flight_from_a_worker(
        receiver: Receiver, worker: EmbeddedWorker, settings: Any) -> None:
    settings.WEBHOOK_MAX_PER_TARGET = 2
    # Each answer takes a while, so that more requests would overlap if they were let through.
    receiver.default = Reply(200, delay=0.3)
    session = session_with("alpha", hook(receiver.url(), retries=NO_RETRIES))

    for n in range(8):
        raise_event(session, "message", {"body": f"message {n}"})

    until(lambda: Delivery.objects.filter(status="delivered").count() == 8, timeout=30,
          message="every delivery")
    assert receiver.count == 8
    assert receiver.most_at_once == 2
