"""Receipts of messages we sent → `message.ack`; the ack values every message payload carries."""

from __future__ import annotations

from typing import Any

from neonize.proto.Neonize_pb2 import Receipt

from webhooks_app.subscriptions import EventName

from .jids import full_jid, message_id, sender_of
from .waha import Event, seconds

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


def arrival_ack(from_me: bool) -> int:
    """The ack of a message as we first see it: ours reached the server, theirs this device."""
    return ACK_SERVER if from_me else ACK_DEVICE


def translate_receipt(event: Any, chat: str, me_id: str | None) -> list[Event] | None:
    source = event.MessageSource
    if not event.HasField("Type"):
        # neonize 0.5.2's encoder leaves "server-error" (and any newer type) unset.
        return None
    kind = event.Type
    if kind == Receipt.SERVER_ERROR and source.IsFromMe:
        # The same encoder writes our own "played-self" as SERVER_ERROR; a real server error
        # is never one of our own receipts.
        return None
    ack = _RECEIPT_ACKS.get(kind)
    if ack is None:
        return None
    participant = sender_of(source, chat)
    timestamp = seconds(event.Timestamp)
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
