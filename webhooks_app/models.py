"""Webhook configs, deliveries (event x webhook), every attempt of a delivery, and the receivers
(targets) with their circuit breakers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db import models

from waha_project.masks import masked_url

DEFAULT_RETRY_ATTEMPTS = 15
DEFAULT_RETRY_DELAY_SECONDS = 2
RESPONSE_BYTES_KEPT = 20_000


class RetryPolicy(models.TextChoices):
    CONSTANT = "constant"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class Webhook(models.Model):
    """One entry of a session's `config.webhooks`, kept in step with create and PUT."""

    session = models.ForeignKey("sessions_app.Session", on_delete=models.CASCADE,
                                related_name="webhooks")
    position = models.PositiveIntegerField()
    url = models.URLField(max_length=2048)
    events = models.JSONField(default=list)
    hmac_key = models.TextField(blank=True, default="")
    retry_policy = models.CharField(max_length=16, choices=RetryPolicy.choices,
                                    default=RetryPolicy.CONSTANT)
    retry_delay_seconds = models.PositiveIntegerField(default=DEFAULT_RETRY_DELAY_SECONDS)
    retry_attempts = models.PositiveIntegerField(default=DEFAULT_RETRY_ATTEMPTS)
    custom_headers = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["session_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="webhook_position"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.position} {self.display_url}"

    @property
    def display_url(self) -> str:
        """The URL as pages and answers show it: its password masked."""
        return masked_url(self.url)


def origin_of(url: str) -> str:
    """The receiver a URL names: `scheme://host:port`, the key of its Target, its connection
    pool and its concurrency cap. Empty for what is not an http(s) URL (never sent anyway)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or (443 if scheme == 'https' else 80)}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryManager(models.Manager["Delivery"]):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Delivery]:
        # A bulk insert skips save(): the origin is derived here for every way rows are written.
        objs = list(objs)
        for delivery in objs:
            delivery.origin = origin_of(delivery.url)
        return super().bulk_create(objs, *args, **kwargs)


class Delivery(models.Model):
    """One event to one webhook. The target is copied in, so a later config change or the
    webhook's removal never loses an event already raised.

    It belongs to the session that raised the event (`session`), not to its name: a new
    session of a deleted one's name starts with no deliveries. A deleted session's deliveries
    are kept, `session` emptied, under the name it had: the events it raised are still sent
    (at least once), and they stay the record of what was sent until pruning removes them."""

    webhook = models.ForeignKey(Webhook, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="deliveries")
    is_global = models.BooleanField(default=False)
    session = models.ForeignKey("sessions_app.Session", on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="deliveries",
                                help_text="Empty once the session is deleted")
    session_name = models.CharField(max_length=54,
                                    help_text="The session's name when the event was raised")
    event = models.CharField(max_length=64)
    event_id = models.CharField(max_length=40)
    event_timestamp = models.BigIntegerField(help_text="The envelope's timestamp, ms")
    body = models.TextField(help_text="The envelope as sent, serialised once")

    url = models.URLField(max_length=2048)
    origin = models.CharField(max_length=300, blank=True, default="",
                              help_text="scheme://host:port of the URL (its Target)")
    hmac_key = models.TextField(blank=True, default="")
    custom_headers = models.JSONField(default=list, blank=True)
    retry_policy = models.CharField(max_length=16, choices=RetryPolicy.choices)
    retry_delay_seconds = models.PositiveIntegerField()
    retry_attempts = models.PositiveIntegerField(help_text="Retries after the first try")

    status = models.CharField(max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    # Which claim holds the lock: a batch claim reads back the rows it won by this token.
    claim_token = models.CharField(max_length=32, blank=True, default="")
    waiting_until = models.DateTimeField(
        null=True, blank=True,
        help_text="Held by its target's open circuit breaker until then (not an attempt)")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        # Every index is written again by each insert and by each update that cannot stay on
        # its page, three times a delivery: only what a query needs. (status, ...) also serves
        # the counts by status and pruning; the API's list pages by created_at; the admin looks
        # an event up by its id. No text pattern indexes: nothing searches by prefix.
        indexes = [models.Index(fields=["status", "next_attempt_at"]),
                   models.Index(fields=["origin", "status"]),
                   models.Index(fields=["event_id"], name="delivery_event_id")]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} → {self.display_url} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.origin = origin_of(self.url)
        super().save(*args, **kwargs)

    @property
    def display_url(self) -> str:
        """The URL as pages and answers show it: its password masked (sent in full)."""
        return masked_url(self.url)


class DeliveryAttempt(models.Model):
    # Looked up through the unique (delivery, number) index: no index of its own.
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows",
                                 db_index=False)
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_body = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code}"


class Target(models.Model):
    """A receiver (an origin) and its circuit breaker, in the database so every worker process
    agrees. Closed: `open_until` is empty. Open: `open_until` is ahead, its deliveries wait.
    Half-open: `open_until` has passed; one probe attempt (`probe_until` while it runs) closes
    it on success or opens it again on failure."""

    origin = models.CharField(max_length=300, unique=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    probe_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["origin"]

    def __str__(self) -> str:
        return self.origin

    def is_open(self, now: datetime) -> bool:
        return self.open_until is not None and self.open_until > now

    def needs_probe(self, now: datetime) -> bool:
        """The cool-down is over: the next attempt is a probe, one at a time."""
        return self.open_until is not None and self.open_until <= now
