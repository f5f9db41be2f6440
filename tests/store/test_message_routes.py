"""Chats, messages and contacts from the store, and POST /api/sendText, through the real ASGI app
with a live engine runtime on the fake engine."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from channels.layers import get_channel_layer

from sessions_app import groups
from sessions_app.engines.fake import FakeEngine
from sessions_app.models import Chat, Contact, Session, StoredMessage

from ..conftest import wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)

STORE_ON = {"noweb": {"store": {"enabled": True}}}
PHONE = "12132132130"
ME = f"{PHONE}@c.us"


@pytest.fixture(autouse=True)
def codes_outlive_the_test(fast_qr):
    """Nothing here is about QR expiry: a slow machine must not see a session fail unscanned."""
    fast_qr.QR_FIRST_SECONDS = 30


async def working(api: httpx.AsyncClient, engine: FakeEngine, name: str = "alpha",
                  config: dict[str, Any] | None = None) -> None:
    await api.post("/api/sessions", json={"name": name,
                                          "config": STORE_ON if config is None else config})
    await wait_status(api, name, "SCAN_QR_CODE")
    engine.pair(name, PHONE)
    await wait_status(api, name, "WORKING")


async def messages_of(api: httpx.AsyncClient, chat_id: str, name: str = "alpha",
                      **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"/api/{name}/chats/{chat_id}/messages", params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


async def stored_count(name: str, count: int) -> bool:
    return await StoredMessage.objects.filter(session__name=name).acount() == count


# --- the store fills from live traffic ------------------------------------------------------------
async def test_an_incoming_message_shows_in_chats_and_in_its_messages(api, runtime, engine):
    await working(api, engine)

    engine.receive_text("alpha", "123@c.us", "hi")
    await wait_for(lambda: stored_count("alpha", 1), message="the message to be stored")

    chats = await api.get("/api/alpha/chats")
    assert chats.status_code == 200
    [chat] = chats.json()
    assert set(chat) == {"id", "name", "conversationTimestamp"}
    assert chat["id"] == "123@c.us"
    assert isinstance(chat["conversationTimestamp"], int)
    [message] = await messages_of(api, "123@c.us")
    assert message["body"] == "hi"
    assert message["from"] == "123@c.us"
    assert message["to"] == ME
    assert message["fromMe"] is False
    assert message["id"].startswith("false_123@c.us_")
    assert message["timestamp"] == chat["conversationTimestamp"]


async def test_chats_are_sorted_by_their_latest_message(api, runtime, engine):
    await working(api, engine)
    session = await Session.objects.aget(name="alpha")
    await Chat.objects.acreate(session=session, chat_id="old@g.us", name="Old group",
                               conversation_timestamp=1_000)
    await Chat.objects.acreate(session=session, chat_id="never@g.us", name="Quiet group")

    engine.receive_text("alpha", "123@c.us", "hi")
    await wait_for(lambda: stored_count("alpha", 1), message="the message to be stored")

    chats = (await api.get("/api/alpha/chats")).json()
    assert [chat["id"] for chat in chats] == ["123@c.us", "old@g.us", "never@g.us"]
    assert chats[1] == {"id": "old@g.us", "name": "Old group", "conversationTimestamp": 1_000}
    assert chats[2]["conversationTimestamp"] is None


async def test_contacts_all_answers_waha_contacts(api, runtime, engine):
    await working(api, engine)
    session = await Session.objects.aget(name="alpha")
    await Contact.objects.acreate(session=session, contact_id="123@c.us", push_name="Bobby",
                                  name="Bob")
    await Contact.objects.acreate(session=session, contact_id="555@c.us", push_name="Ana")

    response = await api.get("/api/alpha/contacts/all")

    assert response.status_code == 200
    assert response.json() == [
        {"id": "123@c.us", "name": "Bob", "pushname": "Bobby"},
        {"id": "555@c.us", "name": None, "pushname": "Ana"},
    ]


async def test_a_store_off_session_keeps_nothing(api, runtime, engine):
    await working(api, engine, config={})
    layer = get_channel_layer()
    channel = await layer.new_channel("test.events.")
    await layer.group_add(groups.session_group("alpha"), channel)

    engine.receive_text("alpha", "123@c.us", "hi")
    # Events publish after the transaction that would have stored them commits.
    seen = set()
    while "message.any" not in seen:
        message = await asyncio.wait_for(layer.receive(channel), 5)
        seen.update(item["event"] for item in message["items"])

    assert not await StoredMessage.objects.aexists()
    assert (await api.get("/api/alpha/chats")).json() == []
    assert (await messages_of(api, "123@c.us")) == []
    assert (await api.get("/api/alpha/contacts/all")).json() == []


async def test_a_stopped_session_still_serves_its_store(api, runtime, engine):
    await working(api, engine)
    engine.receive_text("alpha", "123@c.us", "hi")
    await wait_for(lambda: stored_count("alpha", 1), message="the message to be stored")

    await api.post("/api/sessions/alpha/stop")
    await wait_status(api, "alpha", "STOPPED")

    assert [m["body"] for m in await messages_of(api, "123@c.us")] == ["hi"]


# --- paging ---------------------------------------------------------------------------------------
async def test_messages_are_newest_first_and_paged_by_limit_and_offset(api, runtime, engine):
    await working(api, engine)
    for n in range(5):
        engine.receive_text("alpha", "123@c.us", f"m{n}")
    await wait_for(lambda: stored_count("alpha", 5), message="five messages stored")

    everything = await messages_of(api, "123@c.us")
    first = await messages_of(api, "123@c.us", limit=2)
    second = await messages_of(api, "123@c.us", limit=2, offset=2)
    last = await messages_of(api, "123@c.us", limit=2, offset=4)
    beyond = await messages_of(api, "123@c.us", offset=5)

    assert [m["body"] for m in everything] == ["m4", "m3", "m2", "m1", "m0"]
    assert [m["body"] for m in first] == ["m4", "m3"]
    assert [m["body"] for m in second] == ["m2", "m1"]
    assert [m["body"] for m in last] == ["m0"]
    assert beyond == []


async def test_messages_answer_100_unless_told_otherwise(api, runtime, engine):
    await working(api, engine)
    session = await Session.objects.aget(name="alpha")
    await StoredMessage.objects.abulk_create([
        StoredMessage(session=session, message_id=f"false_123@c.us_{n}", chat_id="123@c.us",
                      timestamp=n, payload={"id": f"false_123@c.us_{n}", "timestamp": n})
        for n in range(150)
    ])

    default = await messages_of(api, "123@c.us")
    more = await messages_of(api, "123@c.us", limit=1000)

    assert len(default) == 100
    assert default[0]["timestamp"] == 149
    assert len(more) == 150


async def test_chats_and_contacts_page_too(api, runtime, engine):
    await working(api, engine)
    session = await Session.objects.aget(name="alpha")
    for n in range(3):
        await Chat.objects.acreate(session=session, chat_id=f"{n}@c.us",
                                   conversation_timestamp=n)
        await Contact.objects.acreate(session=session, contact_id=f"{n}@c.us")

    chats = (await api.get("/api/alpha/chats", params={"limit": 1, "offset": 1})).json()
    contacts = (await api.get("/api/alpha/contacts/all", params={"offset": 2})).json()

    assert [chat["id"] for chat in chats] == ["1@c.us"]
    assert [contact["id"] for contact in contacts] == ["2@c.us"]


@pytest.mark.parametrize("path", ["/api/alpha/chats", "/api/alpha/chats/123@c.us/messages",
                                  "/api/alpha/contacts/all"])
@pytest.mark.parametrize(("params", "message"), [
    ({"limit": "0"}, "limit: must be a positive integer"),
    ({"limit": "-3"}, "limit: must be a positive integer"),
    ({"limit": "ten"}, "limit: must be a positive integer"),
    ({"limit": "1001"}, "limit: must be at most 1000"),
    ({"offset": "-1"}, "offset: must be a whole number, 0 or more"),
    ({"offset": "x"}, "offset: must be a whole number, 0 or more"),
    ({"offset": "1000000001"}, "offset: must be at most 1000000000"),
    ({"offset": "67282820715243975927231911901003776"}, "offset: must be at most 1000000000"),
])
async def test_a_bad_limit_or_offset_answers_400_naming_it(api, path, params, message):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.get(path, params=params)

    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": [message], "error": "Bad Request"}


async def test_a_chat_id_that_cannot_be_one_answers_400(api):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.get(f"/api/alpha/chats/{'1' * 200}@c.us/messages")

    assert response.status_code == 400
    assert response.json()["message"] == ["chatId: is not a chat id, e.g. 123@c.us"]


@pytest.mark.parametrize("path", ["/api/ghost/chats", "/api/ghost/chats/123@c.us/messages",
                                  "/api/ghost/contacts/all"])
async def test_the_store_of_an_unknown_session_answers_404(api, path):
    response = await api.get(path)

    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "message": "Session not found",
                               "error": "Not Found"}


# --- POST /api/sendText ---------------------------------------------------------------------------
async def test_send_text_answers_201_with_the_sent_message_and_keeps_it(api, runtime, engine):
    await working(api, engine)

    response = await api.post("/api/sendText",
                              json={"session": "alpha", "chatId": "123@c.us", "text": "hello"})

    assert response.status_code == 201
    sent = response.json()
    assert sent["id"].startswith("true_123@c.us_")
    assert (sent["from"], sent["to"], sent["fromMe"], sent["body"]) == (
        ME, "123@c.us", True, "hello"
    )
    assert (sent["ack"], sent["ackName"], sent["source"]) == (1, "SERVER", "api")
    # Readable at once: the answer does not wait on the engine's message.any.
    assert await messages_of(api, "123@c.us") == [sent]
    assert [chat["id"] for chat in (await api.get("/api/alpha/chats")).json()] == ["123@c.us"]


async def test_a_sent_message_is_stored_once(api, runtime, engine):
    await working(api, engine)
    await api.post("/api/sendText", json={"session": "alpha", "chatId": "123@c.us",
                                          "text": "hello"})
    engine.receive_text("alpha", "123@c.us", "sync point")

    await wait_for(lambda: stored_count("alpha", 2), message="the reply to be stored")

    assert [m["body"] for m in await messages_of(api, "123@c.us")] == ["sync point", "hello"]


async def test_send_text_passes_reply_to_and_waha_extras(api, runtime, engine):
    await working(api, engine)

    response = await api.post("/api/sendText", json={
        "session": "alpha", "chatId": "120363001-1500000000@g.us", "text": "yes",
        "reply_to": "false_120363001-1500000000@g.us_ABC", "linkPreview": True,
        "mentions": None,
    })

    assert response.status_code == 201
    assert response.json()["replyTo"] == {"id": "false_120363001-1500000000@g.us_ABC",
                                          "participant": None, "body": None}
    assert response.json()["to"] == "120363001-1500000000@g.us"


async def test_send_text_without_a_session_uses_the_default_one(api, runtime, engine):
    await working(api, engine, name="default")

    response = await api.post("/api/sendText", json={"chatId": "123@c.us", "text": "hi",
                                                     "session": None, "reply_to": None})

    assert response.status_code == 201
    assert [m["body"] for m in await messages_of(api, "123@c.us", name="default")] == ["hi"]


async def test_send_text_through_a_session_scanning_its_qr_answers_422(api, runtime):
    await api.post("/api/sessions", json={"name": "alpha", "config": STORE_ON})
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    response = await api.post("/api/sendText",
                              json={"session": "alpha", "chatId": "123@c.us", "text": "hi"})

    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "message": "Session status is not as expected. The current status is SCAN_QR_CODE, "
                   "expected WORKING",
        "error": "Unprocessable Entity",
    }
    assert not await StoredMessage.objects.aexists()


async def test_send_text_through_a_stopped_session_answers_422(api):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.post("/api/sendText",
                              json={"session": "alpha", "chatId": "123@c.us", "text": "hi"})

    assert response.status_code == 422
    assert "The current status is STOPPED, expected WORKING" in response.json()["message"]


async def test_send_text_through_an_unknown_session_answers_404(api):
    response = await api.post("/api/sendText",
                              json={"session": "ghost", "chatId": "123@c.us", "text": "hi"})

    assert response.status_code == 404
    assert response.json()["message"] == "Session not found"


async def test_send_text_with_no_engine_running_the_session_answers_503(api, settings):
    """WORKING in the table, but its engine is gone (a lease that lapsed)."""
    await api.post("/api/sessions", json={"name": "alpha", "start": False})
    await Session.objects.filter(name="alpha").aupdate(should_run=True, status="WORKING")

    response = await api.post("/api/sendText",
                              json={"session": "alpha", "chatId": "123@c.us", "text": "hi"})

    assert response.status_code == 503
    assert response.json()["statusCode"] == 503


CHAT_ID_ERROR = "chatId: must be a chat id: <digits>@c.us, <id>@g.us, <id>@newsletter or <id>@lid"


@pytest.mark.parametrize(("body", "message"), [
    ({"chatId": "123", "text": "hi"}, CHAT_ID_ERROR),
    ({"chatId": "abc@c.us", "text": "hi"}, CHAT_ID_ERROR),
    ({"chatId": "123@s.whatsapp.net", "text": "hi"}, CHAT_ID_ERROR),
    ({"chatId": "@g.us", "text": "hi"}, CHAT_ID_ERROR),
    ({"chatId": "123@c.us ", "text": "hi"}, CHAT_ID_ERROR),
    ({"chatId": 123, "text": "hi"}, "chatId: must be a string"),
    ({"text": "hi"}, "chatId: This field is required."),
    ({"chatId": "123@c.us", "text": ""}, "text: must not be empty"),
    ({"chatId": "123@c.us", "text": 5}, "text: must be a string"),
    ({"chatId": "123@c.us", "text": None}, "text: This field may not be null."),
    ({"chatId": "123@c.us"}, "text: This field is required."),
    ({"chatId": "123@c.us", "text": "x" * 65537},
     "text: Ensure this field has no more than 65536 characters."),
    ({"chatId": "123@c.us", "text": "hi", "reply_to": 7}, "reply_to: must be a string"),
    ({"chatId": "123@c.us", "text": "hi", "session": 7}, "session: must be a string"),
])
async def test_a_bad_send_text_body_answers_400_naming_the_field(api, body, message):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    response = await api.post("/api/sendText", json={"session": "alpha", **body})

    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": [message], "error": "Bad Request"}


@pytest.mark.parametrize("chat_id", ["123@c.us", "120363001-1500000000@g.us",
                                     "120363025246125888@newsletter", "98765432109876@lid"])
async def test_every_chat_id_form_is_accepted(api, runtime, engine, chat_id):
    await working(api, engine)

    response = await api.post("/api/sendText",
                              json={"session": "alpha", "chatId": chat_id, "text": "hi"})

    assert response.status_code == 201
    assert response.json()["to"] == chat_id
