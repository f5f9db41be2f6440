"""A session's desired state (what the user wants) beside its observed state (what runs)."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections, models, transaction
from django.db.models import Q
from django.db.models.functions import Cast
from django.utils import timezone
from ulid import ULID

from waha_project.access import DEFAULT_ACTIONS, Action
from waha_project.database import Compiled, Insert, json_from_db
from waha_project.timestamps import ms


class SessionStatus(models.TextChoices):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    SCAN_QR_CODE = "SCAN_QR_CODE"
    WORKING = "WORKING"
    FAILED = "FAILED"


RECENT_STATUSES = 3  # the statuses a status event and the dashboard show


def new_uid() -> str:
    return str(ULID()).lower()


def default_session_name() -> str:
    return f"session_{new_uid()}"


class Shown:
    """What a session shows, from its desired and observed state: one home for the rule, shared
    by the model and the rows of a list (`Listed`)."""

    should_run: bool
    generation: int
    applied_generation: int
    status: str
    owner: str
    lease_expires_at: datetime | None

    @property
    def display_status(self) -> str:
        """The status an API answer shows: the desired state wins until the engine catches up."""
        if not self.should_run:
            return SessionStatus.STOPPED
        if self.generation != self.applied_generation:
            return SessionStatus.STARTING
        return self.status

    def lease_is_live(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return bool(self.owner) and self.lease_expires_at is not None and (
            self.lease_expires_at > now
        )


@dataclass(slots=True)
class Listed(Shown):
    """A session in a list: only the columns its info answer reads, read as plain values.
    A list of thousands skips building a model instance (and its twenty fields) for each."""

    name: str
    config: dict[str, Any]
    should_run: bool
    generation: int
    applied_generation: int
    status: str
    status_changed_at: datetime | None
    me: dict[str, Any] | None
    owner: str
    lease_expires_at: datetime | None


LISTED_FIELDS = tuple(field.name for field in fields(Listed))
LISTED_DATETIMES = ("status_changed_at", "lease_expires_at")


def _utc_from_text(value: str | None) -> datetime | None:
    """A datetime as Django keeps it on SQLite: ISO text in UTC, without an offset. (Parsed
    with the offset written after it: `replace(tzinfo=…)` afterwards costs five times the
    parse.)"""
    return None if value is None else datetime.fromisoformat(f"{value}+00:00")


def _from_text(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def listed_rows(using: str, sql: str, params: Sequence[Any]) -> list[Listed]:
    """The rows of a `listing()`'s SQL as `Listed` values, fetched with one plain cursor.

    `values_list` converts value by value in Python, and that was most of a long list's time:
    each JSON column through `json.loads`, each datetime through Django's loader (on
    PostgreSQL, psycopg's parser in Python; on SQLite, a regex that reads a setting every
    time). Here the JSON columns are decoded by orjson (`json_from_db`), and the datetimes are
    read as text, ISO in UTC, and parsed by `datetime.fromisoformat` (C): the same values."""
    connection = connections[using]
    # SQLite's text has no offset; PostgreSQL's ends with the session's, UTC's (`+00`).
    moment = _utc_from_text if connection.vendor == "sqlite" else _from_text
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return [
        Listed(name, json_from_db(config), should_run, generation, applied_generation, status,
               moment(status_changed_at), json_from_db(me), owner, moment(lease_expires_at))
        for (name, config, should_run, generation, applied_generation, status,
             status_changed_at, me, owner, lease_expires_at) in fetched
    ]


@functools.cache
def _claim_sql(using: str) -> str:
    """`SessionQuerySet.claim`'s UPDATE, from the model's own table and column names."""
    quote = connections[using].ops.quote_name
    meta = Session._meta
    column = {field.name: quote(field.column)
              for field in meta.concrete_fields}
    return (f"UPDATE {quote(meta.db_table)} "  # noqa: S608 (names, not values)
            f"SET {column['owner']} = %s, {column['lease_expires_at']} = %s "
            f"WHERE {column['uid']} = %s AND ({column['owner']} = '' "
            f"OR {column['owner']} = %s OR {column['lease_expires_at']} < %s)")


class SessionQuerySet(models.QuerySet["Session"]):
    def listed(self) -> list[Listed]:
        """The rows as `Listed` values, fetched with one plain cursor (`listed_rows`)."""
        try:
            sql, params = self.listing().query.get_compiler(self.db).as_sql()
        except EmptyResultSet:  # `name__in` an empty list
            return []
        return listed_rows(self.db, sql, params)

    def listing(self) -> models.QuerySet[Session, tuple[Any, ...]]:
        """The columns of `Listed`, in order, the datetimes read as text (`listed_rows`)."""
        rows = self.annotate(**{f"{name}_text": Cast(name, models.CharField())
                                for name in LISTED_DATETIMES})
        return rows.values_list(*[f"{name}_text" if name in LISTED_DATETIMES else name
                                  for name in LISTED_FIELDS])

    def claimable_by(self, worker_id: str, now: datetime) -> SessionQuerySet:
        """Rows this worker may own: unowned, owned by it, or left by an expired lease (also
        written out in `_claim_sql`)."""
        return self.filter(
            Q(owner="") | Q(owner=worker_id) | Q(lease_expires_at__lt=now)
        )

    def owned_by(self, worker_id: str) -> SessionQuerySet:
        return self.filter(owner=worker_id)

    def owned_or_any(self, owner: str | None) -> SessionQuerySet:
        """The rows `owner` still owns, or every row when no owner is named.

        An engine writes observed state through this, so one that lost a session cannot
        overwrite what the new owner reports.
        """
        return self if owner is None else self.owned_by(owner)

    def candidates(self, worker_id: str, now: datetime) -> SessionQuerySet:
        """What this worker may have to act on: claimable rows that should run or log out, and
        its own."""
        wanted = Q(should_run=True) | Q(logout_pending=True)
        return self.claimable_by(worker_id, now).filter(wanted) | self.owned_by(worker_id)

    def create_stopped(self, **fields: Any) -> Session:
        """A new session, STOPPED from now on, with that first history row: two INSERTs."""
        session = self.model(**fields)
        history = session.enter_status(SessionStatus.STOPPED)
        NEW_SESSION.save(session, using=self.db)
        NEW_HISTORY.save(history, using=self.db)
        return session

    # --- leases: conditional UPDATEs, so two engines never both win -------------------------------
    def claim(self, uid: str, worker_id: str, now: datetime, lease_seconds: float) -> bool:
        """Take or renew the lease of one session: one conditional UPDATE, `claimable_by`'s
        condition written out (an engine claims each session it starts, so its SQL is made
        once per database: `_claim_sql`)."""
        connection = connections[self.db]
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(_claim_sql(self.db), [
                worker_id, adapt(now + timedelta(seconds=lease_seconds)), uid, worker_id,
                adapt(now)])
            return cursor.rowcount == 1

    def claim_many(self, uids: Iterable[str], worker_id: str, now: datetime,
                   lease_seconds: float) -> set[str]:
        """Take or renew the leases of many sessions at once: one conditional UPDATE, so of two
        workers claiming the same sessions each wins a session the other did not. Answers the
        uids this worker holds now, read in the UPDATE's transaction."""
        wanted = list(uids)
        if not wanted:
            return set()
        with transaction.atomic():
            self.filter(uid__in=wanted).claimable_by(worker_id, now).update(
                owner=worker_id, lease_expires_at=now + timedelta(seconds=lease_seconds)
            )
            return set(self.filter(uid__in=wanted, owner=worker_id)
                       .values_list("uid", flat=True))

    def release(self, uid: str, worker_id: str) -> bool:
        """Hand a session's lease back; only its owner can."""
        return self.filter(uid=uid).release_all(worker_id) == 1

    def release_all(self, worker_id: str) -> int:
        return self.owned_by(worker_id).update(owner="", lease_expires_at=None)

    def renew(self, worker_id: str, until: datetime) -> set[str]:
        """Push every lease this worker holds to `until`; answer the names it still owns."""
        mine = self.owned_by(worker_id)
        mine.update(lease_expires_at=until)
        return set(mine.values_list("name", flat=True))

    # --- observed state the engine writes without publishing -------------------------------------
    def set_device(self, uid: str, device_jid: str, *, owner: str | None = None) -> bool:
        """Keep the paired device's JID (fenced by `owner` like every observed write)."""
        return self.filter(uid=uid).owned_or_any(owner).update(device_jid=device_jid) == 1

    def finish_logout(self, uid: str) -> None:
        """The device is unlinked and its auth state wiped: forget it."""
        self.filter(uid=uid).update(logout_pending=False, me=None, device_jid="")

    def want_running(self) -> int:
        """Ask for these sessions to run (the boot rules); a running one is left as it is."""
        return self.filter(should_run=False).update(should_run=True)


@dataclass(frozen=True)
class ObservedChange:
    """What one observation from the engine changed on a session."""

    transition: bool  # a new status: one more history row
    new_qr: bool
    new_run: bool  # the first report of a new generation

    @property
    def saved(self) -> bool:
        return self.transition or self.new_qr or self.new_run

    @property
    def news(self) -> bool:
        """Worth a `session.status` event: a new QR code re-publishes SCAN_QR_CODE."""
        return self.transition or self.new_qr


@dataclass(frozen=True)
class Observed:
    """An observation applied in memory: what changed, the fields to save, the history row."""

    change: ObservedChange
    fields: list[str]
    history: SessionStatusChange | None


class Session(Shown, models.Model):
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
    # The last few statuses with their times, oldest first: every status event and the
    # dashboard show them, so they are kept beside the status rather than read from the history.
    last_statuses = models.JSONField(default=list, blank=True, editable=False)
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
    def has_webhooks(self) -> bool:
        """Whether its config names webhooks (its Webhook rows are written from it, in the same
        transaction)."""
        return bool((self.config or {}).get("webhooks"))

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

    def enter_status(self, status: str, reason: str = "", now: datetime | None = None
                     ) -> SessionStatusChange:
        """Move to `status`; answers its history row, which the caller saves with the session."""
        now = now or timezone.now()
        self.status = status
        self.status_changed_at = now
        self.last_statuses = [*(self.last_statuses or []),
                              {"status": status, "timestamp": ms(now)}][-RECENT_STATUSES:]
        return SessionStatusChange(session=self, status=status, timestamp=now, reason=reason)

    def observe(
        self,
        status: str,
        *,
        generation: int | None = None,
        me: dict[str, Any] | None = None,
        qr: str | None = None,
        qr_lifetime: float | None = None,
        reason: str = "",
    ) -> Observed:
        """Apply what the engine observed, in memory: answers what changed, the fields to save
        and the history row to add (`services.record_statuses` writes them, for many at once).

        A new generation clears the previous run's error; a status other than SCAN_QR_CODE
        clears the QR code; WORKING keeps `me`; FAILED keeps `reason` as the last error.
        """
        now = timezone.now()
        change = ObservedChange(
            transition=self.status != status,
            new_qr=qr is not None and qr != self.qr_value,
            new_run=generation is not None and self.applied_generation != generation,
        )
        fields = ["status", "status_changed_at", "updated_at"]
        if change.new_run and generation is not None:
            self.applied_generation = generation
            self.last_error = ""
            fields += ["applied_generation", "last_error"]
        if status == SessionStatus.SCAN_QR_CODE and qr is not None:
            self.qr_value = qr
            self.qr_expires_at = now + timedelta(seconds=qr_lifetime or 0)
        elif status != SessionStatus.SCAN_QR_CODE:
            self.qr_value = ""
            self.qr_expires_at = None
        fields += ["qr_value", "qr_expires_at"]
        if status == SessionStatus.WORKING:
            self.me = me
            self.last_error = ""
            fields += ["me", "last_error"]
        elif status == SessionStatus.FAILED:
            self.last_error = reason
            if "last_error" not in fields:
                fields.append("last_error")
        if not change.saved:
            return Observed(change, [], None)
        self.updated_at = now  # saved in bulk: auto_now is not applied there
        history = None
        if change.transition:
            history = self.enter_status(status, reason, now)
            fields.append("last_statuses")
        return Observed(change, fields, history)

    def recent_statuses(self, count: int = RECENT_STATUSES) -> list[dict[str, Any]]:
        """The last statuses with their times (ms), oldest first."""
        return list((self.last_statuses or [])[-count:])


# `Session.objects.listed()`: every session, its SQL compiled once per database.
EVERY_SESSION = Compiled(lambda: Session.objects.listing())


def every_session_listed(using: str = "default") -> list[Listed]:
    return listed_rows(using, *EVERY_SESSION.sql(using))


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


# A new session's two rows, inserted with their SQL made once (nothing listens to their saves).
NEW_SESSION = Insert(Session)
NEW_HISTORY = Insert(SessionStatusChange)


def heartbeat_horizon() -> timedelta:
    """How old an engine's last heartbeat may be while it still counts as alive: a lease, and
    at least three reconcile passes (it beats once a pass)."""
    return timedelta(seconds=max(settings.LEASE_SECONDS, 3 * settings.RECONCILE_SECONDS))


class EngineProcessQuerySet(models.QuerySet["EngineProcess"]):
    def alive(self, now: datetime | None = None) -> EngineProcessQuerySet:
        return self.filter(heartbeat_at__gte=(now or timezone.now()) - heartbeat_horizon())

    def register(self, worker_id: str, *, engine: str, hostname: str, pid: int,
                 now: datetime) -> EngineProcess | None:
        """Register the process (hostname, pid) under `worker_id`; answer the live process that
        holds the id instead, if any.

        Two live processes under one id would both run every session that id owns.
        """
        with transaction.atomic():
            other = self.select_for_update().filter(worker_id=worker_id).first()
            if (other is not None and (other.hostname, other.pid) != (hostname, pid)
                    and other.is_alive(now) and not other.has_exited()):
                return other
            self.update_or_create(
                worker_id=worker_id,
                defaults={"engine": engine, "hostname": hostname, "pid": pid,
                          "started_at": now, "heartbeat_at": now},
            )
        return None

    def beat(self, worker_id: str, *, engine: str, hostname: str, pid: int,
             now: datetime) -> bool:
        """The heartbeat of the process registered under `worker_id`, registering it again if
        its row was removed. False when another process has taken the id meanwhile."""
        if self.filter(worker_id=worker_id, hostname=hostname, pid=pid).update(heartbeat_at=now):
            return True
        if self.filter(worker_id=worker_id).exists():
            return False
        return self.register(worker_id, engine=engine, hostname=hostname, pid=pid,
                             now=now) is None


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

    def has_exited(self) -> bool:
        """The process is known to have exited (it ran on this host and its pid is gone)."""
        if self.hostname != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


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


# --- access: keys, dashboard grants and the audit log (sessions_app/access.py) ----------------
class SessionActions(models.Model):
    """The actions (scopes) a key or a grant holds on its session; WAHA's defaults."""

    can_read = models.BooleanField("read", default=DEFAULT_ACTIONS[Action.READ],
                                   help_text=Action.READ.label)
    can_send = models.BooleanField("send", default=DEFAULT_ACTIONS[Action.SEND],
                                   help_text=Action.SEND.label)
    can_control = models.BooleanField("control", default=DEFAULT_ACTIONS[Action.CONTROL],
                                      help_text=Action.CONTROL.label)
    can_setting = models.BooleanField("setting", default=DEFAULT_ACTIONS[Action.SETTING],
                                      help_text=Action.SETTING.label)
    can_app = models.BooleanField("app", default=DEFAULT_ACTIONS[Action.APP],
                                  help_text=Action.APP.label)
    can_delete = models.BooleanField("delete", default=DEFAULT_ACTIONS[Action.DELETE],
                                     help_text=Action.DELETE.label)

    class Meta:
        abstract = True

    @property
    def actions(self) -> dict[str, bool]:
        return {action.value: getattr(self, f"can_{action.value}") for action in Action}

    @actions.setter
    def actions(self, values: dict[str, bool]) -> None:
        for action in Action:
            setattr(self, f"can_{action.value}", values.get(action.value,
                                                            DEFAULT_ACTIONS[action.value]))

    def allowed(self) -> frozenset[str]:
        return frozenset(name for name, on in self.actions.items() if on)


class ApiKey(SessionActions):
    """A key of the API: admin, or for one session with its actions. Only the key's SHA-256
    digest is kept (keys are 128 random bits, so a fast hash is enough); the whole key is shown
    once, in the create answer."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    masked = models.CharField(max_length=40, editable=False,
                              help_text="The key's first and last characters")
    is_admin = models.BooleanField(default=False)
    # A session's keys go with it: a new session of the same name is not reachable by them.
    session = models.ForeignKey(Session, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="api_keys")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=Q(is_admin=True, session__isnull=True)
                | Q(is_admin=False, session__isnull=False),
                name="api_key_admin_or_session",
            )
        ]

    def __str__(self) -> str:
        return self.id


class SessionGrant(SessionActions):
    """What a dashboard user who is not a superuser may see and do on one session."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="session_grants")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="grants")

    class Meta:
        ordering = ["user", "session"]
        constraints = [
            models.UniqueConstraint(fields=["user", "session"], name="one_grant_per_user_session")
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.session}"


class ActorKind(models.TextChoices):
    KEY = "key"
    USER = "user"
    ENV = "env"


class AuditEntry(models.Model):
    """One state-changing request: when, who (a key id or a username, never a secret), what,
    on which session, and its status code. Kept `WAHA_AUDIT_RETENTION_DAYS` days."""

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=8, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150)
    operation = models.CharField(max_length=100)
    # A name, not a key: the row outlives the session it names.
    session = models.CharField(max_length=54, blank=True, default="")
    status = models.PositiveSmallIntegerField()
    summary = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["session", "-timestamp"]),
            models.Index(fields=["actor_id", "-timestamp"]),
        ]

    def __str__(self) -> str:
        return f"{self.actor_kind}:{self.actor_id} {self.operation} {self.status}"


NEW_AUDIT_ENTRY = Insert(AuditEntry)  # one per state-changing request
