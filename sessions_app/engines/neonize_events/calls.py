"""Call offers, accepts and rejections → `call.*`."""

from __future__ import annotations

import time
from typing import Any

from neonize.events import CallAcceptEv, CallOfferEv, CallOfferNoticeEv, CallTerminateEv

from webhooks_app.subscriptions import EventName

from .jids import waha_chat_id
from .waha import Event, seconds

CALL_EVENTS = frozenset({CallOfferEv, CallOfferNoticeEv, CallAcceptEv, CallTerminateEv})

# Terminate reasons that mean the callee declined (on the phone, or busy on another call).
_REJECT_REASONS = frozenset({"reject", "rejected", "rejected_elsewhere", "declined", "busy"})


def _call_attrs(node: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for attr in node.Attrs:
        if attr.HasField("jid"):
            attrs[attr.name] = attr.jid
        elif attr.HasField("text"):
            attrs[attr.name] = attr.text
        elif attr.HasField("integer"):
            attrs[attr.name] = attr.integer
        else:
            attrs[attr.name] = attr.boolean
    return attrs


def call_chat(event: Any) -> str:
    """The group a call is in, else the caller."""
    group = _call_attrs(event.data).get("group-jid")
    if group:
        return waha_chat_id(group)
    return waha_chat_id(getattr(event.basicCallMeta, "from"))


def _call_payload(event: Any) -> dict[str, Any]:
    meta = event.basicCallMeta
    attrs = _call_attrs(event.data)
    is_video = attrs.get("media") == "video" or any(
        child.Tag == "video" for child in event.data.Nodes)
    is_group = bool(attrs.get("group-jid")) or attrs.get("type") == "group"
    if type(event) is CallOfferNoticeEv:
        is_video = is_video or event.media == "video"
        is_group = is_group or event.type == "group"
    return {
        "id": meta.callID,
        "from": waha_chat_id(getattr(meta, "from")) or waha_chat_id(meta.callCreator),
        "timestamp": seconds(meta.timestamp) or int(time.time()),
        "isVideo": is_video,
        "isGroup": is_group,
    }


def translate_call_offer(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    return [(EventName.CALL_RECEIVED.value, _call_payload(event))]


def translate_call_accept(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    return [(EventName.CALL_ACCEPTED.value, _call_payload(event))]


def translate_call_terminate(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    if event.reason not in _REJECT_REASONS:
        return None
    payload = _call_payload(event)
    payload["reason"] = event.reason
    return [(EventName.CALL_REJECTED.value, payload)]
