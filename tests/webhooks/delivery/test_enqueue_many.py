"""Deliveries of many events at once (the engine's batches): every row with one insert, in the
order of the events, and queued once when the transaction commits."""

from __future__ import annotations

from typing import Any

import pytest

from webhooks_app import services as webhooks
from webhooks_app.models import Delivery

from .helpers import hook, session_with
from .test_event_filter import NO_GLOBAL

pytestmark = pytest.mark.django_db


def _envelope(session: str, event: str, n: int) -> tuple[dict[str, Any], str]:
    """An envelope and its text, as a publisher hands them over."""
    envelope = {"id": f"evt_{n:026d}", "timestamp": 1_741_249_702_000 + n, "event": event,
                "session": session, "payload": {"n": n}}
    return envelope, webhooks.serialised(envelope)


def test_many_events_are_written_with_one_insert_in_order_and_queued_once(
    settings: Any, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.GLOBAL_WEBHOOK_ENV = {**NO_GLOBAL, "WHATSAPP_HOOK_URL": "http://global.test/",
                                   "WHATSAPP_HOOK_EVENTS": "message.ack"}
    alpha = session_with("alpha", hook("http://alpha.test/1", ["message"]),
                         hook("http://alpha.test/2"))
    beta = session_with("beta", hook("http://beta.test/", ["message.any", "message.ack"]))
    quiet = session_with("quiet")
    queued: list[list[int]] = []
    monkeypatch.setattr(webhooks, "queue", lambda ids, countdown=0: queued.append(list(ids)))
    items = [
        (alpha.pk, *_envelope("alpha", "message", 1)),
        (beta.pk, *_envelope("beta", "message", 2)),  # nobody of beta's wants it
        (quiet.pk, *_envelope("quiet", "message.ack", 3)),  # the global webhook does
        (beta.pk, *_envelope("beta", "message.ack", 4)),
        (alpha.pk, *_envelope("alpha", "message.any", 5)),
    ]

    # Two queries: the sessions' webhooks, then one insert.
    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(2):
        ids = webhooks.enqueue_many(items)

    rows = {delivery.pk: delivery for delivery in Delivery.objects.filter(pk__in=ids)}
    deliveries = [rows[pk] for pk in ids]
    assert [(delivery.event_id[-1], delivery.url) for delivery in deliveries] == [
        ("1", "http://alpha.test/1"), ("1", "http://alpha.test/2"),
        ("3", "http://global.test/"),
        ("4", "http://beta.test/"), ("4", "http://global.test/"),
        ("5", "http://alpha.test/2"),
    ]
    assert [delivery.is_global for delivery in deliveries] == [False, False, True, False, True,
                                                                False]
    assert queued == [[delivery.pk for delivery in deliveries]]
    assert sorted(queued[0]) == queued[0]  # written in the order of the events


def test_nothing_to_deliver_writes_and_queues_nothing(
    settings: Any, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.GLOBAL_WEBHOOK_ENV = dict(NO_GLOBAL)
    quiet = session_with("quiet")
    queued: list[list[int]] = []
    monkeypatch.setattr(webhooks, "queue", lambda ids, countdown=0: queued.append(list(ids)))

    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
        assert webhooks.enqueue_many([(quiet.pk, *_envelope("quiet", "message", 1))]) == []

    assert queued == []
