"""Keys, dashboard grants and the audit log: who may reach which session, and what was done.

A stored key is looked up by its SHA-256 digest on every request, so a key switched off or
deleted is refused at once (nothing is cached). The principal of a request is a
`waha_project.access.Principal`; the API, `/ws`, the dashboard and the admin all check it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from waha_project.access import Action, Principal
from waha_project.auth import env_principal

from . import groups
from .errors import SessionNotFound
from .models import NEW_AUDIT_ENTRY, ActorKind, ApiKey, AuditEntry, Session, SessionGrant

log = logging.getLogger("waha.access")

KEY_PREFIX = "key_"
KEY_ID_PREFIX = "key_id_"


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def mask(key: str) -> str:
    return f"{key[:len(KEY_PREFIX) + 4]}…{key[-4:]}"


# --- keys ------------------------------------------------------------------------------------
def create_key(*, is_admin: bool, session: str | None, is_active: bool,
               actions: dict[str, bool]) -> tuple[ApiKey, str]:
    """A new key and its plain text, which is never stored and never shown again."""
    plain = KEY_PREFIX + secrets.token_hex(16)
    key = ApiKey(id=KEY_ID_PREFIX + secrets.token_hex(13), digest=digest_of(plain),
                 masked=mask(plain))
    apply(key, is_admin=is_admin, session=session, is_active=is_active, actions=actions)
    key.save(force_insert=True)
    return key, plain


def update_key(key: ApiKey, *, is_admin: bool, session: str | None, is_active: bool,
               actions: dict[str, bool]) -> ApiKey:
    apply(key, is_admin=is_admin, session=session, is_active=is_active, actions=actions)
    key.save()
    return key


def apply(key: ApiKey, *, is_admin: bool, session: str | None, is_active: bool,
          actions: dict[str, bool]) -> None:
    key.is_admin = is_admin
    key.is_active = is_active
    key.actions = actions
    if session is None:
        key.session = None
        return
    try:
        key.session = Session.objects.only("id", "name").get(name=session)
    except Session.DoesNotExist:
        raise SessionNotFound(f"Session '{session}' not found") from None


def principal_for_key(candidate: str | None) -> Principal | None:
    """The principal of a presented key: the `WAHA_API_KEY` (or anyone, when the API has no
    key), a stored active key, or None (401)."""
    if candidate and candidate.startswith(KEY_PREFIX):
        stored = stored_key(candidate)
        if stored is not None:
            return stored
    return env_principal(candidate)


def stored_key(candidate: str) -> Principal | None:
    digest = digest_of(candidate)
    row = (ApiKey.objects.filter(digest=digest, is_active=True)
           .select_related("session").only("id", "digest", "is_admin", "session__name",
                                          *(f"can_{a}" for a in ("read", "send", "control",
                                                                 "setting", "app", "delete")))
           .first())
    if row is None or not hmac.compare_digest(row.digest, digest):
        return None
    if row.is_admin:
        return Principal(kind=ActorKind.KEY, id=row.id)
    assert row.session is not None
    return Principal(kind=ActorKind.KEY, id=row.id, grants={row.session.name: row.allowed()})


def end_streams(key_id: str) -> None:
    """Ends the `/ws` streams opened with this key, which checked it at their handshake only."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(groups.key_group(key_id),
                                        {"type": groups.KEY_CHANGED_MESSAGE})
    except Exception:
        log.exception("could not end the streams of key %s", key_id)


# What a key may reach: a change to any of these ends its streams (a stream reconnects with
# the key as it now is).
REACH_FIELDS = frozenset({"is_admin", "is_active", "session",
                          *(f"can_{action}" for action in Action.values)})


def key_saved(sender: type[ApiKey], instance: ApiKey, created: bool = False,
              update_fields: frozenset[str] | None = None, **kwargs: Any) -> None:
    if not created and (update_fields is None or REACH_FIELDS & update_fields):
        transaction.on_commit(partial(end_streams, instance.id))


def key_deleted(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    """A key deleted, by itself or with its session."""
    transaction.on_commit(partial(end_streams, instance.id))


# --- dashboard users -------------------------------------------------------------------------
def principal_for_user(user: AbstractBaseUser | AnonymousUser) -> Principal:
    """A superuser is the admin; another user holds the sessions granted to them."""
    name = user.get_username()
    if getattr(user, "is_superuser", False):
        return Principal(kind=ActorKind.USER, id=name)
    if user.pk is None:  # anonymous: nothing granted
        return Principal(kind=ActorKind.USER, id=name, grants={})
    grants = SessionGrant.objects.filter(user__pk=user.pk).select_related("session")
    return Principal(kind=ActorKind.USER, id=name,
                     grants={grant.session.name: grant.allowed() for grant in grants})


def principal_for_request(request: Any) -> Principal:
    """The logged-in user's principal, read once per request (the dashboard, the admin)."""
    principal: Principal | None = getattr(request, "user_principal", None)
    if principal is None:
        principal = principal_for_user(request.user)
        request.user_principal = principal
    return principal


# --- the audit log ---------------------------------------------------------------------------
def record(principal: Principal, *, operation: str, session: str = "", status: int,
           summary: str = "") -> AuditEntry:
    """One row: a single INSERT, in the caller's transaction if it has one.

    Alone on PostgreSQL, its commit does not wait for the WAL to reach the disk (asynchronous
    commit, for this transaction only): that wait was most of the row's cost, and only a crash
    of PostgreSQL itself within a fraction of a second (three `wal_writer_delay`s) could lose
    the row. SQLite (WAL, synchronous=NORMAL) never waits for the disk on a commit.
    """
    entry = AuditEntry(
        actor_kind=principal.kind, actor_id=principal.id[:150], operation=operation[:100],
        session=session[:54], status=status, summary=summary[:300],
    )
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return NEW_AUDIT_ENTRY.save(entry)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return NEW_AUDIT_ENTRY.save(entry)


def prune_audit(now: Any = None) -> int:
    """Deletes the rows older than `WAHA_AUDIT_RETENTION_DAYS`; answers how many went."""
    horizon = (now or timezone.now()) - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    with transaction.atomic():
        deleted, _ = AuditEntry.objects.filter(timestamp__lt=horizon).delete()
    return deleted
