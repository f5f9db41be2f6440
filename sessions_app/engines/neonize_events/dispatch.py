"""One neonize event → its WAHA events: the chat check, the handler, the engine.event fallback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from google.protobuf.json_format import MessageToDict
from neonize.events import (
    CallAcceptEv,
    CallOfferEv,
    CallOfferNoticeEv,
    CallTerminateEv,
    ChatPresenceEv,
    GroupInfoEv,
    JoinedGroupEv,
    MessageEv,
    PresenceEv,
    ReceiptEv,
)

from webhooks_app.subscriptions import EventName

from ...ignore import IgnoreRules
from .calls import (
    CALL_EVENTS,
    call_chat,
    translate_call_accept,
    translate_call_offer,
    translate_call_terminate,
)
from .groups import translate_group_info, translate_joined_group
from .jids import waha_chat_id
from .messages import translate_message
from .presence import translate_chat_presence, translate_presence
from .receipts import translate_receipt
from .waha import Event

log = logging.getLogger("waha.engine.neonize")

# (event, its chat, our own id) → its WAHA events, or None to pass it on as engine.event.
Handler = Callable[[Any, str, str | None], list[Event] | None]

_HANDLERS: dict[type, Handler] = {
    MessageEv: translate_message,
    ReceiptEv: translate_receipt,
    PresenceEv: translate_presence,
    ChatPresenceEv: translate_chat_presence,
    JoinedGroupEv: translate_joined_group,
    GroupInfoEv: translate_group_info,
    CallOfferEv: translate_call_offer,
    CallOfferNoticeEv: translate_call_offer,
    CallAcceptEv: translate_call_accept,
    CallTerminateEv: translate_call_terminate,
}


def translate(event: Any, *, me_id: str | None, rules: IgnoreRules) -> list[Event]:
    """The WAHA events for one neonize event; [] when the session's ignore rules drop its chat."""
    try:
        chat = _chat_of(event)
    except Exception:  # an odd event still gets through as engine.event
        chat = ""
    if chat and rules.ignores(chat):
        return []
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        try:
            events = handler(event, chat, me_id)
        except Exception:
            log.warning("could not translate %s; passing it on as engine.event",
                        type(event).__name__, exc_info=True)
        else:
            if events is not None:
                return events
    return [_engine_event(event)]


def _chat_of(event: Any) -> str:
    """The chat an event belongs to, in WAHA form, or "" when it has none."""
    kind = type(event)
    if kind is MessageEv:
        return waha_chat_id(event.Info.MessageSource.Chat)
    if kind is ReceiptEv or kind is ChatPresenceEv:
        return waha_chat_id(event.MessageSource.Chat)
    if kind is PresenceEv:
        return waha_chat_id(event.From)
    if kind is GroupInfoEv:
        return waha_chat_id(event.JID)
    if kind is JoinedGroupEv:
        return waha_chat_id(event.GroupInfo.JID)
    if kind in CALL_EVENTS:
        return call_chat(event)
    return _generic_chat(event)


def _generic_chat(event: Any) -> str:
    fields = getattr(getattr(event, "DESCRIPTOR", None), "fields_by_name", None)
    if not fields:
        return ""
    if "Info" in fields:
        return waha_chat_id(event.Info.MessageSource.Chat)
    if "MessageSource" in fields:
        return waha_chat_id(event.MessageSource.Chat)
    if "NewsletterMetadata" in fields:
        return waha_chat_id(event.NewsletterMetadata.ID)
    for name in ("JID", "ID", "From"):
        field = fields.get(name)
        if field is not None and field.message_type is not None \
                and field.message_type.name == "JID":
            return waha_chat_id(getattr(event, name))
    return ""


def _engine_event(event: Any) -> Event:
    name = type(event).__name__
    data: Any
    try:
        data = MessageToDict(event, preserving_proto_field_name=True)
    except Exception:
        data = None
    return EventName.ENGINE_EVENT.value, {"event": name, "data": data}
