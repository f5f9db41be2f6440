"""Translation of neonize (whatsmeow) events into WAHA events: pure, fast, never raising.

Called on whatsmeow's callback thread, which blocks the Go side until it returns, so nothing
here touches the database, the network or a lock. Whatever cannot be translated becomes an
`engine.event` carrying the raw event, rather than an exception on that thread.

Conventions (WAHA's):
- chat ids: `<number>@c.us`, `<id>@g.us`, `<id>@newsletter`, `status@broadcast`, `<id>@lid`;
- message ids: `{fromMe}_{chat}_{ID}`, plus `_{participant}` for a group (or status) message
  sent by someone else;
- message timestamps in unix seconds (whatsmeow's MessageInfo.Timestamp arrives in ms);
- acks: ERROR -1, PENDING 0, SERVER 1, DEVICE 2, READ 3, PLAYED 4.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from google.protobuf.json_format import MessageToDict
from neonize.events import (
    CallAcceptEv,
    CallOfferEv,
    CallOfferNoticeEv,
    CallTerminateEv,
    ChatPresenceEv,
    ClientOutdatedEv,
    ConnectFailureEv,
    GroupInfoEv,
    JoinedGroupEv,
    LoggedOutEv,
    MessageEv,
    PresenceEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import ChatPresence, ConnectFailureReason, Receipt, TemporaryBan
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ProtocolMessage

from webhooks_app.subscriptions import EventName

from ..ignore import IgnoreRules

log = logging.getLogger("waha.engine.neonize")

Event = tuple[str, dict[str, Any]]

ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
ACK_SERVER = 1
ACK_DEVICE = 2

# Receipt types that say something about a message we sent. INACTIVE is a delivery whatsmeow
# reports for a recipient that is inactive; WAHA's GOWS engine counts it as DEVICE too.
_RECEIPT_ACKS = {
    Receipt.DELIVERED: 2,
    Receipt.INACTIVE: 2,
    Receipt.READ: 3,
    Receipt.PLAYED: 4,
    Receipt.SERVER_ERROR: -1,
}

_USER_SERVERS = frozenset({"s.whatsapp.net", "c.us", "hosted"})
_MULTI_SERVERS = ("@g.us", "@broadcast")

# Content wrappers whatsmeow unwraps for live messages but not inside a history sync.
_WRAPPERS = frozenset({
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
    "deviceSentMessage",
    "botInvokeMessage",
    "groupMentionedMessage",
    "lottieStickerMessage",
})
_MEDIA = frozenset(
    {"imageMessage", "videoMessage", "audioMessage", "documentMessage", "stickerMessage",
     "ptvMessage"}
)
_CAPTIONED = ("imageMessage", "videoMessage", "documentMessage")
_CONTEXT_CARRIERS = (
    "extendedTextMessage", "imageMessage", "videoMessage", "audioMessage", "documentMessage",
    "stickerMessage", "ptvMessage", "locationMessage", "contactMessage", "pollCreationMessage",
)
# Fields that travel beside content but are not content themselves.
_NOT_CONTENT = frozenset(
    {"senderKeyDistributionMessage", "messageContextInfo",
     "fastRatchetKeySenderKeyDistributionMessage"}
)
# Updates about other messages that have no WAHA event of their own here.
_NOT_A_MESSAGE = frozenset(
    {"pollUpdateMessage", "encEventResponseMessage", "encReactionMessage", "keepInChatMessage",
     "pinInChatMessage", "encCommentMessage"}
)

# Terminate reasons that mean the callee declined (on the phone, or busy on another call).
REJECT_REASONS = frozenset({"reject", "rejected", "rejected_elsewhere", "declined", "busy"})


# --- ids ---------------------------------------------------------------------------------------

def waha_chat_id(jid: Any) -> str:
    """A whatsmeow JID (or JID string) in WAHA's form: phone numbers as `<user>@c.us`."""
    if isinstance(jid, str):
        return _chat_id_from_string(jid)
    user = getattr(jid, "User", "")
    if not user:
        return ""
    server = jid.Server
    if server in _USER_SERVERS:
        return f"{user}@c.us"
    return f"{user}@{server}"


def _chat_id_from_string(value: str) -> str:
    user, at, server = value.partition("@")
    if not at or not user:
        return ""
    # "user.agent:device@server" → "user"
    user = user.split(":", 1)[0].split(".", 1)[0]
    if server in _USER_SERVERS:
        return f"{user}@c.us"
    return f"{user}@{server}"


def full_jid(jid: Any) -> str:
    """The whole JID string as whatsmeow prints it, device included (`<user>:<device>@<server>`)."""
    if isinstance(jid, str):
        return jid
    user = getattr(jid, "User", "")
    server = getattr(jid, "Server", "")
    if not user:
        return server
    if jid.RawAgent > 0:
        return f"{user}.{jid.RawAgent}:{jid.Device}@{server}"
    if jid.Device > 0:
        return f"{user}:{jid.Device}@{server}"
    return f"{user}@{server}"


def message_id(from_me: bool, chat: str, msg_id: str, participant: str | None = None) -> str:
    """WAHA's serialized message id; the participant only for others' messages in groups."""
    base = f"{'true' if from_me else 'false'}_{chat}_{msg_id}"
    if participant and not from_me and chat.endswith(_MULTI_SERVERS):
        return f"{base}_{participant}"
    return base


def me_info(jid: Any, push_name: str = "", lid: Any = None) -> dict[str, Any]:
    """WAHA's MeInfo for the paired account: `{id, pushName, jid, lid}`."""
    lid_id = waha_chat_id(lid) if lid is not None else ""
    return {
        "id": waha_chat_id(jid),
        "pushName": push_name or "",
        "jid": full_jid(jid),
        "lid": lid_id or None,
    }


def _seconds(value: int) -> int | None:
    """Unix seconds from seconds or milliseconds; None for Go's zero time."""
    if value <= 0:
        return None
    return value // 1000 if value > 100_000_000_000 else value


def _ms_or_now(seconds: int) -> int:
    value = _seconds(seconds)
    return value * 1000 if value else int(time.time() * 1000)


# --- translation -------------------------------------------------------------------------------

def translate(event: Any, *, me_id: str | None, rules: IgnoreRules) -> list[Event]:
    """The WAHA events for one neonize event; [] when the session's ignore rules drop its chat."""
    try:
        chat = chat_of(event)
    except Exception:  # an odd event still gets through as engine.event
        chat = ""
    if chat and rules.ignores(chat):
        return []
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        try:
            return handler(event, chat, me_id)
        except Exception:
            log.warning("could not translate %s; passing it on as engine.event",
                        type(event).__name__, exc_info=True)
    return [engine_event(event)]


def chat_of(event: Any) -> str:
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
    if kind in _CALLS:
        return _call_chat(event)
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


def engine_event(event: Any) -> Event:
    name = type(event).__name__
    data: Any
    try:
        data = MessageToDict(event, preserving_proto_field_name=True)
    except Exception:
        data = None
    return EventName.ENGINE_EVENT.value, {"event": name, "data": data}


# --- messages ----------------------------------------------------------------------------------

def _open(content: Any) -> tuple[Any, set[str]]:
    """The content inside any wrappers, and the names of its set fields."""
    for _ in range(4):
        names = {field.name for field, _ in content.ListFields()}
        wrapper = names & _WRAPPERS
        if not wrapper:
            break
        content = getattr(content, wrapper.pop()).message
    return content, names


def _body(content: Any, names: set[str]) -> str | None:
    if "conversation" in names:
        return str(content.conversation)
    if "extendedTextMessage" in names:
        return str(content.extendedTextMessage.text)
    for name in _CAPTIONED:
        if name in names:
            return str(getattr(content, name).caption) or None
    return None


def _reply_to(content: Any, names: set[str]) -> dict[str, Any] | None:
    for name in _CONTEXT_CARRIERS:
        if name not in names:
            continue
        part = getattr(content, name)
        if not part.HasField("contextInfo"):
            return None
        context = part.contextInfo
        if not context.stanzaID:
            return None
        body = has_media = None
        if context.HasField("quotedMessage"):
            quoted, quoted_names = _open(context.quotedMessage)
            body = _body(quoted, quoted_names)
            has_media = bool(quoted_names & _MEDIA)
        return {
            "id": context.stanzaID,
            "participant": _chat_id_from_string(context.participant) or None,
            "body": body,
            "hasMedia": bool(has_media),
            "media": None,
        }
    return None


def _is_content(names: set[str]) -> bool:
    """Whether a message's set fields hold something WAHA shows as a message of its own."""
    return bool(names - _NOT_CONTENT) and not names & _NOT_A_MESSAGE


def _arrival_ack(from_me: bool) -> int:
    """The ack of a message as we first see it: ours reached the server, theirs this device."""
    return ACK_SERVER if from_me else ACK_DEVICE


def _message_head(chat: str, msg_id: str, from_me: bool, participant: str | None,
                  timestamp: int | None, me_id: str | None) -> dict[str, Any]:
    """The fields every message-shaped payload starts with, live or from a history sync."""
    return {
        "id": message_id(from_me, chat, msg_id, participant),
        "timestamp": timestamp,
        "from": me_id if from_me else chat,
        "fromMe": from_me,
        "source": "app",
        "to": chat if from_me else me_id,
        "participant": participant,
    }


def _head(info: Any, me_id: str | None) -> dict[str, Any]:
    """The head of a live message, from whatsmeow's MessageInfo."""
    source = info.MessageSource
    chat = waha_chat_id(source.Chat)
    participant = None
    if source.IsGroup or chat.endswith(_MULTI_SERVERS):
        participant = waha_chat_id(source.Sender) or None
    return _message_head(chat, info.ID, source.IsFromMe, participant,
                         _seconds(info.Timestamp), me_id)


def _small_data(info: Any) -> dict[str, Any]:
    source = info.MessageSource
    return {
        "ID": info.ID,
        "Chat": full_jid(source.Chat),
        "Sender": full_jid(source.Sender),
        "IsFromMe": source.IsFromMe,
        "IsGroup": source.IsGroup,
        "Pushname": info.Pushname,
        "Timestamp": info.Timestamp,
        "Type": info.Type,
    }


def _message_payload(head: dict[str, Any], content: Any, names: set[str], *, ack: int,
                     data: dict[str, Any]) -> dict[str, Any]:
    """WAHA's message payload, for a live message, an edit and a history-sync message alike.

    `head` comes from `_message_head`; `data` is the `_data` of whatever the message came in.
    """
    return {
        **head,
        "body": _body(content, names),
        "hasMedia": bool(names & _MEDIA),
        "media": None,
        "ack": ack,
        "ackName": ACK_NAMES[ack],
        "replyTo": _reply_to(content, names),
        "_data": data,
    }


def _translate_message(event: Any, chat: str, me_id: str | None) -> list[Event]:
    info = event.Info
    content, names = _open(event.Message)
    if "reactionMessage" in names:
        return [_reaction(info, content.reactionMessage, chat, me_id)]
    if "protocolMessage" in names:
        protocol = content.protocolMessage
        if protocol.type == ProtocolMessage.REVOKE:
            return [_revoked(info, protocol, me_id)]
        if protocol.type == ProtocolMessage.MESSAGE_EDIT:
            return [_edited(info, protocol.editedMessage, protocol.key.ID, me_id)]
        return [engine_event(event)]
    if not _is_content(names):
        return [engine_event(event)]
    if event.IsEdit:
        # Edited content that came without its protocolMessage (a channel post, for one).
        return [_edited(info, content, info.ID, me_id)]
    from_me = info.MessageSource.IsFromMe
    payload = _message_payload(_head(info, me_id), content, names, ack=_arrival_ack(from_me),
                               data=_small_data(info))
    if from_me:
        return [(EventName.MESSAGE_ANY.value, payload)]
    # Shallow copies, so a consumer that adds a field (media, say) to one leaves the other alone.
    return [(EventName.MESSAGE.value, payload), (EventName.MESSAGE_ANY.value, dict(payload))]


def _target_id(key: Any, info: Any, chat: str, me_id: str | None) -> str:
    """The WAHA id, from our side, of the message a reaction points at.

    The key is written from the reactor's side: `fromMe` means "sent by the reactor", and in a
    1:1 chat `remoteJID` is the reactor's chat, which for someone else is us.
    """
    source = info.MessageSource
    multi = chat.endswith(_MULTI_SERVERS)
    reactor = waha_chat_id(source.Sender)
    if source.IsFromMe:
        from_me = key.fromMe
        author = None if from_me else _chat_id_from_string(key.participant) or None
    elif key.fromMe:
        from_me, author = False, reactor
    elif multi:
        author = _chat_id_from_string(key.participant) or None
        from_me = author is not None and author == me_id
    else:
        from_me, author = True, None
    return message_id(from_me, chat, key.ID, author if multi else None)


def _reaction(info: Any, reaction: Any, chat: str, me_id: str | None) -> Event:
    payload = _head(info, me_id)
    payload["reaction"] = {
        "text": reaction.text,
        "messageId": _target_id(reaction.key, info, chat, me_id),
    }
    return EventName.MESSAGE_REACTION.value, payload


def _revoked(info: Any, protocol: Any, me_id: str | None) -> Event:
    payload = _head(info, me_id)
    del payload["source"]
    payload.update(revokedMessageId=protocol.key.ID, after=None, before=None,
                   _data=_small_data(info))
    return EventName.MESSAGE_REVOKED.value, payload


def _edited(info: Any, content: Any, edited_id: str, me_id: str | None) -> Event:
    content, names = _open(content)
    from_me = info.MessageSource.IsFromMe
    payload = _message_payload(_head(info, me_id), content, names, ack=_arrival_ack(from_me),
                               data=_small_data(info))
    payload["body"] = payload["body"] or ""
    payload["editedMessageId"] = edited_id
    return EventName.MESSAGE_EDITED.value, payload


# --- receipts and presence ---------------------------------------------------------------------

def _translate_receipt(event: Any, chat: str, me_id: str | None) -> list[Event]:
    source = event.MessageSource
    if not event.HasField("Type"):
        # neonize 0.5.2's encoder leaves "server-error" (and any newer type) unset.
        return [engine_event(event)]
    kind = event.Type
    if kind == Receipt.SERVER_ERROR and source.IsFromMe:
        # The same encoder writes our own "played-self" as SERVER_ERROR; a real server error
        # is never one of our own receipts.
        return [engine_event(event)]
    ack = _RECEIPT_ACKS.get(kind)
    if ack is None:
        return [engine_event(event)]
    participant = None
    if source.IsGroup or chat.endswith(_MULTI_SERVERS):
        participant = waha_chat_id(source.Sender) or None
    timestamp = _seconds(event.Timestamp)
    data = {"Chat": full_jid(source.Chat), "Sender": full_jid(source.Sender),
            "Type": Receipt.ReceiptType.Name(kind), "Timestamp": event.Timestamp}
    return [
        (EventName.MESSAGE_ACK.value, {
            "id": message_id(True, chat, msg_id),
            "from": me_id,
            "fromMe": True,
            "participant": participant,
            "to": chat,
            "ack": ack,
            "ackName": ACK_NAMES[ack],
            "timestamp": timestamp,
            "_data": data,
        })
        for msg_id in event.MessageIDs
    ]


def _translate_presence(event: Any, chat: str, me_id: str | None) -> list[Event]:
    presence = {
        "participant": chat,
        "lastKnownPresence": "offline" if event.Unavailable else "online",
        "lastSeen": _seconds(event.LastSeen),
    }
    return [(EventName.PRESENCE_UPDATE.value, {"id": chat, "presences": [presence]})]


def _translate_chat_presence(event: Any, chat: str, me_id: str | None) -> list[Event]:
    if event.State == ChatPresence.PAUSED:
        state = "paused"
    elif event.Media == ChatPresence.AUDIO:
        state = "recording"
    else:
        state = "typing"
    presence = {
        "participant": waha_chat_id(event.MessageSource.Sender) or chat,
        "lastKnownPresence": state,
        "lastSeen": None,
    }
    return [(EventName.PRESENCE_UPDATE.value, {"id": chat, "presences": [presence]})]


# --- groups ------------------------------------------------------------------------------------

_PARTICIPANT_CHANGES = (("Leave", "leave", "left"), ("Join", "join", "participant"),
                        ("Promote", "promote", "admin"), ("Demote", "demote", "participant"))


def _participant(jid: Any, role: str) -> dict[str, Any]:
    pid = waha_chat_id(jid)
    return {"id": pid, "pn": pid if pid.endswith("@c.us") else None, "role": role}


def _translate_joined_group(event: Any, chat: str, me_id: str | None) -> list[Event]:
    group = event.GroupInfo
    participants = []
    for member in group.Participants:
        role = ("superadmin" if member.IsSuperAdmin
                else "admin" if member.IsAdmin else "participant")
        participants.append(_participant(member.JID, role))
    return [(EventName.GROUP_JOIN.value, {
        "group": {
            "id": chat,
            "subject": group.GroupName.Name or None,
            "description": group.GroupTopic.Topic or None,
            "participants": participants,
        },
        "timestamp": int(time.time() * 1000),
        "_data": {"Reason": event.Reason, "Sender": full_jid(event.Sender)},
    })]


def _translate_group_info(event: Any, chat: str, me_id: str | None) -> list[Event]:
    timestamp = _ms_or_now(event.Timestamp)
    data = {"Sender": full_jid(event.Sender), "Notify": event.Notify}
    found: list[Event] = []
    # Only our phone-number id is known here: a leave under our lid reads as someone else's.
    if me_id and any(waha_chat_id(jid) == me_id for jid in event.Leave):
        found.append((EventName.GROUP_LEAVE.value,
                      {"group": {"id": chat}, "timestamp": timestamp, "_data": data}))
    for field, change, role in _PARTICIPANT_CHANGES:
        jids = getattr(event, field)
        if jids:
            found.append((EventName.GROUP_PARTICIPANTS.value, {
                "group": {"id": chat},
                "type": change,
                "participants": [_participant(jid, role) for jid in jids],
                "timestamp": timestamp,
                "_data": data,
            }))
    update = _group_update(event, chat)
    if update is not None:
        found.append((EventName.GROUP_UPDATE.value,
                      {"group": update, "timestamp": timestamp, "_data": data}))
    return found or [engine_event(event)]


def _group_update(event: Any, chat: str) -> dict[str, Any] | None:
    changed = False
    group: dict[str, Any] = {"id": chat, "subject": None, "description": None}
    if event.HasField("Name"):
        group["subject"] = event.Name.Name
        changed = True
    if event.HasField("Topic"):
        group["description"] = "" if event.Topic.TopicDeleted else event.Topic.Topic
        changed = True
    if event.NewInviteLink:
        group["invite"] = event.NewInviteLink
        changed = True
    if event.HasField("Announce"):
        group["membersCanSendMessages"] = not event.Announce.IsAnnounce
        changed = True
    if event.HasField("Locked"):
        # "Only admins can edit group info": no WAHA field of its own, so named like the others.
        group["membersCanChangeInfo"] = not event.Locked.isLocked
        changed = True
    return group if changed else None


# --- calls -------------------------------------------------------------------------------------

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


def _call_chat(event: Any) -> str:
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
        "timestamp": _seconds(meta.timestamp) or int(time.time()),
        "isVideo": is_video,
        "isGroup": is_group,
    }


def _translate_call_offer(event: Any, chat: str, me_id: str | None) -> list[Event]:
    return [(EventName.CALL_RECEIVED.value, _call_payload(event))]


def _translate_call_accept(event: Any, chat: str, me_id: str | None) -> list[Event]:
    return [(EventName.CALL_ACCEPTED.value, _call_payload(event))]


def _translate_call_terminate(event: Any, chat: str, me_id: str | None) -> list[Event]:
    if event.reason not in REJECT_REASONS:
        return [engine_event(event)]
    payload = _call_payload(event)
    payload["reason"] = event.reason
    return [(EventName.CALL_REJECTED.value, payload)]


_CALLS = frozenset({CallOfferEv, CallOfferNoticeEv, CallAcceptEv, CallTerminateEv})

_HANDLERS: dict[type, Callable[[Any, str, str | None], list[Event]]] = {
    MessageEv: _translate_message,
    ReceiptEv: _translate_receipt,
    PresenceEv: _translate_presence,
    ChatPresenceEv: _translate_chat_presence,
    JoinedGroupEv: _translate_joined_group,
    GroupInfoEv: _translate_group_info,
    CallOfferEv: _translate_call_offer,
    CallOfferNoticeEv: _translate_call_offer,
    CallAcceptEv: _translate_call_accept,
    CallTerminateEv: _translate_call_terminate,
}


# --- connection failures -----------------------------------------------------------------------

# Written to follow "Logged out: " or "Connection failed: ".
_FAILURE_TEXTS = {
    ConnectFailureReason.GENERIC: "connection failed",
    ConnectFailureReason.LOGGED_OUT: "logged out from the phone",
    ConnectFailureReason.TEMP_BANNED: "temporarily banned by WhatsApp",
    ConnectFailureReason.MAIN_DEVICE_GONE: "the phone's WhatsApp account is gone",
    ConnectFailureReason.UNKNOWN_LOGOUT: "logged out for an unknown reason",
    ConnectFailureReason.CLIENT_OUTDATED: "this WhatsApp client version is outdated",
    ConnectFailureReason.BAD_USER_AGENT: "WhatsApp refused the client's user agent",
    ConnectFailureReason.INTERNAL_SERVER_ERROR: "WhatsApp had an internal server error",
    ConnectFailureReason.EXPERIMENTAL: "WhatsApp refused an experimental client",
    ConnectFailureReason.SERVICE_UNAVAILABLE: "WhatsApp is unavailable",
}
_LOGOUT_REASONS = (ConnectFailureReason.LOGGED_OUT, ConnectFailureReason.UNKNOWN_LOGOUT)
STREAM_REPLACED = "Stream replaced: this WhatsApp account was opened by another client"
CLIENT_OUTDATED = ("Client outdated: WhatsApp no longer accepts this whatsmeow version "
                   "(update neonize)")


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)


def failure_reason(event: Any) -> str:
    """A human reason for a connection-ending event, kept as the session's last error."""
    try:
        return _failure_reason(event)
    except Exception:
        return type(event).__name__


def _failure_reason(event: Any) -> str:
    kind = type(event)
    if kind is LoggedOutEv:
        name = _enum_name(ConnectFailureReason, event.Reason)
        if event.Reason in _LOGOUT_REASONS:
            text = _capitalized(_FAILURE_TEXTS[event.Reason])
        elif event.Reason == ConnectFailureReason.GENERIC:
            text = "Logged out"
        else:
            text = f"Logged out: {_FAILURE_TEXTS.get(event.Reason, 'unknown reason')}"
        suffix = " while connecting" if event.OnConnect else ""
        return f"{text}{suffix} ({name})"
    if kind is StreamReplacedEv:
        return STREAM_REPLACED
    if kind is TemporaryBanEv:
        code = _enum_name(TemporaryBan.TempBanReason, event.Code)
        expiry = f", expires in {timedelta(seconds=event.Expire)}" if event.Expire > 0 else ""
        return f"Temporarily banned by WhatsApp ({code}){expiry}"
    if kind is ClientOutdatedEv:
        return CLIENT_OUTDATED
    if kind is ConnectFailureEv:
        name = _enum_name(ConnectFailureReason, event.Reason)
        message = f": {event.Message}" if event.Message else ""
        if event.Reason == ConnectFailureReason.GENERIC:
            return f"Connection failed ({name}){message}"
        text = _FAILURE_TEXTS.get(event.Reason, "unknown reason")
        return f"Connection failed: {text} ({name}){message}"
    return kind.__name__


# --- history sync ------------------------------------------------------------------------------

_WEB_STATUS_ACKS = {0: -1, 1: 0, 2: 1, 3: 2, 4: 3, 5: 4}
_CHANGES_TO_OTHERS = frozenset({"reactionMessage", "protocolMessage"})


def history_batch(event: Any, *, me_id: str | None, rules: IgnoreRules) -> dict[str, Any]:
    """Chats, messages and contacts of one history-sync chunk, for the session store."""
    chats: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    try:
        data = event.Data
        names: dict[str, str] = {}
        for conversation in data.conversations:
            chat = _chat_id_from_string(conversation.ID)
            if not chat or rules.ignores(chat):
                continue
            name = conversation.name or conversation.displayName or None
            if name:
                names[chat] = name
            chats.append({
                "id": chat,
                "name": name,
                "conversationTimestamp": _seconds(conversation.conversationTimestamp)
                or _seconds(conversation.lastMsgTimestamp),
            })
            for item in conversation.messages:
                _append_history_message(messages, item.message, chat, me_id)
        if not rules.status:
            for status in data.statusV3Messages:
                _append_history_message(messages, status, "", me_id)
        for pushname in data.pushnames:
            contact = _chat_id_from_string(pushname.ID)
            if contact and not rules.ignores(contact):
                contacts.append({"id": contact, "pushName": pushname.pushname or None,
                                 "name": names.get(contact)})
    except Exception:
        log.warning("could not read a history sync chunk completely", exc_info=True)
    return {"chats": chats, "messages": messages, "contacts": contacts}


def _append_history_message(into: list[dict[str, Any]], web: Any, chat: str,
                            me_id: str | None) -> None:
    try:
        payload = history_message(web, chat, me_id)
    except Exception:
        log.debug("skipped a history message", exc_info=True)
        return
    if payload is not None:
        into.append(payload)


def history_message(web: Any, chat: str, me_id: str | None) -> dict[str, Any] | None:
    """A history-sync WebMessageInfo as a WAHA message payload; None for non-messages."""
    if not web.HasField("message"):
        return None
    key = web.key
    chat = _chat_id_from_string(key.remoteJID) or chat
    content, names = _open(web.message)
    # Reactions, revokes and edits change other messages; the store keeps messages only.
    if not _is_content(names) or names & _CHANGES_TO_OTHERS:
        return None
    from_me = key.fromMe
    sender = key.participant or web.participant
    participant = None
    if chat.endswith(_MULTI_SERVERS):
        # The key of our own message in a group may name no participant: it is us.
        participant = _chat_id_from_string(sender) or None
        if from_me:
            participant = participant or me_id
    # History knows how far each message got; a live message is only ever just arrived.
    if web.HasField("status"):
        ack = _WEB_STATUS_ACKS.get(web.status, ACK_DEVICE)
    else:
        ack = _arrival_ack(from_me)
    head = _message_head(chat, key.ID, from_me, participant, _seconds(web.messageTimestamp),
                         me_id)
    return _message_payload(head, content, names, ack=ack, data={
        "ID": key.ID,
        "Chat": key.remoteJID,
        "Sender": sender,
        "IsFromMe": from_me,
        "Pushname": web.pushName,
        "Timestamp": web.messageTimestamp,
        "Type": "media" if names & _MEDIA else "text",
    })
