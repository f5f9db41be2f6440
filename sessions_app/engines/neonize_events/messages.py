"""Messages, reactions, revokes and edits → `message*`; WAHA's message payload, for history too."""

from __future__ import annotations

from typing import Any

from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ProtocolMessage

from webhooks_app.subscriptions import EventName

from .jids import chat_id_from_string, full_jid, is_multi, message_id, sender_of, waha_chat_id
from .receipts import ACK_NAMES, arrival_ack
from .waha import Event, seconds

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
MEDIA = frozenset(
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


# --- content -----------------------------------------------------------------------------------

def open_content(content: Any) -> tuple[Any, set[str]]:
    """The content inside any wrappers, and the names of its set fields."""
    for _ in range(4):
        names = {field.name for field, _ in content.ListFields()}
        wrapper = names & _WRAPPERS
        if not wrapper:
            break
        content = getattr(content, wrapper.pop()).message
    return content, names


def is_content(names: set[str]) -> bool:
    """Whether a message's set fields hold something WAHA shows as a message of its own."""
    return bool(names - _NOT_CONTENT) and not names & _NOT_A_MESSAGE


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
            quoted, quoted_names = open_content(context.quotedMessage)
            body = _body(quoted, quoted_names)
            has_media = bool(quoted_names & MEDIA)
        return {
            "id": context.stanzaID,
            "participant": chat_id_from_string(context.participant) or None,
            "body": body,
            "hasMedia": bool(has_media),
            "media": None,
        }
    return None


# --- the payload -------------------------------------------------------------------------------

def message_head(chat: str, msg_id: str, from_me: bool, participant: str | None,
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


def message_payload(head: dict[str, Any], content: Any, names: set[str], *, ack: int,
                    data: dict[str, Any]) -> dict[str, Any]:
    """WAHA's message payload, for a live message, an edit and a history-sync message alike.

    `head` comes from `message_head`; `data` is the `_data` of whatever the message came in.
    """
    return {
        **head,
        "body": _body(content, names),
        "hasMedia": bool(names & MEDIA),
        "media": None,
        "ack": ack,
        "ackName": ACK_NAMES[ack],
        "replyTo": _reply_to(content, names),
        "_data": data,
    }


def _head(info: Any, me_id: str | None) -> dict[str, Any]:
    """The head of a live message, from whatsmeow's MessageInfo."""
    source = info.MessageSource
    chat = waha_chat_id(source.Chat)
    return message_head(chat, info.ID, source.IsFromMe, sender_of(source, chat),
                        seconds(info.Timestamp), me_id)


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


# --- live messages -----------------------------------------------------------------------------

def translate_message(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    info = event.Info
    content, names = open_content(event.Message)
    if "reactionMessage" in names:
        return [_reaction(info, content.reactionMessage, chat, me_id)]
    if "protocolMessage" in names:
        protocol = content.protocolMessage
        if protocol.type == ProtocolMessage.REVOKE:
            return [_revoked(info, protocol, me_id)]
        if protocol.type == ProtocolMessage.MESSAGE_EDIT:
            return [_edited(info, protocol.editedMessage, protocol.key.ID, me_id)]
        return None
    if not is_content(names):
        return None
    if event.IsEdit:
        # Edited content that came without its protocolMessage (a channel post, for one).
        return [_edited(info, content, info.ID, me_id)]
    from_me = info.MessageSource.IsFromMe
    payload = message_payload(_head(info, me_id), content, names, ack=arrival_ack(from_me),
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
    multi = is_multi(chat)
    reactor = waha_chat_id(source.Sender)
    if source.IsFromMe:
        from_me = key.fromMe
        author = None if from_me else chat_id_from_string(key.participant) or None
    elif key.fromMe:
        from_me, author = False, reactor
    elif multi:
        author = chat_id_from_string(key.participant) or None
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
    content, names = open_content(content)
    from_me = info.MessageSource.IsFromMe
    payload = message_payload(_head(info, me_id), content, names, ack=arrival_ack(from_me),
                              data=_small_data(info))
    payload["body"] = payload["body"] or ""
    payload["editedMessageId"] = edited_id
    return EventName.MESSAGE_EDITED.value, payload
