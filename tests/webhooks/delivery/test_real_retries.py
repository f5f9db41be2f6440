"""Retries through a real Celery worker and a real receiver: failures then success, a longer
Retry-After, 410 Gone, and redirects that are not followed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings

from tests.support.receiver import Receiver, Reply
from waha_project.embedded import EmbeddedWorker
from webhooks_app.models import DeliveryAttempt

from .helpers import delivery_of, hook, raise_event, session_with, settled, until

pytestmark = pytest.mark.django_db(transaction=True)

# The wait counts from the end of the attempt, which the send timeout bounds.
SEND_BOUND = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS)


def quick_retries(attempts: int) -> dict[str, object]:
    return {"policy": "constant", "delaySeconds": 0, "attempts": attempts}


def test_a_delivery_that_fails_three_times_is_delivered_on_the_fourth_attempt(
        receiver: Receiver, worker: EmbeddedWorker) -> None:
    receiver.fail_first(3)
    session = session_with("alpha", hook(receiver.url(), retries=quick_retries(5),
                                         hmac={"key": "k3y"}))

    envelope = raise_event(session)

    delivery = delivery_of(envelope)
    until(settled(delivery), message="the delivery to settle")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered", 4, 200)
    requests = receiver.wait_for(4)
    assert len(requests) == 4
    assert {r.headers["X-Webhook-Request-Id"] for r in requests} == {envelope["id"]}
    assert {r.headers["webhook-id"] for r in requests} == {envelope["id"]}
    assert len({r.body for r in requests}) == 1
    rows = DeliveryAttempt.objects.filter(delivery=delivery)
    assert [(row.number, row.status_code) for row in rows] == [
        (1, 500), (2, 500), (3, 500), (4, 200)]


def test_a_retry_after_longer_than_the_policy_sets_the_next_attempt(
        receiver: Receiver, worker: EmbeddedWorker) -> None:
    receiver.reply_with(Reply(503, headers={"Retry-After": "120"}))
    session = session_with("alpha", hook(receiver.url(), retries={
        "policy": "constant", "delaySeconds": 1, "attempts": 3}))

    delivery = delivery_of(raise_event(session))

    until(lambda: DeliveryAttempt.objects.filter(delivery=delivery).exists(),
          message="the first attempt")
    delivery.refresh_from_db()
    [first] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert (delivery.status, delivery.attempts, first.status_code) == ("pending", 1, 503)
    assert delivery.next_attempt_at is not None
    wait = delivery.next_attempt_at - first.started_at
    assert timedelta(seconds=120) <= wait < timedelta(seconds=120) + SEND_BOUND
    # Too long for a countdown: it is left to the sweeper, not queued.
    assert delivery.enqueued_at is None
    assert receiver.count == 1


def test_a_retry_after_shorter_than_the_policy_changes_nothing(
        receiver: Receiver, worker: EmbeddedWorker) -> None:
    receiver.reply_with(Reply(503, headers={"Retry-After": "1"}))
    session = session_with("alpha", hook(receiver.url(), retries={
        "policy": "linear", "delaySeconds": 600, "attempts": 3}))

    delivery = delivery_of(raise_event(session))

    until(lambda: DeliveryAttempt.objects.filter(delivery=delivery).exists(),
          message="the first attempt")
    delivery.refresh_from_db()
    [first] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert delivery.next_attempt_at is not None
    wait = delivery.next_attempt_at - first.started_at
    assert timedelta(seconds=600) <= wait < timedelta(seconds=600) + SEND_BOUND


def test_410_gone_stops_retrying_at_once(receiver: Receiver, worker: EmbeddedWorker) -> None:
    receiver.reply_with(Reply(410, body=b"unsubscribed"))
    session = session_with("alpha", hook(receiver.url(), retries=quick_retries(5)))

    delivery = delivery_of(raise_event(session))

    until(settled(delivery), message="the delivery to settle")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, 410)
    assert "410" in delivery.last_error
    assert delivery.next_attempt_at is None
    assert delivery.finished_at is not None
    [row] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert (row.status_code, row.response_body) == (410, "unsubscribed")
    assert receiver.count == 1


def test_a_refused_target_fails_after_one_attempt_with_the_reason_kept(
        receiver: Receiver, worker: EmbeddedWorker, settings: Any) -> None:
    # A host name passes config validation; it resolves to loopback only when sending.
    url = receiver.url(host="localhost")
    session = session_with("alpha", hook(url, retries=quick_retries(5)))
    settings.WEBHOOK_BLOCK_PRIVATE_NETWORKS = True

    delivery = delivery_of(raise_event(session))

    until(settled(delivery), message="the delivery to settle")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, None)
    assert "refused" in delivery.last_error
    assert "loopback" in delivery.last_error
    assert delivery.next_attempt_at is None
    [row] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert "refused" in row.error
    assert receiver.count == 0


def test_a_redirect_is_not_followed_and_counts_as_a_failure(
        receiver: Receiver, worker: EmbeddedWorker) -> None:
    receiver.reply_with(then=Reply(302, headers={"Location": receiver.url("/elsewhere")},
                                   body=b""))
    session = session_with("alpha", hook(receiver.url(), retries=quick_retries(2)))

    delivery = delivery_of(raise_event(session))

    until(settled(delivery), message="the delivery to settle")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 302)
    assert [row.status_code for row in DeliveryAttempt.objects.filter(delivery=delivery)] == [
        302, 302, 302]
    # One request per attempt, every one to the configured path: the Location is never visited.
    assert [(r.method, r.path) for r in receiver.requests] == [("POST", "/hook")] * 3


def test_a_success_after_a_redirect_is_still_one_request_per_attempt(
        receiver: Receiver, worker: EmbeddedWorker) -> None:
    receiver.reply_with(Reply(307, headers={"Location": "/moved"}))
    session = session_with("alpha", hook(receiver.url(), retries=quick_retries(2)))

    delivery = delivery_of(raise_event(session))

    until(settled(delivery), message="the delivery to settle")
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
