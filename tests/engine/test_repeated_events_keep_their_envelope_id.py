"""An event WhatsApp hands over again (a message a crashed device never acknowledged) is sent
under the envelope id it had the first time; two different events never share one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from ulid import ULID

from sessions_app import services
from sessions_app.engines.fake import FakeEngine, FakeServer
from sessions_app.models import Session
from sessions_app.slots import EventArrived
from webhooks_app.models import Delivery

from ..conftest import wait_for

EVERYTHING = {"webhooks": [{"url": "http://127.0.0.1:9/hook", "events": ["*"]}]}
WAHA_ID = re.compile(r"^evt_[0-7][0-9a-hjkmnp-tv-z]{25}$")  # a lowercase ULID
SENT_AT = 1767225600  # 2026-01-01T00:00:00Z


def message(n: int = 1, **fields: Any) -> dict[str, Any]:
    return {"id": f"false_111@c.us_M{n}", "timestamp": SENT_AT, "from": "111@c.us",
            "fromMe": False, "body": f"message {n}", "ack": 2, "ackName": "DEVICE", **fields}


def ack(n: int, value: int, participant: str | None = None) -> dict[str, Any]:
    return {"id": f"true_123@g.us_M{n}", "from": "999@c.us", "fromMe": True,
            "participant": participant, "to": "123@g.us", "ack": value,
            "timestamp": SENT_AT + 5}


def session(name: str) -> Session:
    return services.create_session(name, EVERYTHING, start=False)


def keep(*events: tuple[Session, str, dict[str, Any]]) -> list[str]:
    """Keep the events as the engine's batcher does, each in its own batch; their envelope ids,
    from the delivery rows written for them."""
    ids = []
    for one, name, payload in events:
        services.record_events([(one.uid, EventArrived(name, payload))])
        ids.append(Delivery.objects.filter(session_name=one.name, event=name)
                   .latest("id").event_id)
    return ids


@pytest.mark.django_db
@pytest.mark.parametrize(("event", "payload"), [
    ("message", message()),
    ("message.any", message()),
    ("message.ack", ack(1, 3, participant="222@c.us")),
    ("message.reaction", message(reaction={"text": "+1", "messageId": "false_111@c.us_M0"})),
    ("message.revoked", message(revokedMessageId="M0", after=None, before=None)),
    ("message.edited", message(editedMessageId="M0")),
    ("call.received", {"id": "CALL1", "from": "111@c.us", "timestamp": SENT_AT,
                       "isVideo": False, "isGroup": False}),
])
def test_the_same_event_kept_twice_has_one_envelope_id(event, payload):
    alpha = session("alpha")

    first, again = keep((alpha, event, payload), (alpha, event, dict(payload)))

    assert first == again
    assert WAHA_ID.match(first)


@pytest.mark.django_db
def test_different_events_never_share_an_envelope_id():
    alpha, beta = session("alpha"), session("beta")

    ids = keep(
        (alpha, "message", message(1)),
        (alpha, "message", message(2)),
        (alpha, "message.any", message(1)),  # the same message, another event
        (beta, "message", message(1)),  # the same message, another session
        (alpha, "message.ack", ack(1, 2)),
        (alpha, "message.ack", ack(1, 3)),  # another ack of the same message
        (alpha, "message.ack", ack(1, 3, participant="222@c.us")),  # from a group member
        (alpha, "message.ack", ack(1, 3, participant="333@c.us")),  # from another member
        (alpha, "message.ack", ack(2, 3, participant="333@c.us")),  # of another message
        (alpha, "message.edited", message(3, body="first edit")),
        (alpha, "message.edited", message(3, body="second edit")),
    )

    assert len(set(ids)) == len(ids)


@pytest.mark.django_db
def test_a_stable_envelope_id_is_a_ulid_of_the_events_own_time():
    alpha = session("alpha")

    [kept] = keep((alpha, "message", message()))

    assert ULID.from_str(kept.removeprefix("evt_").upper()).datetime == datetime(2026, 1, 1,
                                                                                  tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize(("event", "payload"), [
    ("presence.update", {"id": "111@c.us", "presences": []}),  # nothing WhatsApp hands again
    ("message", message(timestamp=None)),  # no time of its own to build the id on
    ("message", message(id="")),
])
def test_other_events_get_a_new_envelope_id_each_time(event, payload):
    alpha = session("alpha")

    first, again = keep((alpha, event, payload), (alpha, event, dict(payload)))

    assert first != again
    assert WAHA_ID.match(first) and WAHA_ID.match(again)


# --- through the fake engine, as after a crash ---------------------------------------------------


def _kept(name: str) -> list[tuple[str, str]]:
    return [(json.loads(body)["payload"]["id"], event_id) for body, event_id in Delivery.objects
            .filter(session_name=name, event="message").order_by("id")
            .values_list("body", "event_id")]


async def test_a_message_handed_over_again_after_a_lost_acknowledgement_keeps_its_envelope_id(
    api, served, monkeypatch
):
    server, fake, _ = served
    acknowledge = FakeServer.acknowledge
    lost: list[Path] = []

    def lost_once(path: Path) -> None:
        """The first acknowledgement never reaches the server (the device crashed after
        keeping the message), which hands the message over again."""
        if not lost:
            lost.append(path)
            return
        acknowledge(path)

    monkeypatch.setattr(FakeServer, "acknowledge", staticmethod(lost_once))
    await database_sync_to_async(services.create_session)("inboxed", EVERYTHING, start=True)
    await wait_for(lambda: _working(fake, "inboxed"), message="the session paired")
    server.deliver("inboxed", 1, {"id": "AGAIN1", "from": "111@c.us", "body": "hello"})
    server.deliver("inboxed", 2, {"id": "OTHER2", "from": "111@c.us", "body": "hello again"})
    await wait_for(lambda: _inbox_empty(server, "inboxed"), message="the inbox emptied")

    kept = await database_sync_to_async(_kept)("inboxed")
    again = [event_id for message_id, event_id in kept if message_id == "false_111@c.us_AGAIN1"]
    other = [event_id for message_id, event_id in kept if message_id == "false_111@c.us_OTHER2"]
    assert len(again) == 2  # kept twice: at least once, as promised
    assert again[0] == again[1]
    assert len(other) == 1 and other[0] != again[0]


async def _working(fake: FakeEngine, name: str) -> bool:
    client = fake.live.get(name)
    return client is not None and client.me is not None


async def _inbox_empty(server: FakeServer, name: str) -> bool:
    return not list(server.waiting(name))
