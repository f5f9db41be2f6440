"""A history-sync chunk → the chats, messages and contacts the session store keeps."""

from __future__ import annotations

import logging
from typing import Any

from ...ignore import IgnoreRules
from .jids import chat_id_from_string, is_multi
from .messages import MEDIA, is_content, message_head, message_payload, open_content
from .receipts import ACK_DEVICE, arrival_ack
from .waha import seconds

log = logging.getLogger("waha.engine.neonize")

# WebMessageInfo.Status (ERROR, PENDING, SERVER_ACK, DELIVERY_ACK, READ, PLAYED) as WAHA acks.
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
            chat = chat_id_from_string(conversation.ID)
            if not chat or rules.ignores(chat):
                continue
            name = conversation.name or conversation.displayName or None
            if name:
                names[chat] = name
            chats.append({
                "id": chat,
                "name": name,
                "conversationTimestamp": seconds(conversation.conversationTimestamp)
                or seconds(conversation.lastMsgTimestamp),
            })
            for item in conversation.messages:
                _append_message(messages, item.message, chat, me_id)
        if not rules.status:
            for status in data.statusV3Messages:
                _append_message(messages, status, "", me_id)
        for pushname in data.pushnames:
            contact = chat_id_from_string(pushname.ID)
            if contact and not rules.ignores(contact):
                contacts.append({"id": contact, "pushName": pushname.pushname or None,
                                 "name": names.get(contact)})
    except Exception:
        log.warning("could not read a history sync chunk completely", exc_info=True)
    return {"chats": chats, "messages": messages, "contacts": contacts}


def _append_message(into: list[dict[str, Any]], web: Any, chat: str,
                    me_id: str | None) -> None:
    try:
        payload = _message(web, chat, me_id)
    except Exception:
        log.debug("skipped a history message", exc_info=True)
        return
    if payload is not None:
        into.append(payload)


def _message(web: Any, chat: str, me_id: str | None) -> dict[str, Any] | None:
    """A history-sync WebMessageInfo as a WAHA message payload; None for non-messages."""
    if not web.HasField("message"):
        return None
    key = web.key
    chat = chat_id_from_string(key.remoteJID) or chat
    content, names = open_content(web.message)
    # Reactions, revokes and edits change other messages; the store keeps messages only.
    if not is_content(names) or names & _CHANGES_TO_OTHERS:
        return None
    from_me = key.fromMe
    sender = key.participant or web.participant
    participant = None
    if is_multi(chat):
        # The key of our own message in a group may name no participant: it is us.
        participant = chat_id_from_string(sender) or None
        if from_me:
            participant = participant or me_id
    # History knows how far each message got; a live message is only ever just arrived.
    if web.HasField("status"):
        ack = _WEB_STATUS_ACKS.get(web.status, ACK_DEVICE)
    else:
        ack = arrival_ack(from_me)
    head = message_head(chat, key.ID, from_me, participant, seconds(web.messageTimestamp), me_id)
    return message_payload(head, content, names, ack=ack, data={
        "ID": key.ID,
        "Chat": key.remoteJID,
        "Sender": sender,
        "IsFromMe": from_me,
        "Pushname": web.pushName,
        "Timestamp": web.messageTimestamp,
        "Type": "media" if names & MEDIA else "text",
    })
