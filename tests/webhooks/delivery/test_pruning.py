"""Delivered rows older than WAHA_WEBHOOK_RETENTION_DAYS are deleted with their attempts;
pending and failed ones, and recent ones, stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from time_machine import TimeMachineFixture

from tests.support.receiver import Receiver, Reply
from webhooks_app import services
from webhooks_app.models import Delivery, DeliveryAttempt

from .helpers import delivery_of, hook, raise_event, session_with

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2025, 3, 6, 8, 0, tzinfo=UTC)


def test_prune_deletes_only_delivered_rows_past_the_retention(
        receiver: Receiver, time_machine: TimeMachineFixture, settings: Any) -> None:
    settings.WEBHOOK_RETENTION_DAYS = 3
    time_machine.move_to(START, tick=False)
    session = session_with("alpha", hook(receiver.url(), retries={
        "policy": "constant", "delaySeconds": 60, "attempts": 0}))
    receiver.reply_with(Reply(200), Reply(500))
    old_delivered = delivery_of(raise_event(session))
    services.attempt(old_delivered.pk)
    old_failed = delivery_of(raise_event(session))
    services.attempt(old_failed.pk)
    old_pending = delivery_of(raise_event(session))

    time_machine.move_to(START + timedelta(days=2), tick=False)
    recent_delivered = delivery_of(raise_event(session))
    services.attempt(recent_delivered.pk)

    time_machine.move_to(START + timedelta(days=3) - timedelta(minutes=1), tick=False)
    services.prune()
    assert Delivery.objects.count() == 4

    time_machine.move_to(START + timedelta(days=3, minutes=1), tick=False)
    services.prune()

    assert set(Delivery.objects.values_list("pk", "status")) == {
        (old_failed.pk, "failed"), (old_pending.pk, "pending"),
        (recent_delivered.pk, "delivered")}
    assert not DeliveryAttempt.objects.filter(delivery_id=old_delivered.pk).exists()
    assert DeliveryAttempt.objects.filter(delivery_id=old_failed.pk).exists()

    time_machine.move_to(START + timedelta(days=5, minutes=1), tick=False)
    services.prune()
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed", "pending"}
