"""The one function that publishes an event, and the envelope every receiver gets."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from ulid import ULID

from waha_project import background
from waha_project.logs import log_context
from webhooks_app import services as webhooks
from webhooks_app.config import global_webhook
from webhooks_app.subscriptions import EventName

from . import fanout, groups, monitoring
from .engines import ENGINE_LABEL
from .models import Session

log = logging.getLogger("waha.events")


def environment() -> dict[str, Any]:
    """What every envelope and `/api/server/version` tell of this process; `worker` is its id
    (an engine process's WAHA_WORKER_ID), which WAHA's clients require."""
    return {
        "version": settings.WAHA_VERSION,
        "engine": ENGINE_LABEL,
        "tier": settings.WAHA_TIER,
        "browser": None,
        "platform": "linux/x64",
        "worker": {"id": settings.WORKER_ID},
    }


# Events WhatsApp hands over again when a device did not acknowledge them (after a crash), and
# the payload fields that tell two of them apart: their own WhatsApp id (a message, a reaction, a
# revoke and an edit are each a message with its own id; a call has its call id), and for a
# receipt also the ack it reports and the group member who sent it, for an edit its new text.
REPEATABLE: dict[str, tuple[str, ...]] = {
    EventName.MESSAGE: ("id",),
    EventName.MESSAGE_ANY: ("id",),
    EventName.MESSAGE_REACTION: ("id",),
    EventName.MESSAGE_REVOKED: ("id",),
    EventName.MESSAGE_EDITED: ("id", "body"),
    EventName.MESSAGE_ACK: ("id", "ack", "participant"),
    EventName.CALL_RECEIVED: ("id",),
    EventName.CALL_ACCEPTED: ("id",),
    EventName.CALL_REJECTED: ("id",),
}
# The largest unix time in seconds whose milliseconds fit a ULID's 48-bit time.
_LAST_SECOND = (1 << 48) // 1000 - 1


def envelope_id(session: Session, event: str, payload: dict[str, Any]) -> str:
    """`evt_` and a lowercase ULID. For an event WhatsApp may hand over again, the same one each
    time: the ULID's time is the event's own (its payload's unix `timestamp`, which WhatsApp
    sends again with it) and its 80 random bits are a hash of the session's uid, the event's
    name and the fields that tell it apart. Any other event gets a new random ULID."""
    fields = REPEATABLE.get(event)
    seconds = payload.get("timestamp")
    if (fields is None or not payload.get("id") or type(seconds) is not int
            or not 0 <= seconds <= _LAST_SECOND):
        return f"evt_{str(ULID()).lower()}"
    key = "\x1f".join([session.uid, event, *(str(payload.get(field)) for field in fields)])
    digest = hashlib.blake2b(key.encode(), digest_size=10).digest()
    return f"evt_{str(ULID.from_bytes((seconds * 1000).to_bytes(6, 'big') + digest)).lower()}"


def build_envelope(session: Session, event: str, payload: dict[str, Any],
                   environ: dict[str, Any] | None = None) -> dict[str, Any]:
    """The WAHA envelope of one event; `environ` is `environment()`, when a batch made it once
    (reading the settings is a good part of building an envelope)."""
    return {
        "id": envelope_id(session, event, payload),
        "timestamp": int(time.time() * 1000),
        "event": event,
        "session": session.name,
        "metadata": session.metadata,
        "me": session.me,
        "engine": ENGINE_LABEL,
        "environment": environ if environ is not None else environment(),
        "payload": payload,
    }


def publish(session: Session, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Build the envelope once and fan it out after the surrounding transaction commits.

    Called inside the transaction that made the change, so a rolled-back change sends nothing.
    """
    with log_context(session=session.name):
        return publish_many([(session, event, payload)])[0]


def publish_many(published: Sequence[tuple[Session, str, dict[str, Any]]]
                 ) -> list[dict[str, Any]]:
    """`publish` for many events at once (the engine's batches): each envelope built once,
    their deliveries written with one insert, queued and sent to the channel layer once after
    the commit, every subscriber's text prepared once (`fanout`)."""
    environ = environment()
    envelopes = [build_envelope(session, event, payload, environ)
                 for session, event, payload in published]
    if not envelopes:
        return []
    # Serialised once: the deliveries' body and what /ws forwards.
    texts = [webhooks.serialised(envelope) for envelope in envelopes]
    # A session without webhooks has no Webhook rows to look up, unless the global one is set.
    every = global_webhook() is not None
    webhooks.enqueue_many([(session.pk, envelope, text)
                           for (session, _, _), envelope, text
                           in zip(published, envelopes, texts, strict=True)
                           if every or session.has_webhooks])
    # What the dashboard shows beside a status event, as this transaction sees the row.
    seen = [fanout.shown(session, envelope)
            for (session, _, _), envelope in zip(published, envelopes, strict=True)]
    transaction.on_commit(lambda: _published(envelopes, texts, seen))
    return envelopes


def _published(envelopes: list[dict[str, Any]], texts: list[str],
               seen: list[fanout.Shown | None]) -> None:
    """After the commit: count them, say so, and send them to the channel-layer groups."""
    for envelope in envelopes:
        monitoring.EVENTS_PUBLISHED.labels(event=envelope["event"]).inc()
        if log.isEnabledFor(logging.DEBUG):
            with log_context(session=envelope["session"], event_id=envelope["id"]):
                log.debug("published %s", envelope["event"])
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        items = [fanout.item(envelope, shown, text)
                 for envelope, text, shown in zip(envelopes, texts, seen, strict=True)]
        background.run(_send_to_groups, layer, envelopes, items)
    except Exception:  # a full or unreachable layer must not undo a committed change
        log.exception("could not publish %d events to the channel layer", len(envelopes))


async def _send_to_groups(layer: Any, envelopes: list[dict[str, Any]],
                          items: list[dict[str, Any]]) -> None:
    """To their sessions' groups and to the all-sessions group: one message per group, with
    that group's prepared items in order."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for envelope, item in zip(envelopes, items, strict=True):
        by_group.setdefault(groups.session_group(envelope["session"]), []).append(item)
    by_group[groups.ALL_SESSIONS_GROUP] = items
    await asyncio.gather(*(layer.group_send(group, groups.event_message(sent))
                           for group, sent in by_group.items()))


def status_payload(session: Session) -> dict[str, Any]:
    return {
        "name": session.name,
        "status": session.status,
        "statuses": session.recent_statuses(),
        "data": None,
    }
