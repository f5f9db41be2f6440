"""Webhook configs, deliveries (event x webhook) and every attempt of a delivery."""

from __future__ import annotations

from django.db import models

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
        return f"{self.session_id}#{self.position} {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Delivery(models.Model):
    """One event to one webhook. The target is copied in, so a later config change or the
    webhook's removal never loses an event already raised."""

    webhook = models.ForeignKey(Webhook, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="deliveries")
    is_global = models.BooleanField(default=False)
    session_name = models.CharField(max_length=54, db_index=True)
    event = models.CharField(max_length=64, db_index=True)
    event_id = models.CharField(max_length=40, db_index=True)
    event_timestamp = models.BigIntegerField(help_text="The envelope's timestamp, ms")
    body = models.TextField(help_text="The envelope as sent, serialised once")

    url = models.URLField(max_length=2048)
    hmac_key = models.TextField(blank=True, default="")
    custom_headers = models.JSONField(default=list, blank=True)
    retry_policy = models.CharField(max_length=16, choices=RetryPolicy.choices)
    retry_delay_seconds = models.PositiveIntegerField()
    retry_attempts = models.PositiveIntegerField(help_text="Retries after the first try")

    status = models.CharField(max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} → {self.url} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows")
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
