"""A session's desired state (what the user wants) beside its observed state (what runs)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from ulid import ULID

from waha_project.timestamps import ms


class SessionStatus(models.TextChoices):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    SCAN_QR_CODE = "SCAN_QR_CODE"
    WORKING = "WORKING"
    FAILED = "FAILED"


def new_uid() -> str:
    return str(ULID()).lower()


def default_session_name() -> str:
    return f"session_{new_uid()}"


class SessionQuerySet(models.QuerySet["Session"]):
    def claimable_by(self, worker_id: str, now: datetime) -> SessionQuerySet:
        """Rows this worker may own: unowned, owned by it, or left by an expired lease."""
        return self.filter(
            Q(owner="") | Q(owner=worker_id) | Q(lease_expires_at__lt=now)
        )

    def owned_by(self, worker_id: str) -> SessionQuerySet:
        return self.filter(owner=worker_id)


class Session(models.Model):
    name = models.CharField(max_length=54, unique=True)
    # A new uid for every creation, so a deleted session's auth state is never resumed by a
    # new session that happens to reuse its name.
    uid = models.CharField(max_length=26, default=new_uid, unique=True, editable=False)
    config = models.JSONField(default=dict, blank=True)

    # Desired state, written by the API.
    should_run = models.BooleanField(default=False)
    generation = models.PositiveIntegerField(
        default=0, help_text="Bumped by start, restart, logout and a config change while running."
    )
    logout_pending = models.BooleanField(default=False)

    # Observed state, written by the engine that owns the session.
    status = models.CharField(
        max_length=16, choices=SessionStatus.choices, default=SessionStatus.STOPPED
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    applied_generation = models.PositiveIntegerField(default=0)
    me = models.JSONField(null=True, blank=True)
    qr_value = models.TextField(blank=True, default="")
    qr_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # The paired device's JID, so the engine resumes this session's own device and never another.
    device_jid = models.CharField(max_length=128, blank=True, default="")

    # Ownership: which engine process runs it, until when.
    owner = models.CharField(max_length=200, blank=True, default="", db_index=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["should_run", "owner"])]

    def __str__(self) -> str:
        return self.name

    @property
    def display_status(self) -> str:
        """The status an API answer shows: the desired state wins until the engine catches up."""
        if not self.should_run:
            return SessionStatus.STOPPED
        if self.generation != self.applied_generation:
            return SessionStatus.STARTING
        return self.status

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.config.get("metadata") or {})

    def is_running(self) -> bool:
        return self.display_status != SessionStatus.STOPPED

    def qr_may_come(self) -> bool:
        """Still starting, or scanning without a code yet; WORKING or FAILED will bring none."""
        status = self.display_status
        return status == SessionStatus.STARTING or (
            status == SessionStatus.SCAN_QR_CODE and not self.qr_value
        )

    def has_qr(self) -> bool:
        return self.display_status == SessionStatus.SCAN_QR_CODE and bool(self.qr_value)

    def lease_is_live(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return bool(self.owner) and self.lease_expires_at is not None and (
            self.lease_expires_at > now
        )

    def recent_statuses(self, count: int = 3) -> list[dict[str, Any]]:
        changes = list(self.history.order_by("-timestamp", "-id")[:count])
        return [
            {"status": change.status, "timestamp": ms(change.timestamp)}
            for change in reversed(changes)
        ]


class SessionStatusChange(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="history")
    status = models.CharField(max_length=16, choices=SessionStatus.choices)
    timestamp = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [models.Index(fields=["session", "-timestamp"])]

    def __str__(self) -> str:
        return f"{self.session_id} {self.status} at {self.timestamp:%Y-%m-%d %H:%M:%S}"


def heartbeat_horizon() -> timedelta:
    """How old an engine's last heartbeat may be while it still counts as alive: a lease, and
    at least three reconcile passes (it beats once a pass)."""
    return timedelta(seconds=max(settings.LEASE_SECONDS, 3 * settings.RECONCILE_SECONDS))


class EngineProcessQuerySet(models.QuerySet["EngineProcess"]):
    def alive(self, now: datetime | None = None) -> EngineProcessQuerySet:
        return self.filter(heartbeat_at__gte=(now or timezone.now()) - heartbeat_horizon())


class EngineProcess(models.Model):
    """One running engine process and its heartbeat."""

    worker_id = models.CharField(max_length=200, primary_key=True)
    engine = models.CharField(max_length=32)
    hostname = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)

    objects = EngineProcessQuerySet.as_manager()

    class Meta:
        ordering = ["worker_id"]
        verbose_name_plural = "engine processes"

    def __str__(self) -> str:
        return self.worker_id

    def is_alive(self, now: datetime | None = None) -> bool:
        return self.heartbeat_at >= (now or timezone.now()) - heartbeat_horizon()


# --- the store: chats, contacts and messages (sessions_app/store.py fills it) -------------------
class Chat(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="chats")
    chat_id = models.CharField(max_length=128,
                               help_text="WAHA form: 123@c.us, <id>@g.us, <id>@newsletter")
    name = models.CharField(max_length=255, blank=True, default="")
    conversation_timestamp = models.BigIntegerField(
        null=True, blank=True, help_text="Unix seconds of the latest message"
    )

    class Meta:
        ordering = ["session", "chat_id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "chat_id"], name="unique_chat_per_session")
        ]
        indexes = [models.Index(fields=["session", "-conversation_timestamp"])]

    def __str__(self) -> str:
        return self.chat_id


class Contact(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="contacts")
    contact_id = models.CharField(max_length=128)
    push_name = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["session", "contact_id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "contact_id"],
                                    name="unique_contact_per_session")
        ]

    def __str__(self) -> str:
        return self.contact_id


class StoredMessage(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="messages")
    message_id = models.CharField(max_length=255, help_text="WAHA id: false_123@c.us_ABCDEF")
    chat_id = models.CharField(max_length=128)
    from_me = models.BooleanField(default=False)
    timestamp = models.BigIntegerField(default=0, help_text="Unix seconds")
    body = models.TextField(blank=True, default="")
    ack = models.IntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, help_text="The whole WAHA message payload")

    class Meta:
        ordering = ["session", "chat_id", "-timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["session", "message_id"],
                                    name="unique_message_per_session")
        ]
        indexes = [models.Index(fields=["session", "chat_id", "-timestamp"])]

    def __str__(self) -> str:
        return self.message_id
