"""session.status events: once per transition, in order, in WAHA's envelope; and the /ws stream."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from sessions_app import events, groups, services
from sessions_app.engines.fake import FakeEngine
from sessions_app.models import Session
from sessions_app.slots import EventArrived

from ..conftest import API_KEY, wait_status
from .conftest import create_row

EVENT_ID = re.compile(r"^evt_[0-9a-hjkmnp-tv-z]{26}$")
METADATA = {"user.id": "123", "team": "support"}


async def subscribe(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel("test.events.")
    await layer.group_add(group, channel)
    return channel


async def next_envelope(channel: str, timeout: float = 5.0) -> dict[str, Any]:
    message = await asyncio.wait_for(get_channel_layer().receive(channel), timeout)
    assert message["type"] == groups.EVENT_MESSAGE
    [item] = message["items"]
    return json.loads(item["text"])


async def assert_silent(channel: str, wait: float = 0.4) -> None:
    try:
        extra = await asyncio.wait_for(get_channel_layer().receive(channel), wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected extra event: {extra}")


def status_of(envelope: dict[str, Any]) -> str:
    return envelope["payload"]["status"]


@pytest.mark.django_db(transaction=True)
async def test_each_status_transition_is_published_once_in_order_to_both_groups(
    api, runtime, engine: FakeEngine
):
    engine.qr_first, engine.qr_next = 0.2, 5.0  # one quick rotation, then time to pair
    own = await subscribe(groups.session_group("watched"))
    everyone = await subscribe(groups.ALL_SESSIONS_GROUP)

    await api.post("/api/sessions", json={"name": "watched", "config": {"metadata": METADATA}})
    seen = [await next_envelope(own) for _ in range(3)]
    assert [status_of(e) for e in seen] == ["STARTING", "SCAN_QR_CODE", "SCAN_QR_CODE"]
    engine.pair("watched")
    seen.append(await next_envelope(own))
    assert status_of(seen[-1]) == "WORKING"
    await api.post("/api/sessions/watched/start")  # already running: no transition
    await api.post("/api/sessions/watched/stop")
    seen.append(await next_envelope(own))
    assert status_of(seen[-1]) == "STOPPED"
    await assert_silent(own)

    broadcast = [await next_envelope(everyone) for _ in seen]
    await assert_silent(everyone, wait=0.05)
    assert [e["id"] for e in broadcast] == [e["id"] for e in seen]
    assert len({e["id"] for e in seen}) == len(seen)


@pytest.mark.django_db(transaction=True)
async def test_the_status_envelope_has_the_waha_shape(api, runtime, engine: FakeEngine):
    own = await subscribe(groups.session_group("shaped"))
    started_ms = int(time.time() * 1000)

    await api.post("/api/sessions", json={"name": "shaped", "config": {"metadata": METADATA}})
    starting = await next_envelope(own)
    scanning = await next_envelope(own)
    engine.pair("shaped")
    working = await next_envelope(own)

    assert set(working) == {"id", "timestamp", "event", "session", "metadata", "me", "engine",
                            "environment", "payload"}
    for envelope in (starting, scanning, working):
        assert EVENT_ID.match(envelope["id"]), envelope["id"]
        assert started_ms <= envelope["timestamp"] <= int(time.time() * 1000)
        assert envelope["event"] == "session.status"
        assert envelope["session"] == "shaped"
        assert envelope["metadata"] == METADATA
        assert envelope["engine"] == "GOWS"
        assert envelope["environment"] == {"version": envelope["environment"]["version"],
                                           "engine": "GOWS", "tier": "CORE", "browser": None,
                                           "platform": "linux/x64"}
        assert isinstance(envelope["environment"]["version"], str)
        assert set(envelope["payload"]) == {"name", "status", "statuses", "data"}
        assert envelope["payload"]["name"] == "shaped"
        assert envelope["payload"]["data"] is None
    assert starting["timestamp"] <= scanning["timestamp"] <= working["timestamp"]
    assert starting["me"] is None
    me = (await wait_status(api, "shaped", "WORKING"))["me"]
    assert working["me"] == me

    statuses = working["payload"]["statuses"]
    assert [s["status"] for s in statuses] == ["STARTING", "SCAN_QR_CODE", "WORKING"]
    stamps = [s["timestamp"] for s in statuses]
    assert all(isinstance(stamp, int) for stamp in stamps)
    assert stamps == sorted(stamps)
    assert starting["payload"]["statuses"][-1]["status"] == "STARTING"
    assert scanning["payload"]["statuses"][-1]["status"] == "SCAN_QR_CODE"


# --- /ws ------------------------------------------------------------------------------------------
async def open_ws(query: str, headers: list[tuple[bytes, bytes]] | None = None
                  ) -> tuple[WebsocketCommunicator, bool, Any]:
    from waha_project.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws?{query}", headers=headers)
    connected, detail = await communicator.connect()
    return communicator, connected, detail


async def stream(query: str) -> WebsocketCommunicator:
    communicator, connected, detail = await open_ws(f"x-api-key={API_KEY}&{query}")
    assert connected, detail
    return communicator


async def publish(name: str, event: str) -> None:
    def _publish() -> None:
        events.publish(Session.objects.get(name=name), event, {"marker": f"{name}/{event}"})

    await database_sync_to_async(_publish)()


async def frames(communicator: WebsocketCommunicator) -> list[str]:
    """Everything the stream sent, as "session/event" markers, until it goes quiet."""
    markers = []
    while not await communicator.receive_nothing(timeout=0.2):
        envelope = await communicator.receive_json_from()
        markers.append(envelope["payload"]["marker"])
    await communicator.disconnect()
    return markers


@pytest.fixture
async def rows(transactional_db: None) -> None:
    await create_row("a", config={"metadata": METADATA})
    await create_row("b")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("query", ["", "x-api-key=wrong-key-000000"])
async def test_ws_closes_with_4401_before_any_frame_without_the_right_key(rows, query):
    communicator, connected, _ = await open_ws(query)
    await publish("a", "message")
    assert connected
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4401,
                                                   "reason": "Unauthorized"}
    assert await communicator.receive_nothing()


@pytest.mark.django_db(transaction=True)
async def test_ws_accepts_the_key_in_the_header_too(rows):
    communicator, connected, _ = await open_ws("", headers=[(b"x-api-key", API_KEY.encode())])
    assert connected
    await publish("a", "message")
    assert await frames(communicator) == ["a/message"]


@pytest.mark.django_db(transaction=True)
async def test_ws_streams_every_session_by_default(rows):
    communicator = await stream("")
    await publish("a", "message")
    await publish("b", "message")
    assert await frames(communicator) == ["a/message", "b/message"]


@pytest.mark.django_db(transaction=True)
async def test_ws_filters_by_session(rows):
    communicator = await stream("session=b")
    await publish("a", "message")
    await publish("b", "message")
    await publish("a", "session.status")
    assert await frames(communicator) == ["b/message"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("query", ["events=message,session.status",
                                   "events=message&events=session.status",
                                   "events=message, session.status"])
async def test_ws_filters_by_event_names(rows, query):
    communicator = await stream(query)
    for event in ("message.ack", "message", "engine.event", "session.status", "message.any"):
        await publish("a", event)
    assert await frames(communicator) == ["a/message", "a/session.status"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("query", ["", "events=*", "session=*&events=*"])
async def test_ws_star_means_every_event_but_engine_event(rows, query):
    communicator = await stream(query)
    for event in ("engine.event", "message", "call.received"):
        await publish("a", event)
    assert await frames(communicator) == ["a/message", "a/call.received"]


@pytest.mark.django_db(transaction=True)
async def test_ws_sends_engine_event_when_asked_for_by_name(rows):
    communicator = await stream("events=*,engine.event")
    for event in ("engine.event", "message"):
        await publish("a", event)
    assert await frames(communicator) == ["a/engine.event", "a/message"]


@pytest.mark.django_db(transaction=True)
async def test_ws_streams_the_status_of_a_session_the_engine_runs(api, runtime):
    communicator = await stream("session=live&events=session.status")
    await api.post("/api/sessions", json={"name": "live", "config": {"metadata": METADATA}})
    starting = await communicator.receive_json_from(timeout=5)
    scanning = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert [starting["payload"]["status"], scanning["payload"]["status"]] == [
        "STARTING", "SCAN_QR_CODE"
    ]
    assert scanning["metadata"] == METADATA
    assert EVENT_ID.match(scanning["id"])


async def publish_batch(published: list[tuple[str, str]]) -> None:
    """Events of several sessions kept in one batch, as the engine's batcher keeps them."""
    def _record() -> None:
        uids = dict(Session.objects.values_list("name", "uid"))
        services.record_events([(uids[name], EventArrived(event, {"marker": f"{name}/{event}"}))
                                for name, event in published])

    await database_sync_to_async(_record)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("query", "expected"), [
    ("", ["a/message", "b/message", "a/message.any"]),
    ("session=a&events=message.any", ["a/message.any"]),
])
async def test_ws_streams_each_event_of_a_batch_as_its_own_frame_in_order(rows, query,
                                                                           expected):
    communicator = await stream(query)
    await publish_batch([("a", "message"), ("b", "message"), ("a", "message.any")])
    assert await frames(communicator) == expected
