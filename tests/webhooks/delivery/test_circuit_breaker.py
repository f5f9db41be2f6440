"""A receiver's circuit breaker: after N failures in a row its deliveries wait a cool-down
without attempts, then one probe attempt closes it again (or opens it for another cool-down).
A real receiver answers; the clock is moved, never waited for."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connections
from time_machine import TimeMachineFixture

from tests.support.receiver import Receiver, Reply
from waha_project.timestamps import ms
from webhooks_app import services
from webhooks_app.api.serializers import WebhookDeliverySerializer
from webhooks_app.models import Delivery, DeliveryAttempt, Target, origin_of
from webhooks_app.monitoring import DeliveriesCollector

from .helpers import delivery_of, hook, raise_event, session_with

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2025, 3, 6, 8, 0, tzinfo=UTC)
COOL_DOWN = timedelta(seconds=60)
OPEN_UNTIL = START + COOL_DOWN


@pytest.fixture(autouse=True)
def breaker(settings: Any) -> Any:
    settings.WEBHOOK_BREAKER_FAILURES = 3
    settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS = COOL_DOWN.total_seconds()
    return settings


def four_deliveries(receiver: Receiver, time_machine: TimeMachineFixture) -> list[Delivery]:
    """Four events to one receiver, each with one retry a second after a failure."""
    time_machine.move_to(START, tick=False)
    session = session_with("alpha", hook(receiver.url(), retries={
        "policy": "constant", "delaySeconds": 1, "attempts": 1}))
    return [delivery_of(raise_event(session)) for _ in range(4)]


def fresh(delivery: Delivery) -> Delivery:
    return Delivery.objects.get(pk=delivery.pk)


def opened(receiver: Receiver, time_machine: TimeMachineFixture) -> list[Delivery]:
    """Three failures in a row: the breaker is open until OPEN_UNTIL."""
    receiver.reply_with(*[Reply(500, body=b"down")] * 3)
    deliveries = four_deliveries(receiver, time_machine)
    for delivery in deliveries[:3]:
        assert services.attempt(delivery.pk) is not None
    return deliveries


def test_n_failures_in_a_row_open_the_breaker_and_deliveries_wait_without_attempts(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    deliveries = opened(receiver, time_machine)

    target = Target.objects.get(origin=origin_of(receiver.url()))
    assert (target.consecutive_failures, target.open_until) == (3, OPEN_UNTIL)
    assert target.last_error == "HTTP 500"
    # The one still untried is held, not attempted: no request, no attempt row, no retry used.
    assert services.attempt(deliveries[3].pk) is None
    assert receiver.count == 3
    for delivery in map(fresh, deliveries):
        assert delivery.status == "pending"
        assert (delivery.waiting_until, delivery.next_attempt_at) == (OPEN_UNTIL, OPEN_UNTIL)
    assert [fresh(d).attempts for d in deliveries] == [1, 1, 1, 0]
    assert not DeliveryAttempt.objects.filter(delivery=deliveries[3]).exists()
    assert WebhookDeliverySerializer(fresh(deliveries[3])).data["waitingUntil"] == ms(OPEN_UNTIL)

    time_machine.move_to(OPEN_UNTIL - timedelta(seconds=1), tick=False)
    assert services.sweep() == 0
    assert services.deliver([d.pk for d in deliveries]) == 0
    assert receiver.count == 3


def test_a_success_before_the_nth_failure_starts_the_count_again(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    receiver.reply_with(Reply(500), Reply(500), Reply(200), Reply(500), Reply(500))
    time_machine.move_to(START, tick=False)
    session = session_with("alpha", hook(receiver.url()))

    for _ in range(5):
        assert services.attempt(delivery_of(raise_event(session)).pk) is not None

    target = Target.objects.get(origin=origin_of(receiver.url()))
    assert (target.consecutive_failures, target.open_until) == (2, None)


def test_after_the_cool_down_one_probe_closes_the_breaker_and_the_rest_go_out(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    deliveries = opened(receiver, time_machine)
    receiver.reply_with(Reply(200, delay=0.5), then=Reply(200))
    time_machine.move_to(OPEN_UNTIL + timedelta(seconds=1), tick=False)
    probe_result: list[Delivery | None] = []

    def probe() -> None:
        try:
            probe_result.append(services.attempt(deliveries[3].pk))
        finally:
            connections.close_all()

    thread = threading.Thread(target=probe)
    thread.start()
    receiver.wait_for(4)  # the probe is at the receiver, waiting for its answer
    # Only one probe at a time: the others keep waiting while it runs.
    assert services.attempt(deliveries[0].pk) is None
    waiting = fresh(deliveries[0])
    assert waiting.waiting_until is not None and waiting.waiting_until > OPEN_UNTIL
    thread.join(10)

    [probed] = probe_result
    assert probed is not None and (probed.status, probed.attempts) == ("delivered", 1)
    target = Target.objects.get(origin=origin_of(receiver.url()))
    assert (target.consecutive_failures, target.open_until, target.probe_until) == (0, None, None)
    # The breaker closed: the others are due at once, no longer waiting.
    for delivery in map(fresh, deliveries[:3]):
        assert (delivery.waiting_until, delivery.status) == (None, "pending")
        assert delivery.next_attempt_at == OPEN_UNTIL + timedelta(seconds=1)

    services.deliver([d.pk for d in deliveries[:3]])

    # Their second attempt is their one retry: waiting used none.
    assert [(d.status, d.attempts) for d in map(fresh, deliveries)] == [
        ("delivered", 2), ("delivered", 2), ("delivered", 2), ("delivered", 1)]
    assert receiver.count == 7


def test_a_failed_probe_opens_the_breaker_for_another_cool_down(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    deliveries = opened(receiver, time_machine)
    receiver.reply_with(Reply(503, body=b"still down"))
    probe_at = OPEN_UNTIL + timedelta(seconds=1)
    time_machine.move_to(probe_at, tick=False)

    probed = services.attempt(deliveries[3].pk)

    assert probed is not None and (probed.status, probed.attempts) == ("pending", 1)
    reopened = probe_at + COOL_DOWN
    target = Target.objects.get(origin=origin_of(receiver.url()))
    assert (target.consecutive_failures, target.open_until) == (4, reopened)
    for delivery in map(fresh, deliveries):
        assert (delivery.waiting_until, delivery.next_attempt_at) == (reopened, reopened)
    assert services.attempt(deliveries[0].pk) is None
    assert receiver.count == 4


def test_with_the_breaker_off_failures_never_hold_a_delivery(
        receiver: Receiver, time_machine: TimeMachineFixture, breaker: Any) -> None:
    breaker.WEBHOOK_BREAKER_FAILURES = 0
    receiver.reply_with(then=Reply(500))
    deliveries = four_deliveries(receiver, time_machine)

    for delivery in deliveries:
        assert services.attempt(delivery.pk) is not None

    assert receiver.count == 4
    assert not Target.objects.exists()
    assert all(fresh(d).waiting_until is None for d in deliveries)


def test_a_refused_target_is_not_counted_against_the_receiver(
        receiver: Receiver, time_machine: TimeMachineFixture, settings: Any) -> None:
    deliveries = four_deliveries(receiver, time_machine)
    settings.WEBHOOK_BLOCK_PRIVATE_NETWORKS = True

    for delivery in deliveries:
        assert services.attempt(delivery.pk) is not None

    assert [fresh(d).status for d in deliveries] == ["failed"] * 4
    assert not Target.objects.exists()
    assert receiver.count == 0


def test_open_breakers_and_the_deliveries_they_hold_are_measured(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    opened(receiver, time_machine)

    gauges = {family.name: family.samples[0].value for family in DeliveriesCollector().collect()
              if not family.samples[0].labels}

    assert gauges == {"waha_webhook_targets_open": 1, "waha_webhook_deliveries_waiting": 4}
