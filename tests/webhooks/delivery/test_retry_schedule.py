"""Each retry policy's schedule, driven attempt by attempt against a receiver answering 500,
with the clock moved to each stored next attempt instead of waited for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from time_machine import TimeMachineFixture

from tests.support.receiver import Receiver, Reply
from webhooks_app import services
from webhooks_app.models import RESPONSE_BYTES_KEPT, Delivery, DeliveryAttempt
from webhooks_app.retries import MAX_WAIT_SECONDS

from .helpers import delivery_of, hook, raise_event, session_with

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2025, 3, 6, 8, 0, tzinfo=UTC)


def failing_delivery(receiver: Receiver, time_machine: TimeMachineFixture, policy: str,
                     delay: int, attempts: int) -> Delivery:
    receiver.reply_with(then=Reply(500, body=b"try later"))
    time_machine.move_to(START, tick=False)
    session = session_with("alpha", hook(receiver.url(), retries={
        "policy": policy, "delaySeconds": delay, "attempts": attempts}))
    return delivery_of(raise_event(session))


def run_to_the_end(delivery: Delivery, time_machine: TimeMachineFixture
                   ) -> tuple[Delivery, list[float], list[datetime]]:
    """Attempt whenever the delivery says it is due; the waits it stored, and when each ran."""
    waits: list[float] = []
    times: list[datetime] = []
    while delivery.status == "pending":
        assert delivery.next_attempt_at is not None
        now = delivery.next_attempt_at
        time_machine.move_to(now, tick=False)
        attempted = services.attempt(delivery.pk)
        assert attempted is not None
        delivery = attempted
        times.append(now)
        if delivery.next_attempt_at is not None:
            waits.append((delivery.next_attempt_at - now).total_seconds())
    return delivery, waits, times


def test_constant_waits_the_delay_before_every_retry(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    delivery = failing_delivery(receiver, time_machine, "constant", 7, 4)

    delivery, waits, _ = run_to_the_end(delivery, time_machine)

    assert waits == [7, 7, 7, 7]


def test_linear_waits_n_times_the_delay(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    delivery = failing_delivery(receiver, time_machine, "linear", 5, 4)

    delivery, waits, _ = run_to_the_end(delivery, time_machine)

    assert waits == [5, 10, 15, 20]


def test_exponential_doubles_with_up_to_twenty_percent_jitter(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    delivery = failing_delivery(receiver, time_machine, "exponential", 3, 5)

    delivery, waits, _ = run_to_the_end(delivery, time_machine)

    assert len(waits) == 5
    for n, wait in enumerate(waits, start=1):
        base = 3 * 2 ** (n - 1)
        assert base <= wait <= base * 1.2, (n, wait)


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_attempts_stop_after_the_configured_retries(
        receiver: Receiver, time_machine: TimeMachineFixture, retries: int) -> None:
    delivery = failing_delivery(receiver, time_machine, "constant", 1, retries)

    delivery, _, times = run_to_the_end(delivery, time_machine)

    assert delivery.status == "failed"
    assert delivery.attempts == 1 + retries
    assert delivery.next_attempt_at is None
    assert delivery.finished_at == times[-1]
    assert (delivery.last_status_code, delivery.last_error) == (500, "HTTP 500")
    assert receiver.count == 1 + retries
    time_machine.move_to(START + timedelta(days=1), tick=False)
    assert services.attempt(delivery.pk) is None  # done: nothing more is sent
    assert receiver.count == 1 + retries


def test_every_attempt_is_a_row_with_what_the_receiver_answered(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    delivery = failing_delivery(receiver, time_machine, "linear", 2, 2)

    delivery, _, times = run_to_the_end(delivery, time_machine)

    rows = list(DeliveryAttempt.objects.filter(delivery=delivery))
    assert [row.number for row in rows] == [1, 2, 3]
    assert [row.started_at for row in rows] == times
    for row in rows:
        # An answer is not a transport error: its status code says what went wrong.
        assert (row.status_code, row.response_body, row.error) == (500, "try later", "")
        assert row.duration_ms >= 0
    assert delivery.last_error == "HTTP 500"


def test_a_large_response_body_is_kept_up_to_twenty_thousand_bytes(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    delivery = failing_delivery(receiver, time_machine, "constant", 1, 1)
    receiver.reply_with(Reply(500, body=b"y" * 50_000), then=Reply(200, body=b"z" * 30_000))

    delivery, _, _ = run_to_the_end(delivery, time_machine)

    assert delivery.status == "delivered"
    first, second = DeliveryAttempt.objects.filter(delivery=delivery)
    assert first.response_body == "y" * RESPONSE_BYTES_KEPT
    assert second.response_body == "z" * RESPONSE_BYTES_KEPT
    assert RESPONSE_BYTES_KEPT == 20_000


def test_an_attempt_well_before_its_time_sends_nothing(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    delivery = failing_delivery(receiver, time_machine, "constant", 60, 3)
    services.attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == START + timedelta(seconds=60)

    time_machine.move_to(START + timedelta(seconds=30), tick=False)
    assert services.attempt(delivery.pk) is None
    time_machine.move_to(START + timedelta(seconds=60), tick=False)
    assert services.attempt(delivery.pk) is not None

    assert receiver.count == 2


@pytest.mark.parametrize("retry_after", ["300000000000", "9" * 400])
def test_a_retry_after_beyond_any_date_still_records_the_attempt(
        receiver: Receiver, time_machine: TimeMachineFixture, retry_after: str) -> None:
    delivery = failing_delivery(receiver, time_machine, "constant", 1, 3)
    receiver.reply_with(Reply(503, headers={"Retry-After": retry_after}))

    attempted = services.attempt(delivery.pk)

    assert attempted is not None
    assert (attempted.status, attempted.attempts, attempted.locked_until) == ("pending", 1, None)
    assert attempted.next_attempt_at == START + timedelta(seconds=MAX_WAIT_SECONDS)
    assert DeliveryAttempt.objects.filter(delivery=delivery, status_code=503).count() == 1


def test_a_far_exponential_retry_is_capped_too(
        receiver: Receiver, time_machine: TimeMachineFixture) -> None:
    delivery = failing_delivery(receiver, time_machine, "exponential", 86_400, 100)
    Delivery.objects.filter(pk=delivery.pk).update(attempts=59)  # the 60th try is due now

    attempted = services.attempt(delivery.pk)

    assert attempted is not None and attempted.attempts == 60
    assert attempted.next_attempt_at == START + timedelta(seconds=MAX_WAIT_SECONDS)
