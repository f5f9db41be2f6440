"""A publication is prepared once, whatever the number of open sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from sessions_app import events, fanout, services
from sessions_app.models import Session

from ..engine.test_events_websocket import stream
from .test_consumer import connected, next_frame

pytestmark = pytest.mark.django_db(transaction=True)
PAGES = 50


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The QR values drawn into a frame, one item per drawing."""
    values: list[str] = []
    draw = fanout.qr_png

    def counting(value: str) -> bytes:
        values.append(value)
        return draw(value)

    monkeypatch.setattr(fanout, "qr_png", counting)
    fanout.qr_frame_text.cache_clear()  # drawn by an earlier test: not drawn here
    return values


@pytest.fixture
def prepared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The event names of the items built, one per publication."""
    names: list[str] = []
    build = fanout.item

    def counting(envelope: dict[str, Any], seen: fanout.Shown | None,
                 text: str | None = None) -> dict[str, Any]:
        names.append(envelope["event"])
        return build(envelope, seen, text)

    monkeypatch.setattr(fanout, "item", counting)
    return names


async def test_a_qr_frame_is_drawn_once_for_fifty_pages(drawn: list[str], prepared: list[str]):
    session = await database_sync_to_async(Session.objects.create)(
        name="alpha", should_run=True, generation=1)
    pages = [await connected("session=*") for _ in range(PAGES)]
    for page in pages:
        await next_frame(page, "status")  # the snapshot: joined
    record = database_sync_to_async(services.record_status)

    await record(session.uid, "SCAN_QR_CODE", generation=1, qr="2@fifty,0", qr_lifetime=60)
    statuses = await asyncio.gather(*(next_frame(page, "status") for page in pages))
    codes = await asyncio.gather(*(next_frame(page, "qr") for page in pages))

    assert drawn == ["2@fifty,0"]
    assert prepared == ["session.status"]
    assert {json.dumps(frame, sort_keys=True) for frame in statuses} == {
        json.dumps(statuses[0], sort_keys=True)}
    assert statuses[0]["status"] == "SCAN_QR_CODE"
    assert {frame["dataUrl"] for frame in codes} == {fanout.qr_data_url("2@fifty,0")}
    assert {frame["session"] for frame in codes} == {"alpha"}
    for page in pages:
        await page.disconnect()


async def test_a_qr_code_nobody_watches_is_never_drawn(drawn: list[str], prepared: list[str]):
    session = await database_sync_to_async(Session.objects.create)(
        name="alpha", should_run=True, generation=1)
    streams = [await stream("events=session.status") for _ in range(3)]  # /ws shows no image
    record = database_sync_to_async(services.record_status)

    await record(session.uid, "SCAN_QR_CODE", generation=1, qr="2@unseen,0", qr_lifetime=60)
    received = await asyncio.gather(*(s.receive_json_from(timeout=5) for s in streams))

    assert prepared == ["session.status"]
    assert {envelope["payload"]["status"] for envelope in received} == {"SCAN_QR_CODE"}
    assert drawn == []
    # The first dashboard page to show it draws it.
    page = await connected("session=alpha")
    await next_frame(page, "qr")
    assert drawn == ["2@unseen,0"]
    for communicator in [*streams, page]:
        await communicator.disconnect()


async def test_every_stream_gets_the_envelope_serialised_once(prepared: list[str]):
    await database_sync_to_async(Session.objects.create)(name="alpha")
    streams: list[WebsocketCommunicator] = [await stream("events=message") for _ in range(PAGES)]
    pages = [await connected("session=alpha&events=1") for _ in range(5)]
    for page in pages:
        await next_frame(page, "status")

    def publish() -> None:
        events.publish(Session.objects.get(name="alpha"), "message", {"body": "hello"})

    await database_sync_to_async(publish)()
    received = await asyncio.gather(*(s.receive_json_from(timeout=5) for s in streams))
    shown = await asyncio.gather(*(next_frame(page, "event") for page in pages))

    assert prepared == ["message"]
    assert {envelope["id"] for envelope in received} == {received[0]["id"]}
    assert received[0]["payload"] == {"body": "hello"}
    assert [frame["envelope"] for frame in shown] == [received[0]] * len(pages)
    for communicator in [*streams, *pages]:
        await communicator.disconnect()
