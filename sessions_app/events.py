"""The one function that publishes an event, and the envelope every receiver gets."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from ulid import ULID

from waha_project.logs import log_context
from webhooks_app import services as webhooks

from . import fanout, groups, monitoring
from .engines import ENGINE_LABEL
from .models import Session

log = logging.getLogger("waha.events")


def environment() -> dict[str, Any]:
    return {
        "version": settings.WAHA_VERSION,
        "engine": ENGINE_LABEL,
        "tier": settings.WAHA_TIER,
        "browser": None,
        "platform": "linux/x64",
    }


def build_envelope(session: Session, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{str(ULID()).lower()}",
        "timestamp": int(time.time() * 1000),
        "event": event,
        "session": session.name,
        "metadata": session.metadata,
        "me": session.me,
        "engine": ENGINE_LABEL,
        "environment": environment(),
        "payload": payload,
    }


def publish(session: Session, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Build the envelope once and fan it out after the surrounding transaction commits.

    Called inside the transaction that made the change, so a rolled-back change sends nothing.
    """
    envelope = build_envelope(session, event, payload)
    with log_context(session=session.name, event_id=envelope["id"]):
        webhooks.enqueue(session.pk, envelope)
    seen = fanout.shown(session, envelope)
    transaction.on_commit(lambda: _published(envelope, seen))
    return envelope


def _published(envelope: dict[str, Any], seen: fanout.Shown | None = None) -> None:
    """After the commit: count it, say so, and send it to the channel-layer groups."""
    monitoring.EVENTS_PUBLISHED.labels(event=envelope["event"]).inc()
    with log_context(session=envelope["session"], event_id=envelope["id"]):
        log.debug("published %s", envelope["event"])
        _send_to_groups(envelope, seen)


def _send_to_groups(envelope: dict[str, Any], seen: fanout.Shown | None = None) -> None:
    """One message for every subscriber of both groups, its text prepared here once."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        message = fanout.message(envelope, seen)
        async_to_sync(_group_send)(layer, envelope["session"], message)
    except Exception:  # a full or unreachable layer must not undo a committed change
        log.exception("could not publish %s for %s", envelope["event"], envelope["session"])


async def _group_send(layer: Any, session_name: str, message: dict[str, Any]) -> None:
    await asyncio.gather(layer.group_send(groups.session_group(session_name), message),
                         layer.group_send(groups.ALL_SESSIONS_GROUP, message))


def status_payload(session: Session) -> dict[str, Any]:
    return {
        "name": session.name,
        "status": session.status,
        "statuses": session.recent_statuses(3),
        "data": None,
    }
