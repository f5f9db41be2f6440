"""The session store: chats, contacts and messages kept from history sync and live traffic.

Engine-agnostic: it keeps WAHA payloads (as published in `message.any` and friends), so any
engine that emits them fills it. The runtime keeps one session's events in order, so the
read-then-write steps here have a single writer per session. A batch of events (`Changes`) writes
its new messages, their chats and their senders with a few bulk upserts, in the order that
matters: an ack, an edit, a revoke or a history batch first writes what came before it.

Nothing here raises on an odd payload: `services.record_events` calls it inside the transaction
that publishes the events, and a bad message must not cost an event its delivery.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import reduce
from operator import or_
from typing import Any, TypeVar

from django.db.models import BigIntegerField, Case, F, Q, QuerySet, Value, When

from .models import Chat, Contact, Session, StoredMessage

# Rows per INSERT and ids per IN (...): well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500
# Chats per conditional UPDATE (six parameters each).
CHATS_PER_UPDATE = 100
MESSAGE_UPDATE_FIELDS = ["chat_id", "from_me", "timestamp", "body", "ack", "payload"]
# WAHA message ids: "<fromMe>_<chat>_<id>" and, in groups, "..._<participant>".
FULL_ID_RE = re.compile(r"^(?:true|false)_[^_]+_")
# WhatsApp receipts only move forward (SERVER 1, DEVICE 2, READ 3, PLAYED 4); ERROR is -1.
ACK_ERROR = -1

T = TypeVar("T")


def store_enabled(config: dict[str, Any]) -> bool:
    """`noweb.store.enabled`, or any `gows.storage` switch, turns the store on."""
    noweb = config.get("noweb") or {}
    store = noweb.get("store") or {}
    if store.get("enabled"):
        return True
    storage = (config.get("gows") or {}).get("storage") or {}
    return any(bool(value) for value in storage.values())


def full_sync(config: dict[str, Any]) -> bool:
    return bool(((config.get("noweb") or {}).get("store") or {}).get("fullSync"))


# --- live events ---------------------------------------------------------------------------------
def save_event(session: Session, name: str, payload: dict[str, Any]) -> None:
    """Keep what one event changes; `message` alone is skipped, `message.any` covers it."""
    changes = Changes()
    changes.event(session, name, payload)
    changes.flush()


class Changes:
    """What a run of events and history batches changes in the store, written in bulk.

    New messages (`message.any`) are gathered: their rows with one upsert (the last copy of a
    message wins, as when written one by one), their chats with one insert and one conditional
    update (the conversation time moves forward, never back), their senders' push names with
    one upsert. An ack, edit or revoke reads or changes what came before it, and a history
    batch must not be overwritten by older live copies, so what is gathered is written first.
    """

    def __init__(self) -> None:
        self.messages: dict[tuple[int, str], StoredMessage] = {}
        self.chats: dict[tuple[int, str], tuple[Session, int]] = {}
        self.contacts: dict[tuple[int, str], Contact] = {}

    def event(self, session: Session, name: str, payload: dict[str, Any]) -> None:
        if not isinstance(payload, Mapping):
            return
        if name == "message.any":
            self._message(session, payload)
            return
        handler = EVENT_HANDLERS.get(name)
        if handler is not None:
            self.flush()
            handler(session, payload)

    def history(self, session: Session, batch: dict[str, Any]) -> None:
        self.flush()
        save_history(session, batch)

    def flush(self) -> None:
        if self.messages:
            StoredMessage.objects.bulk_create(
                list(self.messages.values()), update_conflicts=True,
                unique_fields=["session", "message_id"], update_fields=MESSAGE_UPDATE_FIELDS,
                batch_size=CHUNK,
            )
        if self.chats:
            _touch_chats([(session, chat_id, timestamp)
                          for (_, chat_id), (session, timestamp) in self.chats.items()])
        if self.contacts:
            Contact.objects.bulk_create(
                list(self.contacts.values()), update_conflicts=True,
                unique_fields=["session", "contact_id"], update_fields=["push_name"],
                batch_size=CHUNK,
            )
        self.messages, self.chats, self.contacts = {}, {}, {}

    def _message(self, session: Session, payload: Mapping[str, Any]) -> None:
        row = message_row(session, payload)
        if row is None:
            return
        self.messages[(session.pk, row.message_id)] = row
        chat = (session.pk, row.chat_id)
        latest = self.chats.get(chat)
        self.chats[chat] = (session, row.timestamp if latest is None
                            else max(latest[1], row.timestamp))
        sender = sender_of(payload)
        push_name = push_name_of(payload)
        if sender and push_name:
            self.contacts[(session.pk, sender)] = Contact(session=session, contact_id=sender,
                                                         push_name=push_name)


def save_sent(session: Session, payload: dict[str, Any]) -> None:
    """Keep a message the API just sent, so the caller reads it back at once.

    Its `message.any` may reach the store before or after this; inserting only when absent
    means a receipt applied in between is never undone.
    """
    if not store_enabled(session.config):
        return
    row = message_row(session, payload)
    if row is None:
        return
    StoredMessage.objects.bulk_create([row], ignore_conflicts=True)
    touch_chat(session, row.chat_id, row.timestamp)


def _save_ack(session: Session, payload: Mapping[str, Any]) -> None:
    message_id, ack = payload.get("id"), as_int(payload.get("ack"))
    if not isinstance(message_id, str) or ack is None:
        return
    row = StoredMessage.objects.filter(session=session, message_id=message_id).first()
    if row is None:
        return
    if row.ack is not None and ack < row.ack and ack != ACK_ERROR:
        return  # a late DEVICE receipt must not undo READ
    row.ack = ack
    row.payload = {**row.payload, "ack": ack,
                   "ackName": payload.get("ackName", row.payload.get("ackName"))}
    row.save(update_fields=["ack", "payload"])


def _save_revoke(session: Session, payload: Mapping[str, Any]) -> None:
    """The sender deleted it for everyone: it leaves the store too."""
    before = payload.get("before") if isinstance(payload.get("before"), Mapping) else None
    after = payload.get("after") if isinstance(payload.get("after"), Mapping) else None
    message_id = payload.get("revokedMessageId") or (before or {}).get("id")
    if not isinstance(message_id, str) or not message_id:
        return
    chat_id = chat_of(after) if after is not None else None
    targeted(session, message_id, chat_id).delete()


def _save_edit(session: Session, payload: Mapping[str, Any]) -> None:
    message_id, body = payload.get("editedMessageId"), payload.get("body")
    if not isinstance(message_id, str) or not message_id or not isinstance(body, str):
        return
    for row in targeted(session, message_id, chat_of(payload)):
        row.body = body
        row.payload = {**row.payload, "body": body}
        row.save(update_fields=["body", "payload"])


# What an event other than a new message changes, applied one at a time, in order.
EVENT_HANDLERS: dict[str, Callable[[Session, Mapping[str, Any]], None]] = {
    "message.ack": _save_ack,
    "message.revoked": _save_revoke,
    "message.edited": _save_edit,
}


def targeted(session: Session, message_id: str, chat_id: str | None) -> QuerySet[StoredMessage]:
    """The stored message an edit or revoke names: by its WAHA id, or by WhatsApp's bare id
    (what GOWS puts in `revokedMessageId` / `editedMessageId`), narrowed to the chat if known.
    """
    rows = StoredMessage.objects.filter(session=session)
    if FULL_ID_RE.match(message_id):
        return rows.filter(message_id=message_id)
    if chat_id:
        rows = rows.filter(chat_id=chat_id)
    return rows.filter(
        Q(message_id__endswith=f"_{message_id}") | Q(message_id__contains=f"_{message_id}_")
    )


def touch_chat(session: Session, chat_id: str, timestamp: int) -> None:
    """Create the chat if new; move its conversation time forward, never back."""
    _touch_chats([(session, chat_id, timestamp)])


def _touch_chats(chats: list[tuple[Session, str, int]]) -> None:
    """`touch_chat` for many: one insert of the new ones, one conditional update per chunk."""
    Chat.objects.bulk_create(
        [Chat(session=session, chat_id=chat_id, conversation_timestamp=timestamp)
         for session, chat_id, timestamp in chats],
        ignore_conflicts=True, batch_size=CHUNK,
    )
    for part in _chunks(chats, CHATS_PER_UPDATE):
        behind = reduce(or_, (
            Q(session=session, chat_id=chat_id)
            & (Q(conversation_timestamp__isnull=True) | Q(conversation_timestamp__lt=timestamp))
            for session, chat_id, timestamp in part
        ))
        Chat.objects.filter(behind).update(conversation_timestamp=Case(
            *(When(session=session, chat_id=chat_id, then=Value(timestamp))
              for session, chat_id, timestamp in part),
            output_field=BigIntegerField(),
        ))


# --- reading --------------------------------------------------------------------------------------
def chats_of(session: Session) -> QuerySet[Chat]:
    """Latest conversation first; chats with no known time last."""
    return Chat.objects.filter(session=session).order_by(
        F("conversation_timestamp").desc(nulls_last=True), "chat_id"
    )


def messages_of(session: Session, chat_id: str) -> QuerySet[StoredMessage]:
    """Newest first."""
    return StoredMessage.objects.filter(session=session, chat_id=chat_id).order_by(
        "-timestamp", "-id"
    )


def contacts_of(session: Session) -> QuerySet[Contact]:
    return Contact.objects.filter(session=session).order_by("contact_id")


# --- history sync --------------------------------------------------------------------------------
def save_history(session: Session, batch: dict[str, Any]) -> None:
    """Keep a history batch with a few bulk upserts; what is already known is not lost."""
    chats: dict[str, tuple[str, int | None]] = {}
    for item in _items(batch.get("chats")):
        chat_id = _id(item.get("id"), Chat, "chat_id")
        if chat_id:
            chats[chat_id] = (_text(item.get("name"), Chat, "name"),
                              as_int(item.get("conversationTimestamp")))

    messages: dict[str, StoredMessage] = {}
    for item in _items(batch.get("messages")):
        row = message_row(session, item)
        if row is None:
            continue
        messages[row.message_id] = row
        name, latest = chats.get(row.chat_id, ("", None))
        chats[row.chat_id] = (name, _later(latest, row.timestamp))

    contacts: dict[str, tuple[str, str]] = {}
    for item in _items(batch.get("contacts")):
        contact_id = _id(item.get("id"), Contact, "contact_id")
        if contact_id:
            contacts[contact_id] = (_text(item.get("pushName"), Contact, "push_name"),
                                    _text(item.get("name"), Contact, "name"))

    _upsert_chats(session, chats)
    StoredMessage.objects.bulk_create(
        list(messages.values()), update_conflicts=True, unique_fields=["session", "message_id"],
        update_fields=MESSAGE_UPDATE_FIELDS, batch_size=CHUNK,
    )
    _upsert_contacts(session, contacts)


def _upsert_chats(session: Session, chats: dict[str, tuple[str, int | None]]) -> None:
    known: dict[str, Chat] = {}
    for ids in _chunks(list(chats)):
        known.update((chat.chat_id, chat)
                     for chat in Chat.objects.filter(session=session, chat_id__in=ids))
    rows = []
    for chat_id, (name, latest) in chats.items():
        old = known.get(chat_id)
        if old is not None:
            # A history copy may be older than what live traffic already brought.
            name = name or old.name
            latest = _later(latest, old.conversation_timestamp)
        rows.append(Chat(session=session, chat_id=chat_id, name=name,
                         conversation_timestamp=latest))
    Chat.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["session", "chat_id"],
        update_fields=["name", "conversation_timestamp"], batch_size=CHUNK,
    )


def _upsert_contacts(session: Session, contacts: dict[str, tuple[str, str]]) -> None:
    known: dict[str, Contact] = {}
    for ids in _chunks(list(contacts)):
        known.update((contact.contact_id, contact)
                     for contact in Contact.objects.filter(session=session, contact_id__in=ids))
    rows = []
    for contact_id, (push_name, name) in contacts.items():
        old = known.get(contact_id)
        if old is not None:
            push_name, name = push_name or old.push_name, name or old.name
        rows.append(Contact(session=session, contact_id=contact_id, push_name=push_name,
                            name=name))
    Contact.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["session", "contact_id"],
        update_fields=["push_name", "name"], batch_size=CHUNK,
    )


# --- reading WAHA payloads ---------------------------------------------------------------------
def message_row(session: Session, payload: Mapping[str, Any]) -> StoredMessage | None:
    """A StoredMessage for a WAHA message payload, or None when it names no message or chat."""
    message_id = _id(payload.get("id"), StoredMessage, "message_id")
    chat_id = chat_of(payload)
    if not message_id or not chat_id:
        return None
    body = payload.get("body")
    return StoredMessage(
        session=session, message_id=message_id, chat_id=chat_id,
        from_me=payload.get("fromMe") is True,
        timestamp=as_int(payload.get("timestamp")) or 0,
        body=body if isinstance(body, str) else "",
        ack=as_int(payload.get("ack")), payload=dict(payload),
    )


def chat_of(payload: Mapping[str, Any]) -> str | None:
    """The chat of a message: where it went if ours, where it came from otherwise."""
    chat_id = payload.get("to") if payload.get("fromMe") is True else payload.get("from")
    return _id(chat_id, Chat, "chat_id") or None


def sender_of(payload: Mapping[str, Any]) -> str | None:
    """Who wrote an incoming message: the participant in a group, else the chat itself."""
    if payload.get("fromMe") is True:
        return None
    sender = payload.get("participant") or payload.get("from")
    return _id(sender, Contact, "contact_id") or None


def push_name_of(payload: Mapping[str, Any]) -> str:
    """The sender's push name from the engine's raw data: NOWEB's `pushName`, GOWS's
    `Info.PushName`, WEBJS's `notifyName`."""
    data = payload.get("_data")
    if not isinstance(data, Mapping):
        return ""
    info = data.get("Info")
    candidates = [data.get("pushName"), data.get("notifyName"),
                  info.get("PushName") if isinstance(info, Mapping) else None]
    for value in candidates:
        if isinstance(value, str) and value:
            return _text(value, Contact, "push_name")
    return ""


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _later(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


def _id(value: Any, model: type[Any], field: str) -> str:
    """An id that fits its column, or "" (a longer one is not an id we can keep)."""
    if not isinstance(value, str) or not value:
        return ""
    return value if len(value) <= model._meta.get_field(field).max_length else ""


def _text(value: Any, model: type[Any], field: str) -> str:
    if not isinstance(value, str):
        return ""
    return value[: model._meta.get_field(field).max_length]


def _items(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _chunks(values: list[T], size: int = CHUNK) -> Iterable[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
