"""The store on the database: what each event and a history batch keep, and when it is off."""

from __future__ import annotations

from typing import Any

import pytest

from sessions_app import services, store
from sessions_app.models import Chat, Contact, Session, StoredMessage
from sessions_app.slots import EventArrived, HistoryArrived

pytestmark = pytest.mark.django_db

STORE_ON = {"noweb": {"store": {"enabled": True}}}
ME = "11111111111@c.us"


def make_session(name: str = "alpha", config: dict[str, Any] | None = None) -> Session:
    return Session.objects.create(name=name, config=STORE_ON if config is None else config)


def incoming(chat_id: str = "123@c.us", key: str = "AAA", body: str = "hi",
             timestamp: int = 1_700_000_000, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"false_{chat_id}_{key}", "timestamp": timestamp, "from": chat_id,
        "fromMe": False, "source": "app", "to": ME, "participant": None, "body": body,
        "hasMedia": False, "media": None, "ack": 2, "ackName": "DEVICE", "replyTo": None,
        "_data": {}, **extra,
    }


def outgoing(chat_id: str = "123@c.us", key: str = "BBB", body: str = "hello",
             timestamp: int = 1_700_000_100) -> dict[str, Any]:
    return {
        "id": f"true_{chat_id}_{key}", "timestamp": timestamp, "from": ME, "fromMe": True,
        "source": "api", "to": chat_id, "participant": None, "body": body, "hasMedia": False,
        "media": None, "ack": 1, "ackName": "SERVER", "replyTo": None, "_data": {},
    }


def stored(message_id: str) -> StoredMessage:
    return StoredMessage.objects.get(message_id=message_id)


# --- message.any ----------------------------------------------------------------------------------
def test_message_any_keeps_the_message_and_its_chat() -> None:
    session = make_session()
    payload = incoming()

    store.save_event(session, "message.any", payload)

    row = stored("false_123@c.us_AAA")
    assert (row.session, row.chat_id, row.from_me, row.timestamp, row.body, row.ack) == (
        session, "123@c.us", False, 1_700_000_000, "hi", 2
    )
    assert row.payload == payload
    chat = Chat.objects.get(session=session)
    assert (chat.chat_id, chat.conversation_timestamp) == ("123@c.us", 1_700_000_000)


def test_a_message_of_ours_belongs_to_the_chat_it_went_to() -> None:
    session = make_session()

    store.save_event(session, "message.any", outgoing(chat_id="456@c.us"))

    assert stored("true_456@c.us_BBB").chat_id == "456@c.us"
    assert list(Chat.objects.values_list("chat_id", flat=True)) == ["456@c.us"]
    assert not Contact.objects.exists()


def test_saving_the_same_message_twice_keeps_one_row_with_the_latest_payload() -> None:
    session = make_session()

    store.save_event(session, "message.any", incoming(body="first"))
    store.save_event(session, "message.any", incoming(body="second"))

    assert StoredMessage.objects.count() == 1
    assert stored("false_123@c.us_AAA").payload["body"] == "second"
    assert Chat.objects.count() == 1


def test_the_same_message_id_in_two_sessions_is_two_rows() -> None:
    alpha, beta = make_session("alpha"), make_session("beta")

    store.save_event(alpha, "message.any", incoming())
    store.save_event(beta, "message.any", incoming())

    assert StoredMessage.objects.count() == 2
    assert Chat.objects.count() == 2


def test_an_older_message_does_not_move_the_chat_time_back() -> None:
    session = make_session()

    store.save_event(session, "message.any", incoming(key="NEW", timestamp=2_000))
    store.save_event(session, "message.any", incoming(key="OLD", timestamp=1_000))

    assert Chat.objects.get().conversation_timestamp == 2_000


def test_a_group_message_keeps_the_group_as_chat_and_the_sender_as_contact() -> None:
    session = make_session()
    payload = incoming(chat_id="120363001@g.us", participant="555@c.us",
                       _data={"Info": {"PushName": "Ana"}})

    store.save_event(session, "message.any", payload)

    assert stored("false_120363001@g.us_AAA").chat_id == "120363001@g.us"
    contact = Contact.objects.get()
    assert (contact.contact_id, contact.push_name, contact.name) == ("555@c.us", "Ana", "")


def test_a_sender_push_name_is_updated_and_their_book_name_kept() -> None:
    session = make_session()
    Contact.objects.create(session=session, contact_id="123@c.us", push_name="Old",
                           name="Bob Smith")

    store.save_event(session, "message.any", incoming(_data={"pushName": "Bobby"}))

    contact = Contact.objects.get()
    assert (contact.push_name, contact.name) == ("Bobby", "Bob Smith")


def test_a_message_without_a_push_name_makes_no_contact() -> None:
    session = make_session()

    store.save_event(session, "message.any", incoming())

    assert not Contact.objects.exists()


def test_the_message_event_alone_is_not_stored() -> None:
    session = make_session()

    store.save_event(session, "message", incoming())

    assert not StoredMessage.objects.exists()
    assert not Chat.objects.exists()


@pytest.mark.parametrize("name", ["message.reaction", "presence.update", "session.status",
                                  "group.v2.join", "engine.event"])
def test_other_events_are_ignored(name: str) -> None:
    session = make_session()

    store.save_event(session, name, incoming())

    assert not StoredMessage.objects.exists()


@pytest.mark.parametrize("payload", [
    {"body": "no id", "from": "123@c.us"},
    {"id": "false_x_1", "fromMe": False, "from": None},
    {"id": 42, "from": "123@c.us"},
    {"id": "x" * 300, "from": "123@c.us"},
])
def test_a_payload_naming_no_message_or_chat_is_skipped(payload: dict[str, Any]) -> None:
    session = make_session()

    store.save_event(session, "message.any", payload)

    assert not StoredMessage.objects.exists()


# --- message.ack ----------------------------------------------------------------------------------
def test_an_ack_updates_the_stored_message() -> None:
    session = make_session()
    store.save_event(session, "message.any", outgoing())

    store.save_event(session, "message.ack", {
        "id": "true_123@c.us_BBB", "from": ME, "to": "123@c.us", "fromMe": True,
        "ack": 3, "ackName": "READ", "_data": {},
    })

    row = stored("true_123@c.us_BBB")
    assert row.ack == 3
    assert (row.payload["ack"], row.payload["ackName"]) == (3, "READ")
    assert row.payload["body"] == "hello"


def test_a_late_lower_ack_does_not_undo_a_read() -> None:
    session = make_session()
    store.save_event(session, "message.any", outgoing())
    store.save_event(session, "message.ack", {"id": "true_123@c.us_BBB", "ack": 3,
                                              "ackName": "READ"})

    store.save_event(session, "message.ack", {"id": "true_123@c.us_BBB", "ack": 2,
                                              "ackName": "DEVICE"})

    assert stored("true_123@c.us_BBB").payload["ackName"] == "READ"


def test_an_ack_of_an_unknown_message_stores_nothing() -> None:
    session = make_session()

    store.save_event(session, "message.ack", {"id": "true_123@c.us_ZZZ", "ack": 3,
                                              "ackName": "READ"})

    assert not StoredMessage.objects.exists()


# --- message.revoked and message.edited -----------------------------------------------------------
def test_a_revoke_naming_the_waha_id_removes_the_message() -> None:
    session = make_session()
    store.save_event(session, "message.any", incoming(key="AAA"))
    store.save_event(session, "message.any", incoming(key="KEEP"))

    store.save_event(session, "message.revoked", {
        "revokedMessageId": "false_123@c.us_AAA", "before": None, "after": None,
    })

    assert list(StoredMessage.objects.values_list("message_id", flat=True)) == [
        "false_123@c.us_KEEP"
    ]


def test_a_revoke_naming_the_bare_id_removes_it_from_that_chat_only() -> None:
    session = make_session()
    store.save_event(session, "message.any", incoming(chat_id="123@c.us", key="SAME"))
    store.save_event(session, "message.any", incoming(chat_id="999@c.us", key="SAME"))
    after = incoming(chat_id="123@c.us", key="PROTOCOL", body="")

    store.save_event(session, "message.revoked", {"revokedMessageId": "SAME", "after": after,
                                                  "before": None})

    assert list(StoredMessage.objects.values_list("message_id", flat=True)) == [
        "false_999@c.us_SAME"
    ]


def test_a_revoke_of_a_group_message_finds_it_by_the_bare_id() -> None:
    session = make_session()
    group_message = incoming(chat_id="120363001@g.us", participant="555@c.us")
    group_message["id"] = "false_120363001@g.us_GRP_555@c.us"
    store.save_event(session, "message.any", group_message)

    store.save_event(session, "message.revoked", {"revokedMessageId": "GRP", "after": None,
                                                  "before": None})

    assert not StoredMessage.objects.exists()


def test_a_revoke_can_name_the_message_through_before() -> None:
    session = make_session()
    store.save_event(session, "message.any", incoming())

    store.save_event(session, "message.revoked", {"before": incoming(), "after": None})

    assert not StoredMessage.objects.exists()


def test_an_edit_replaces_the_body() -> None:
    session = make_session()
    store.save_event(session, "message.any", outgoing(body="helo"))
    edit = {**outgoing(key="EDITPROTO", body="hello"), "editedMessageId": "BBB"}

    store.save_event(session, "message.edited", edit)

    row = stored("true_123@c.us_BBB")
    assert (row.body, row.payload["body"]) == ("hello", "hello")
    assert StoredMessage.objects.count() == 1


def test_an_edit_of_an_unknown_message_stores_nothing() -> None:
    session = make_session()

    store.save_event(session, "message.edited", {**incoming(), "editedMessageId": "NOPE"})

    assert not StoredMessage.objects.exists()


# --- a message the API sent -----------------------------------------------------------------------
def test_a_sent_message_is_kept_at_once() -> None:
    session = make_session()

    store.save_sent(session, outgoing())

    assert stored("true_123@c.us_BBB").body == "hello"
    assert Chat.objects.get().conversation_timestamp == 1_700_000_100


def test_keeping_a_sent_message_does_not_undo_a_receipt_already_stored() -> None:
    session = make_session()
    store.save_event(session, "message.any", outgoing())
    store.save_event(session, "message.ack", {"id": "true_123@c.us_BBB", "ack": 3,
                                              "ackName": "READ"})

    store.save_sent(session, outgoing())

    assert stored("true_123@c.us_BBB").ack == 3


def test_a_sent_message_is_not_kept_when_the_store_is_off() -> None:
    session = make_session(config={})

    store.save_sent(session, outgoing())

    assert not StoredMessage.objects.exists()


# --- history --------------------------------------------------------------------------------------
def history_batch() -> dict[str, Any]:
    return {
        "chats": [
            {"id": "123@c.us", "name": "Bob", "conversationTimestamp": 1_700_000_100},
            {"id": "120363001@g.us", "name": "Team", "conversationTimestamp": 1_600_000_000},
        ],
        "messages": [incoming(), outgoing(), incoming(chat_id="777@c.us", key="CCC",
                                                      timestamp=1_650_000_000)],
        "contacts": [{"id": "123@c.us", "pushName": "Bobby", "name": "Bob"},
                     {"id": "555@c.us", "pushName": "Ana", "name": None}],
    }


def test_history_keeps_chats_messages_and_contacts() -> None:
    session = make_session()

    store.save_history(session, history_batch())

    chats = {chat.chat_id: (chat.name, chat.conversation_timestamp)
             for chat in Chat.objects.filter(session=session)}
    assert chats == {
        "123@c.us": ("Bob", 1_700_000_100),
        "120363001@g.us": ("Team", 1_600_000_000),
        "777@c.us": ("", 1_650_000_000),  # known from its messages only
    }
    assert set(StoredMessage.objects.values_list("message_id", flat=True)) == {
        "false_123@c.us_AAA", "true_123@c.us_BBB", "false_777@c.us_CCC",
    }
    contacts = {c.contact_id: (c.push_name, c.name) for c in Contact.objects.all()}
    assert contacts == {"123@c.us": ("Bobby", "Bob"), "555@c.us": ("Ana", "")}


def test_the_same_history_twice_changes_nothing() -> None:
    session = make_session()
    store.save_history(session, history_batch())
    before = (list(Chat.objects.values()), list(StoredMessage.objects.values()),
              list(Contact.objects.values()))

    store.save_history(session, history_batch())

    after = (list(Chat.objects.values()), list(StoredMessage.objects.values()),
             list(Contact.objects.values()))
    assert after == before


def test_history_updates_what_it_knows_better() -> None:
    session = make_session()
    store.save_history(session, history_batch())
    batch = history_batch()
    batch["chats"][0]["name"] = "Bob S."
    batch["messages"][0]["body"] = "hi (edited)"
    batch["contacts"][1]["name"] = "Ana Lima"

    store.save_history(session, batch)

    assert Chat.objects.get(chat_id="123@c.us").name == "Bob S."
    assert stored("false_123@c.us_AAA").body == "hi (edited)"
    assert Contact.objects.get(contact_id="555@c.us").name == "Ana Lima"


def test_history_does_not_blank_names_or_move_chat_time_back() -> None:
    session = make_session()
    store.save_event(session, "message.any", incoming(timestamp=1_800_000_000))
    Chat.objects.filter(chat_id="123@c.us").update(name="Bob")
    Contact.objects.create(session=session, contact_id="123@c.us", push_name="Bobby",
                           name="Bob")

    store.save_history(session, {
        "chats": [{"id": "123@c.us", "name": "", "conversationTimestamp": 1_700_000_000}],
        "contacts": [{"id": "123@c.us", "pushName": None, "name": ""}],
    })

    chat = Chat.objects.get(chat_id="123@c.us")
    assert (chat.name, chat.conversation_timestamp) == ("Bob", 1_800_000_000)
    contact = Contact.objects.get()
    assert (contact.push_name, contact.name) == ("Bobby", "Bob")


def test_a_large_history_is_kept_whole() -> None:
    session = make_session()
    count = store.CHUNK * 2 + 7
    batch = {
        "chats": [{"id": f"{n}@c.us", "name": f"c{n}", "conversationTimestamp": n}
                  for n in range(count)],
        "messages": [incoming(chat_id=f"{n}@c.us", key=f"K{n}", timestamp=n)
                     for n in range(count)],
        "contacts": [{"id": f"{n}@c.us", "pushName": f"p{n}", "name": ""}
                     for n in range(count)],
    }

    store.save_history(session, batch)
    store.save_history(session, batch)

    assert Chat.objects.count() == StoredMessage.objects.count() == Contact.objects.count() == (
        count
    )


def test_a_history_batch_with_missing_or_odd_parts_keeps_what_it_can() -> None:
    session = make_session()

    store.save_history(session, {"chats": None, "messages": [incoming(), "junk", {"id": 1}],
                                 "contacts": [{"name": "no id"}]})

    assert StoredMessage.objects.count() == 1
    assert Chat.objects.count() == 1
    assert not Contact.objects.exists()


# --- on or off: services.record_event and record_history decide -----------------------------------
@pytest.mark.parametrize("config", [
    {"noweb": {"store": {"enabled": True}}},
    {"noweb": {"store": {"enabled": True, "fullSync": True}}},
    {"gows": {"storage": {"messages": True}}},
    {"gows": {"storage": {"chats": True, "contacts": False}}},
])
def test_record_event_keeps_messages_when_the_store_is_on(config: dict[str, Any]) -> None:
    session = make_session(config=config)

    services.record_event(session.uid, "message.any", incoming())

    assert StoredMessage.objects.filter(session=session).count() == 1


@pytest.mark.parametrize("config", [
    {},
    {"noweb": {"store": {"enabled": False, "fullSync": True}}},
    {"noweb": {"store": None}},
    {"gows": {"storage": {"messages": False, "chats": None}}},
])
def test_record_event_keeps_nothing_when_the_store_is_off(config: dict[str, Any]) -> None:
    session = make_session(config=config)

    services.record_event(session.uid, "message.any", incoming())
    services.record_history(session.uid, history_batch())

    assert not StoredMessage.objects.exists()
    assert not Chat.objects.exists()
    assert not Contact.objects.exists()


def test_record_history_keeps_the_batch_when_the_store_is_on() -> None:
    session = make_session()

    services.record_history(session.uid, history_batch())

    assert StoredMessage.objects.filter(session=session).count() == 3


def test_deleting_a_session_deletes_its_store() -> None:
    session = make_session()
    store.save_history(session, history_batch())

    session.delete()

    assert not (Chat.objects.exists() or StoredMessage.objects.exists()
                or Contact.objects.exists())


# --- a batch of events: services.record_events ----------------------------------------------------
def _kept(session: Session) -> dict[str, Any]:
    """What the store holds for a session, comparable across sessions."""
    return {
        "messages": sorted(StoredMessage.objects.filter(session=session).values_list(
            "message_id", "chat_id", "timestamp", "body", "ack", "payload")),
        "chats": sorted(Chat.objects.filter(session=session).values_list(
            "chat_id", "name", "conversation_timestamp")),
        "contacts": sorted(Contact.objects.filter(session=session).values_list(
            "contact_id", "push_name", "name")),
    }


def _run_of_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("message.any", incoming(key="A", timestamp=2_000, _data={"pushName": "Bob"})),
        ("message.any", incoming(key="B", timestamp=1_000)),  # older: the chat keeps 2_000
        ("message", incoming(key="SKIPPED")),
        ("message.any", outgoing(chat_id="456@c.us", key="C", timestamp=1_500)),
        ("message.ack", {"id": "true_456@c.us_C", "ack": 3, "ackName": "READ"}),
        ("message.any", incoming(key="A", body="again", timestamp=2_000,
                                 _data={"pushName": "Bobby"})),  # the last copy wins
        ("message.any", incoming(chat_id="999@c.us", key="D", timestamp=500)),
        ("message.revoked", {"revokedMessageId": "false_123@c.us_B", "before": None,
                             "after": None}),
        ("message.any", incoming(chat_id="777@c.us", key="E", timestamp=4_000)),
        ("message.edited", {**incoming(chat_id="777@c.us", key="PROTO", body="edited"),
                            "editedMessageId": "E"}),
    ]


def test_a_batch_keeps_what_the_same_events_keep_one_by_one() -> None:
    one_by_one, batched = make_session("alpha"), make_session("beta")
    for session in (one_by_one, batched):  # known before: its time must not move back
        Chat.objects.create(session=session, chat_id="999@c.us", conversation_timestamp=3_000)
    for name, payload in _run_of_events():
        store.save_event(one_by_one, name, payload)

    services.record_events([(batched.uid, EventArrived(name, payload))
                            for name, payload in _run_of_events()])

    assert _kept(batched) == _kept(one_by_one)
    assert _kept(batched)["chats"] == [("123@c.us", "", 2_000), ("456@c.us", "", 1_500),
                                       ("777@c.us", "", 4_000), ("999@c.us", "", 3_000)]
    assert StoredMessage.objects.get(session=batched, message_id="true_456@c.us_C").ack == 3
    assert Contact.objects.get(session=batched).push_name == "Bobby"


def test_a_batch_keeps_each_session_apart_and_only_where_the_store_is_on() -> None:
    on, off = make_session("on"), make_session("off", config={})
    history = history_batch()

    services.record_events([
        (on.uid, EventArrived("message.any", incoming(key="LIVE", timestamp=1_800_000_000))),
        (off.uid, EventArrived("message.any", incoming(key="LIVE"))),
        (on.uid, HistoryArrived(history)),
        (off.uid, HistoryArrived(history)),
        ("gone", EventArrived("message.any", incoming(key="NOBODY"))),
    ])

    assert StoredMessage.objects.filter(session=on).count() == 4
    assert not StoredMessage.objects.filter(session=off).exists()
    # The history's older copy of the chat does not move the live message's time back.
    assert Chat.objects.get(session=on, chat_id="123@c.us").conversation_timestamp == (
        1_800_000_000)
