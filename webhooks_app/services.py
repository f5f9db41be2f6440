"""Webhook delivery: rows first, the broker only rings the bell.

- `enqueue` runs inside the transaction that raised the event: one delivery row per matching
  webhook, queued once the transaction commits (a rolled-back change sends nothing).
- `deliver` is the task body, in batches: claim many due deliveries with one conditional UPDATE
  (the task's own ids first, then whatever else is due), send them at once over the kept-alive
  pools of `transport`, record the attempts in bulk and decide the next of each (`decide`).
  It is idempotent: a duplicate task finds its deliveries done, not due or claimed, and an
  attempt is recorded only over the attempt number it claimed.
- Isolation: a claim takes no more of a target than `WAHA_WEBHOOK_MAX_PER_TARGET` beside what
  this process already has on its way, and a task waits at most `TASK_PATIENCE_SECONDS` for its
  sends: a slow receiver's attempts finish and are recorded on their own (`inflight`), never
  holding a worker thread for the whole timeout. After `WAHA_WEBHOOK_BREAKER_FAILURES`
  failures in a row a target's breaker opens (a `Target` row, shared by every process): its
  deliveries wait `WAHA_WEBHOOK_BREAKER_COOLDOWN_SECONDS` (`waiting_until`, not an attempt,
  no retry used), then one probe attempt closes it again or opens it for another cool-down.
- `sweep` queues what is due and was never picked up (long waits, a lost worker, a restarted
  broker), in batches: nothing depends on a message surviving in the broker.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import logging
import math
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from waha_project.celery import app as celery_app
from waha_project.database import ByKeys, insert_rows
from waha_project.logs import log_context, redact_url

from . import monitoring, signing, statements, transport
from .config import global_webhook
from .inflight import LateRecorder, Outstanding
from .models import (
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_RETRY_DELAY_SECONDS,
    RESPONSE_BYTES_KEPT,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    RetryPolicy,
    Target,
    Webhook,
    origin_of,
)
from .retries import retry_wait
from .subscriptions import matches

log = logging.getLogger("waha.webhooks")

DELIVER_TASK = "webhooks_app.tasks.deliver"
# Deliveries one task message carries, and one claim takes.
DELIVERY_BATCH = 100
# Deliveries the sweeper queues per run (in tasks of DELIVERY_BATCH).
SWEEP_LIMIT = 5000
# A claimed attempt may take the whole timeout; after this much longer it counts as lost.
CLAIM_MARGIN_SECONDS = 30
# How long a task waits for its sends before leaving the slow ones to finish on their own, and
# how long without one ending once some have (a batch's fast answers come together).
TASK_PATIENCE_SECONDS = 1.0
TASK_QUIET_SECONDS = 0.1
# A task claims again while there is due work, for at most this long (then others take over).
TASK_BUDGET_SECONDS = 10.0


def user_agent() -> str:
    return f"WAHA-Django/{settings.WAHA_VERSION}"


# --- configs ----------------------------------------------------------------------------------
def sync_webhooks(session_id: int, configs: list[dict[str, Any]] | None) -> None:
    """Make a session's Webhook rows match its `config.webhooks`."""
    Webhook.objects.filter(session_id=session_id).delete()
    add_webhooks(session_id, configs)


def add_webhooks(session_id: int, configs: list[dict[str, Any]] | None) -> None:
    """The Webhook rows of a new session's `config.webhooks` (no query when there are none)."""
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
def serialised(envelope: dict[str, Any]) -> str:
    """An envelope's text, as a delivery sends it (and `/ws` forwards it): made once, compact,
    unicode as it is.

    By orjson, several times faster than `json.dumps` on an event; what orjson refuses (an
    integer beyond 64 bits, a key that is not a string) goes to `json.dumps`, which writes it
    exactly."""
    try:
        return orjson.dumps(envelope).decode()
    except TypeError:
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def enqueue(session_id: int, envelope: dict[str, Any]) -> list[int]:
    """Write one delivery per matching webhook of the session (and the global one); queue them
    when the transaction commits. Answers their ids."""
    return enqueue_many([(session_id, envelope, serialised(envelope))])


def enqueue_many(items: Sequence[tuple[int, dict[str, Any], str]]) -> list[int]:
    """`enqueue` for many (session id, envelope, its text from `serialised`) at once: every
    delivery written with one bulk insert of plain rows (`insert_rows`), in order, and queued
    once when the transaction commits. Answers their ids, in order."""
    if not items:
        return []
    hooks: dict[int, list[Webhook]] = defaultdict(list)
    for hook in Webhook.objects.filter(session_id__in={item[0] for item in items}):
        hooks[hook.session_id].append(hook)
    shared = global_webhook()
    shared_events, shared_target = (shared["events"], {
        **_target_of(shared), "webhook_id": None, "is_global": True,
        "origin": origin_of(shared["url"])}) if shared else ([], {})
    targets_of: dict[int, dict[str, Any]] = {}  # a webhook's fields, built once
    now = timezone.now()
    rows: list[dict[str, Any]] = []
    for session_id, envelope, body in items:
        event = envelope["event"]
        targets = [targets_of.get(hook.pk) or targets_of.setdefault(hook.pk, _target(hook))
                   for hook in hooks[session_id] if matches(hook.events, event)]
        if shared and matches(shared_events, event):
            targets.append(shared_target)
        if not targets:
            continue
        rows.extend(
            {**target, "session_id": session_id, "session_name": envelope["session"],
             "event": event, "event_id": envelope["id"], "event_timestamp": envelope["timestamp"],
             "body": body, "next_attempt_at": now, "enqueued_at": now}
            for target in targets
        )
    ids = insert_rows(Delivery, rows)
    if ids:
        transaction.on_commit(lambda: queue(ids))
    return ids


def _target(hook: Webhook) -> dict[str, Any]:
    """What a delivery copies from its webhook, so later config changes never lose it."""
    return {"webhook_id": hook.pk, "is_global": False, "url": hook.url,
            "origin": origin_of(hook.url), "hmac_key": hook.hmac_key,
            "custom_headers": hook.custom_headers, "retry_policy": hook.retry_policy,
            "retry_delay_seconds": hook.retry_delay_seconds,
            "retry_attempts": hook.retry_attempts}


def queue(ids: Iterable[int], countdown: float = 0) -> None:
    """Ring the bell: one `deliver` task per DELIVERY_BATCH ids, sent by name (tasks.py imports
    us)."""
    ids = list(ids)
    for start in range(0, len(ids), DELIVERY_BATCH):
        chunk = ids[start:start + DELIVERY_BATCH]
        try:
            celery_app.send_task(DELIVER_TASK, (chunk,), countdown=countdown or None)
        except Exception:  # the broker is down: the rows are there, the sweeper will queue them
            log.warning("could not queue %d deliveries (first %s); the sweeper will", len(chunk),
                        chunk[0], exc_info=True)


# --- claiming ---------------------------------------------------------------------------------
OUTSTANDING = Outstanding()
TARGETS = ByKeys(Target, "origin")  # a batch's targets, read with one SQL text


def _unlocked(now: datetime) -> Q:
    return Q(locked_until__isnull=True) | Q(locked_until__lt=now)


def _breakers_on() -> bool:
    return settings.WEBHOOK_BREAKER_FAILURES > 0


def hold(deliveries: QuerySet[Delivery], until: datetime, now: datetime) -> int:
    """Deliveries whose target's breaker is open wait until `until`: not an attempt."""
    return deliveries.filter(_unlocked(now), status=DeliveryStatus.PENDING,
                             next_attempt_at__lt=until).update(
        next_attempt_at=until, waiting_until=until, enqueued_at=None)


@dataclass
class Claim:
    deliveries: list[Delivery]
    targets: dict[str, Target]  # the claimed deliveries' targets with a row, as read
    blocked: dict[int, str]  # carried ids left unclaimed for want of room, and their target


def claim(ids: list[int], now: datetime, *, steal: bool, capped: bool = True) -> Claim:
    """Claim the due ones of `ids` (and, with `steal`, other due deliveries, oldest first), at
    most DELIVERY_BATCH, at most the room each target has in this process (`capped`); hold
    those of targets whose breaker is open; one probe for a target whose cool-down is over."""
    cap = settings.WEBHOOK_MAX_PER_TARGET
    rows = statements.due_among(ids, now)
    if steal and len(rows) < DELIVERY_BATCH:
        rows += statements.oldest_due(
            now, DELIVERY_BATCH - len(rows), besides=ids,
            origins_besides=sorted(OUTSTANDING.full(cap)) if capped else [])
    if not rows:
        return Claim([], {}, {})
    targets = ({target.origin: target for target in TARGETS.all(sorted({o for _, o in rows}))}
               if _breakers_on() else {})
    carried = set(ids)
    gates: dict[str, tuple[int | None, datetime | None]] = {}
    probes: dict[str, datetime] = {}
    held: dict[datetime, list[int]] = defaultdict(list)
    chosen: dict[int, str] = {}
    blocked: dict[int, str] = {}
    for pk, origin in rows:
        if origin not in gates:
            gates[origin] = _gate(origin, targets.get(origin), now, probes)
        allowance, until = gates[origin]
        # Room is reserved here, in memory, so claims running side by side share the cap.
        if (len(chosen) < DELIVERY_BATCH and (allowance is None or allowance > 0)
                and OUTSTANDING.reserve(origin, cap if capped else None)):
            chosen[pk] = origin
            if allowance is not None:
                gates[origin] = (allowance - 1, until)
        elif until is not None:
            held[until].append(pk)
        elif pk in carried:
            blocked[pk] = origin
            OUTSTANDING.note_waiting(origin)
    for until, pks in held.items():
        hold(Delivery.objects.filter(pk__in=pks), until, now)
    deliveries = sorted(statements.lock(list(chosen), now, now + _claim_span(), uuid.uuid4().hex),
                        key=lambda delivery: delivery.pk)
    for pk in chosen.keys() - {d.pk for d in deliveries}:  # taken by another worker first
        OUTSTANDING.done(chosen[pk])
    probing = {d.origin for d in deliveries}
    for origin, probe_until in probes.items():
        if origin not in probing:  # the probe's delivery went elsewhere: let another probe
            Target.objects.filter(origin=origin, probe_until=probe_until).update(probe_until=None)
    return Claim(deliveries, {o: t for o, t in targets.items() if o in probing}, blocked)


def _claim_span() -> timedelta:
    return timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS)


def _gate(origin: str, target: Target | None, now: datetime,
          probes: dict[str, datetime]) -> tuple[int | None, datetime | None]:
    """What a target's breaker lets a claim take: (how many, None for as many as there is room
    for; until when the others wait, None when they are not held)."""
    if target is None or target.open_until is None:
        return None, None
    if target.is_open(now):
        return 0, target.open_until
    probe_until = _take_probe(target, now)
    if probe_until is not None:
        probes[origin] = probe_until
        return 1, probe_until
    if target.is_open(now):  # it failed again meanwhile
        return 0, target.open_until
    if target.open_until is not None:  # another worker is probing it
        return 0, target.probe_until or now + _claim_span()
    return None, None


def _take_probe(target: Target, now: datetime) -> datetime | None:
    """The one probe of a target whose cool-down is over, if no other worker holds it (one
    conditional UPDATE); otherwise None, and `target` as it is now."""
    until = now + _claim_span()
    taken = Target.objects.filter(
        Q(probe_until__isnull=True) | Q(probe_until__lt=now),
        pk=target.pk, open_until__lte=now).update(probe_until=until)
    if taken:
        target.probe_until = until
        return until
    target.refresh_from_db()
    return None


# --- sending ----------------------------------------------------------------------------------
@dataclass
class Sent:
    """One attempt on its way or done."""

    delivery: Delivery
    number: int
    started: datetime
    future: concurrent.futures.Future[transport.SendResult]
    target: Target | None

    @functools.cached_property
    def result(self) -> transport.SendResult:
        """Read once the send has ended (recording reads it several times)."""
        try:
            return self.future.result()
        except BaseException as exc:  # the sending loop went away (the process is ending)
            return transport.SendResult(status_code=None, body=b"", duration_ms=0,
                                        error=f"not sent: {type(exc).__name__}")


def _post(delivery: Delivery) -> transport.Post:
    body = delivery.body.encode()
    headers = signing.request_headers(
        event_id=delivery.event_id,
        event_timestamp_ms=delivery.event_timestamp,
        body=body,
        hmac_key=delivery.hmac_key or None,
        custom_headers=delivery.custom_headers,
        user_agent=user_agent(),
    )
    return transport.Post(delivery.url, body, headers)


def _send_all(claimed: Claim) -> list[Sent]:
    """Start every claimed delivery's next attempt at once."""
    posts = []
    for delivery in claimed.deliveries:
        try:
            posts.append((delivery, _post(delivery)))
        except Exception:  # its claim runs out and the sweeper queues it again
            OUTSTANDING.done(delivery.origin)
            log.exception("could not start webhook delivery %s", delivery.pk)
    started = timezone.now()
    futures = transport.submit_all([post for _, post in posts],
                                   timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                                   max_bytes=RESPONSE_BYTES_KEPT,
                                   policy=transport.TargetPolicy.from_settings())
    sent = []
    for (delivery, _), future in zip(posts, futures, strict=True):
        future.add_done_callback(functools.partial(_sent, delivery.origin))
        sent.append(Sent(delivery, delivery.attempts + 1, started, future,
                         claimed.targets.get(delivery.origin)))
    return sent


def _sent(origin: str, _: object) -> None:
    OUTSTANDING.done(origin)


def deliver(ids: Iterable[int]) -> int:
    """The task body: claim, send and record batches, this task's ids first, then whatever else
    is due, for up to TASK_BUDGET_SECONDS; returns how many attempts it started.

    Sends still running after TASK_PATIENCE_SECONDS are recorded by `LATE` when they end. Ids
    whose target had no room in this process are left for a task queued once room is made
    (`kick`), or the next sweep.
    """
    carried = list(dict.fromkeys(ids))
    budget = time.monotonic() + TASK_BUDGET_SECONDS
    started = 0
    while True:
        claimed = claim(carried, timezone.now(), steal=True)
        carried = list(claimed.blocked)
        if not claimed.deliveries:
            # Room at a flowing target is a moment away: worth waiting for, briefly.
            if (carried and time.monotonic() < budget and OUTSTANDING.wait_for_room(
                    set(claimed.blocked.values()), settings.WEBHOOK_MAX_PER_TARGET,
                    TASK_QUIET_SECONDS)):
                continue
            break
        sent = _send_all(claimed)
        started += len(sent)
        running = _wait_for_batch([s.future for s in sent])
        for late in (s for s in sent if s.future in running):
            LATE.adopt(late.future, late)
        record([s for s in sent if s.future not in running])
        if time.monotonic() > budget:
            break
    if carried:  # the next sweep queues them, not the requeue horizon
        Delivery.objects.filter(_unlocked(timezone.now()), pk__in=carried,
                                status=DeliveryStatus.PENDING).update(enqueued_at=None)
    return started


def _wait_for_batch(futures: list[concurrent.futures.Future[transport.SendResult]],
                    ) -> set[concurrent.futures.Future[transport.SendResult]]:
    """Wait for a batch's sends while they keep ending: at most TASK_PATIENCE_SECONDS, and no
    longer than TASK_QUIET_SECONDS without one ending once some have (the rest are slow).
    Returns the ones still running."""
    progress = _Progress(futures)
    progress.wait(TASK_PATIENCE_SECONDS, TASK_QUIET_SECONDS)
    return {future for future in futures if not future.done()}


class _Progress:
    """How many of a batch's sends have ended, and when the last one did.

    One counter for the batch: `concurrent.futures.wait(FIRST_COMPLETED)` in a loop would put
    a waiter on every running future at each wake-up, a hundred locks per send ended. The
    waiting thread is woken by the first send to end and by the last; in between it looks
    again each time the quiet period could have run out.
    """

    def __init__(self, futures: list[concurrent.futures.Future[transport.SendResult]]) -> None:
        self._changed = threading.Condition()
        self._total = self._left = len(futures)
        self._last_ended = 0.0
        for future in futures:
            future.add_done_callback(self._ended)

    def _ended(self, _: object) -> None:
        with self._changed:
            self._left -= 1
            self._last_ended = time.monotonic()
            if self._left in (0, self._total - 1):
                self._changed.notify()

    def wait(self, patience: float, quiet: float) -> None:
        deadline = time.monotonic() + patience
        with self._changed:
            while self._left:
                now = time.monotonic()
                until = deadline
                if self._left < self._total:  # some ended: wait for the next only so long
                    until = min(deadline, self._last_ended + quiet)
                if until <= now:
                    return
                self._changed.wait(until - now)


def attempt(delivery_id: int, now: datetime | None = None) -> Delivery | None:
    """Send one attempt of one delivery if it is due and nobody else is sending it, and wait
    for it; the delivery as recorded, or None when nothing was attempted (or another worker
    recorded this attempt first)."""
    claimed = claim([delivery_id], now or timezone.now(), steal=False, capped=False)
    if not claimed.deliveries:
        return None
    [sent] = _send_all(claimed)
    concurrent.futures.wait([sent.future])
    recorded = record([sent])
    return Delivery.objects.get(pk=delivery_id) if recorded else None


def _record_late(items: list[Sent]) -> None:
    close_old_connections()
    try:
        record(items)
    finally:
        close_old_connections()
    if OUTSTANDING.take_waiting({item.delivery.origin for item in items}):
        kick()


def kick() -> None:
    """Queue a task without ids: it claims whatever is due (room was made for what waited)."""
    try:
        celery_app.send_task(DELIVER_TASK, ([],))
    except Exception:  # the sweeper queues it
        log.warning("could not queue a delivery task; the sweeper will", exc_info=True)


LATE: LateRecorder[Sent] = LateRecorder(_record_late, "webhook-recorder")


def finish_in_flight(timeout: float) -> bool:
    """Wait until this process's sends are done and recorded (a worker shutting down)."""
    deadline = time.monotonic() + timeout
    sent = OUTSTANDING.wait_empty(timeout)
    return LATE.wait_idle(max(0.0, deadline - time.monotonic())) and sent


# --- recording --------------------------------------------------------------------------------
@dataclass
class _Outcome:
    sent: Sent
    status: str
    next_at: datetime | None
    countdown: float | None
    error: str


def record(items: list[Sent]) -> list[Delivery]:
    """Store the attempts and decide what comes next, in bulk; once per (delivery, attempt
    number): what another worker recorded first is left alone. Returns what was recorded."""
    if not items:
        return []
    now = timezone.now()
    outcomes = [_Outcome(item, *decide(item.delivery, item.number, item.result, now))
                for item in items]
    with transaction.atomic():
        current = statements.attempts_of(sorted(o.sent.delivery.pk for o in outcomes))
        mine = [o for o in outcomes if current.get(o.sent.delivery.pk) == o.sent.number - 1]
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for o in mine:
            result = o.sent.result
            key = (o.sent.number, o.status, o.next_at, o.countdown is not None,
                   result.status_code, o.error)
            groups[key].append(o.sent.delivery.pk)
        for (number, status, next_at, counted, status_code, error), pks in groups.items():
            statements.finish(pks, number, {
                "status": status,
                "next_attempt_at": next_at,
                "enqueued_at": now if counted else None,
                "locked_until": None,
                "claim_token": "",
                "waiting_until": None,
                "last_status_code": status_code,
                "last_error": error,
                "finished_at": None if status == DeliveryStatus.PENDING else now,
            })
        insert_rows(DeliveryAttempt, [
            {"delivery_id": o.sent.delivery.pk, "number": o.sent.number,
             "started_at": o.sent.started, "status_code": o.sent.result.status_code,
             "duration_ms": o.sent.result.duration_ms,
             # PostgreSQL text cannot hold NUL: the insert would fail after the send,
             # leaving the delivery claimed, to be swept and sent again, and again.
             "response_body": o.sent.result.body[:RESPONSE_BYTES_KEPT]
             .decode("utf-8", "replace").replace("\x00", "\ufffd"),
             "error": o.sent.result.error}
            for o in mine
        ])
        held = _breakers(mine, now) if _breakers_on() else set()
        retries: dict[float, list[int]] = defaultdict(list)
        for o in mine:
            if o.countdown is not None and o.sent.delivery.origin not in held:
                # Rounded up to a tenth of a second, so retries due together share a task.
                retries[math.ceil(o.countdown * 10) / 10].append(o.sent.delivery.pk)
        if retries:
            transaction.on_commit(lambda: _queue_retries(retries))
        # Counted before the rows commit, so a scrape that sees them done sees them counted.
        monitoring.observe_attempts([(o.status, o.sent.delivery.event_timestamp,
                                      o.sent.result.duration_ms) for o in mine], now)
    for o in mine:
        _log_outcome(o)
    return [o.sent.delivery for o in mine]


def _queue_retries(retries: dict[float, list[int]]) -> None:
    for countdown, pks in retries.items():
        queue(pks, countdown=countdown)


def _log_outcome(o: _Outcome) -> None:
    """A failure for good is a warning; the rest is debug, skipped unless that is on (the
    row says it all; operators read rows)."""
    if o.status != DeliveryStatus.FAILED and not log.isEnabledFor(logging.DEBUG):
        return
    delivery, number = o.sent.delivery, o.sent.number
    with log_context(session=delivery.session_name, event_id=delivery.event_id,
                     delivery_id=delivery.pk):
        if o.status == DeliveryStatus.FAILED:
            log.warning("webhook delivery %s (%s → %s) failed for good after %d attempt(s): %s",
                        delivery.pk, delivery.event, redact_url(delivery.url), number, o.error)
        elif o.status == DeliveryStatus.PENDING:
            log.debug("webhook delivery %s (%s) attempt %d failed, next at %s: %s", delivery.pk,
                      delivery.event, number, o.next_at, o.error)
        else:
            log.debug("webhook delivery %s (%s) delivered on attempt %d", delivery.pk,
                      delivery.event, number)


# --- circuit breakers -------------------------------------------------------------------------
def healthy(result: transport.SendResult) -> bool | None:
    """What an attempt says of its target: True when it answered (anything below 500 but 429),
    False when it did not, or answered 5xx or 429; None when it was never contacted."""
    if result.refused:
        return None
    code = result.status_code
    return code is not None and code < 500 and code != 429


def _breakers(recorded: list[_Outcome], now: datetime) -> set[str]:
    """Count each target's failures in a row; open, close and hold. Returns the targets whose
    breaker is open now (their deliveries wait, their retries are not queued)."""
    by_origin: dict[str, list[_Outcome]] = defaultdict(list)
    for o in recorded:
        by_origin[o.sent.delivery.origin].append(o)
    open_now: set[str] = set()
    for origin, outcomes in sorted(by_origin.items()):  # one lock order for every worker
        verdicts = [(healthy(o.sent.result), o) for o in outcomes]
        successes = [i for i, (verdict, _) in enumerate(verdicts) if verdict]
        after = verdicts[successes[-1] + 1:] if successes else verdicts
        failures = [o for verdict, o in after if verdict is False]
        if not origin:
            continue
        if successes and any(o.sent.target is not None for o in outcomes) and _close(origin, now):
            log.info("webhook target %s answers again: its deliveries go on", origin)
        if not failures:
            continue
        Target.objects.bulk_create([Target(origin=origin)], ignore_conflicts=True)
        count: Any = len(failures) if successes else F("consecutive_failures") + len(failures)
        Target.objects.filter(origin=origin).update(
            consecutive_failures=count, last_error=failures[-1].error, updated_at=now)
        if _open(origin, now):
            open_now.add(origin)
    return open_now


def _open(origin: str, now: datetime) -> bool:
    """Open the breaker if the target failed often enough in a row; hold its deliveries."""
    until = now + timedelta(seconds=settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS)
    opened = Target.objects.filter(
        origin=origin, consecutive_failures__gte=settings.WEBHOOK_BREAKER_FAILURES,
    ).update(open_until=until, probe_until=None, updated_at=now)
    if opened:
        held = hold(Delivery.objects.filter(origin=origin), until, now)
        log.warning("webhook target %s failed %d times or more in a row: its deliveries wait "
                    "until %s (%d waiting)", origin, settings.WEBHOOK_BREAKER_FAILURES,
                    until.isoformat(timespec="seconds"), held)
    return bool(opened)


def _close(origin: str, now: datetime) -> bool:
    """A success: the failures in a row start again from 0; an open breaker closes and its
    waiting deliveries are due at once. Returns whether a breaker closed."""
    closed = Target.objects.filter(origin=origin, open_until__isnull=False).update(
        consecutive_failures=0, open_until=None, probe_until=None, last_error="",
        updated_at=now)
    Target.objects.filter(origin=origin).exclude(consecutive_failures=0).update(
        consecutive_failures=0, updated_at=now)
    if closed:
        released = list(Delivery.objects.filter(
            _unlocked(now), origin=origin, status=DeliveryStatus.PENDING,
            waiting_until__isnull=False).order_by().values_list("pk", flat=True)[:SWEEP_LIMIT])
        Delivery.objects.filter(pk__in=released).update(
            waiting_until=None, next_attempt_at=now, enqueued_at=now)
        # Beyond SWEEP_LIMIT they are due at their stored time, left to the sweeper.
        Delivery.objects.filter(origin=origin, status=DeliveryStatus.PENDING,
                                waiting_until__isnull=False).update(waiting_until=None)
        transaction.on_commit(lambda: queue(released))
    return bool(closed)



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
    """Queue what is due and not already on its way, in batches; returns how many were queued."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_SECONDS)
    due = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(_unlocked(now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
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
            session_id=delivery.session_id, session_name=delivery.session_name,
            event=delivery.event,
            event_id=delivery.event_id, event_timestamp=delivery.event_timestamp,
            body=delivery.body, url=delivery.url, hmac_key=delivery.hmac_key,
            custom_headers=delivery.custom_headers, retry_policy=delivery.retry_policy,
            retry_delay_seconds=delivery.retry_delay_seconds,
            retry_attempts=delivery.retry_attempts, next_attempt_at=now, enqueued_at=now,
        )
        transaction.on_commit(lambda: queue([copy.pk]))
    return copy
