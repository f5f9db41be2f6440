"""Webhook delivery: rows first, the broker only rings the bell.

- `enqueue` runs inside the transaction that raised the event: one delivery row per matching
  webhook, queued once the transaction commits (a rolled-back change sends nothing).
- `attempt` is the task body: claim the delivery, send once, record the attempt, decide the next.
  It is idempotent: a duplicate task finds the delivery done, not due or claimed.
- `sweep` queues what is due and was never picked up (long waits, a lost worker, a restarted
  broker): nothing depends on a message surviving in the broker.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from waha_project.celery import app as celery_app
from waha_project.logs import log_context, redact_url

from . import monitoring, signing, transport
from .config import global_webhook
from .models import (
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_RETRY_DELAY_SECONDS,
    RESPONSE_BYTES_KEPT,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    RetryPolicy,
    Webhook,
)
from .retries import retry_wait
from .subscriptions import matches

log = logging.getLogger("waha.webhooks")

DELIVER_TASK = "webhooks_app.tasks.deliver"
SWEEP_BATCH = 500
# A claimed attempt may take the whole timeout; after this much longer it counts as lost.
CLAIM_MARGIN_SECONDS = 30
DUE_TOLERANCE_SECONDS = 1.0


def user_agent() -> str:
    return f"WAHA-Django/{settings.WAHA_VERSION}"


# --- configs ----------------------------------------------------------------------------------
def sync_webhooks(session_id: int, configs: list[dict[str, Any]] | None) -> None:
    """Make a session's Webhook rows match its `config.webhooks`."""
    Webhook.objects.filter(session_id=session_id).delete()
    Webhook.objects.bulk_create([
        Webhook(session_id=session_id, position=index, events=list(config.get("events") or []),
                **_target_of(config))
        for index, config in enumerate(configs or [])
    ])


def _target_of(config: dict[str, Any]) -> dict[str, Any]:
    """Where and how a webhook config sends: the fields a Webhook and a Delivery share."""
    retries = config.get("retries") or {}
    return {
        "url": config["url"],
        "hmac_key": ((config.get("hmac") or {}).get("key")) or "",
        "custom_headers": list(config.get("customHeaders") or []),
        "retry_policy": retries.get("policy") or RetryPolicy.CONSTANT,
        "retry_delay_seconds": _default(retries.get("delaySeconds"),
                                        DEFAULT_RETRY_DELAY_SECONDS),
        "retry_attempts": _default(retries.get("attempts"), DEFAULT_RETRY_ATTEMPTS),
    }


def _default(value: int | None, default: int) -> int:
    return default if value is None else int(value)


# --- publishing -------------------------------------------------------------------------------
def enqueue(session_id: int, envelope: dict[str, Any]) -> list[Delivery]:
    """Write one delivery per matching webhook of the session (and the global one); queue them
    when the transaction commits."""
    return enqueue_many([(session_id, envelope)])


def enqueue_many(items: list[tuple[int, dict[str, Any]]]) -> list[Delivery]:
    """`enqueue` for many (session id, envelope) pairs: every delivery written with one bulk
    insert, in order, and queued once when the transaction commits."""
    hooks: dict[int, list[Webhook]] = defaultdict(list)
    for hook in Webhook.objects.filter(session_id__in={session_id for session_id, _ in items}):
        hooks[hook.session_id].append(hook)
    shared = global_webhook()
    shared_events, shared_target = (shared["events"], _target_of(shared)) if shared else ([], {})
    now = timezone.now()
    rows: list[Delivery] = []
    for session_id, envelope in items:
        event = envelope["event"]
        targets: list[tuple[Webhook | None, dict[str, Any]]] = [
            (hook, _target(hook)) for hook in hooks[session_id] if matches(hook.events, event)
        ]
        if shared and matches(shared_events, event):
            targets.append((None, shared_target))
        if not targets:
            continue
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
        rows.extend(
            Delivery(webhook=hook, is_global=hook is None, session_name=envelope["session"],
                     event=event, event_id=envelope["id"], event_timestamp=envelope["timestamp"],
                     body=body, next_attempt_at=now, enqueued_at=now, **target)
            for hook, target in targets
        )
    if not rows:
        return []
    deliveries = Delivery.objects.bulk_create(rows)
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: queue(ids))
    return deliveries


def _target(hook: Webhook) -> dict[str, Any]:
    """What a delivery copies from its webhook, so later config changes never lose it."""
    return {"url": hook.url, "hmac_key": hook.hmac_key, "custom_headers": hook.custom_headers,
            "retry_policy": hook.retry_policy, "retry_delay_seconds": hook.retry_delay_seconds,
            "retry_attempts": hook.retry_attempts}


def queue(ids: Iterable[int], countdown: float = 0) -> None:
    """Ring the bell: one `deliver` task per delivery, sent by name (tasks.py imports us)."""
    for delivery_id in ids:
        try:
            celery_app.send_task(DELIVER_TASK, (delivery_id,), countdown=countdown or None)
        except Exception:  # the broker is down: the row is there, the sweeper will queue it
            log.warning("could not queue delivery %s; the sweeper will", delivery_id,
                        exc_info=True)


# --- one attempt --------------------------------------------------------------------------------
def attempt(delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Send one attempt of a delivery if it is due and nobody else is sending it."""
    now = now or timezone.now()
    lock = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS)
    claimed = Delivery.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now),
        # A countdown may fire a moment before the stored time: that still counts as due.
        pk=delivery_id, status=DeliveryStatus.PENDING,
        next_attempt_at__lte=now + timedelta(seconds=DUE_TOLERANCE_SECONDS),
    ).update(locked_until=lock)
    if not claimed:
        return None
    delivery = Delivery.objects.get(pk=delivery_id)
    with log_context(session=delivery.session_name, event_id=delivery.event_id,
                     delivery_id=delivery.pk):
        number = delivery.attempts + 1
        body = delivery.body.encode()
        headers = signing.request_headers(
            event_id=delivery.event_id,
            event_timestamp_ms=delivery.event_timestamp,
            body=body,
            hmac_key=delivery.hmac_key or None,
            custom_headers=delivery.custom_headers,
            user_agent=user_agent(),
        )
        started = timezone.now()
        result = transport.send(delivery.url, body, headers,
                                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                                max_bytes=RESPONSE_BYTES_KEPT,
                                policy=transport.TargetPolicy.from_settings())
        return record(delivery, number, started, result)


def record(delivery: Delivery, number: int, started: datetime,
           result: transport.SendResult) -> Delivery | None:
    """Store the attempt and decide what comes next, once per (delivery, attempt number)."""
    now = timezone.now()
    status, next_at, countdown, error = decide(delivery, number, result, now)
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery.pk, attempts=number - 1).update(
            attempts=number,
            status=status,
            next_attempt_at=next_at,
            enqueued_at=now if countdown is not None else None,
            locked_until=None,
            last_status_code=result.status_code,
            last_error=error,
            finished_at=None if status == DeliveryStatus.PENDING else now,
        )
        if not updated:  # another worker recorded this attempt first
            return None
        DeliveryAttempt.objects.create(
            delivery=delivery, number=number, started_at=started,
            status_code=result.status_code, duration_ms=result.duration_ms,
            # PostgreSQL text cannot hold NUL: the insert would fail after the send, leaving
            # the delivery claimed, to be swept and sent again, and again.
            response_body=result.body[:RESPONSE_BYTES_KEPT].decode("utf-8", "replace")
            .replace("\x00", "\ufffd"),
            error=result.error,
        )
        if countdown is not None:
            pk = delivery.pk
            transaction.on_commit(lambda: queue([pk], countdown=countdown))
    monitoring.observe_attempt(status, delivery.event_timestamp, result.duration_ms, now)
    if status == DeliveryStatus.FAILED:
        log.warning("webhook delivery %s (%s → %s) failed for good after %d attempt(s): %s",
                    delivery.pk, delivery.event, redact_url(delivery.url), number, error)
    elif status == DeliveryStatus.PENDING:  # the row says it all; operators read rows
        log.debug("webhook delivery %s (%s) attempt %d failed, next at %s: %s", delivery.pk,
                  delivery.event, number, next_at, error)
    else:
        log.debug("webhook delivery %s (%s) delivered on attempt %d", delivery.pk,
                  delivery.event, number)
    delivery.refresh_from_db()
    return delivery


def decide(delivery: Delivery, number: int, result: transport.SendResult, now: datetime
           ) -> tuple[str, datetime | None, float | None, str]:
    """(status, next attempt time, Celery countdown or None for the sweeper, error text)."""
    if result.ok:
        return DeliveryStatus.DELIVERED, None, None, ""
    error = result.error or f"HTTP {result.status_code}"
    if result.gone:
        return DeliveryStatus.FAILED, None, None, f"{error}: 410 Gone stops retrying"
    if result.refused:
        return DeliveryStatus.FAILED, None, None, f"{error}; a refused target is never retried"
    retry_number = number  # the first try is attempt 1; retry n follows attempt n
    if retry_number > delivery.retry_attempts:
        return DeliveryStatus.FAILED, None, None, error
    wait = retry_wait(delivery.retry_policy, delivery.retry_delay_seconds, retry_number,
                      result.retry_after)
    next_at = now + timedelta(seconds=wait)
    countdown = wait if wait <= settings.WEBHOOK_COUNTDOWN_MAX_SECONDS else None
    return DeliveryStatus.PENDING, next_at, countdown, error


# --- the sweeper ----------------------------------------------------------------------------------
def sweep(now: datetime | None = None) -> int:
    """Queue what is due and not already on its way; returns how many were queued."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS)
    due = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    if not due:
        return 0
    Delivery.objects.filter(pk__in=due).update(enqueued_at=now)
    queue(due)
    return len(due)


def prune(now: datetime | None = None) -> int:
    """Delete delivered rows older than WAHA_WEBHOOK_RETENTION_DAYS (attempts go with them)."""
    now = now or timezone.now()
    horizon = now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    deleted, _ = Delivery.objects.filter(status=DeliveryStatus.DELIVERED,
                                         finished_at__lt=horizon).delete()
    return deleted


def redeliver(delivery: Delivery) -> Delivery:
    """Send a delivery again, as a new delivery of the same event (same id for dedupe)."""
    with transaction.atomic():
        now = timezone.now()
        copy = Delivery.objects.create(
            webhook=delivery.webhook, is_global=delivery.is_global,
            session_name=delivery.session_name, event=delivery.event,
            event_id=delivery.event_id, event_timestamp=delivery.event_timestamp,
            body=delivery.body, url=delivery.url, hmac_key=delivery.hmac_key,
            custom_headers=delivery.custom_headers, retry_policy=delivery.retry_policy,
            retry_delay_seconds=delivery.retry_delay_seconds,
            retry_attempts=delivery.retry_attempts, next_attempt_at=now, enqueued_at=now,
        )
        transaction.on_commit(lambda: queue([copy.pk]))
    return copy
