"""The fake engine's shared server: one connection per session, and an inbox acknowledged only
after the runtime kept each message."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

from channels.db import database_sync_to_async

from sessions_app import services
from sessions_app.engines.fake import FakeEngine, FakeServer
from webhooks_app.models import Delivery

from ..conftest import wait_for

HOOKED = {"webhooks": [{"url": "http://127.0.0.1:9/hook", "events": ["message"]}]}


def test_a_second_live_connection_of_a_session_is_recorded_as_a_conflict(tmp_path: Path):
    server = FakeServer(tmp_path)
    first = server.connect("alpha", "engine-a")
    second = server.connect("alpha", "engine-b")
    other = server.connect("beta", "engine-b")

    conflicts = (tmp_path / FakeServer.CONFLICTS).read_text().splitlines()
    assert len(conflicts) == 1
    assert conflicts[0].startswith("alpha engine-b ") and " engine-a " in conflicts[0]
    assert server.lock_path("alpha").read_text().startswith("engine-a ")
    for handle in (first, second, other):
        FakeServer.disconnect(handle)


def test_a_connection_dropped_frees_the_session_for_the_next_client(tmp_path: Path):
    server = FakeServer(tmp_path)
    FakeServer.disconnect(server.connect("alpha", "engine-a"))
    again = server.connect("alpha", "engine-b")

    assert not (tmp_path / FakeServer.CONFLICTS).exists()
    assert server.lock_path("alpha").read_text().startswith("engine-b ")
    FakeServer.disconnect(again)


def test_messages_wait_in_order_until_taken(tmp_path: Path):
    server = FakeServer(tmp_path)
    for n in (3, 1, 2):
        server.deliver("alpha", n, {"id": f"M{n}", "from": "1@c.us", "body": str(n)})

    waiting = list(server.waiting("alpha"))

    assert [json.loads(path.read_text())["id"] for path in waiting] == ["M1", "M2", "M3"]
    assert list(server.waiting("nobody")) == []


async def _working(fake: FakeEngine, name: str) -> bool:
    client = fake.live.get(name)
    return client is not None and client.me is not None


def _message_ids(name: str) -> list[str]:
    return [json.loads(body)["payload"]["id"] for body in Delivery.objects
            .filter(session_name=name, event="message").order_by("id")
            .values_list("body", flat=True)]


async def test_a_message_leaves_the_inbox_only_once_its_event_is_kept(api, served, monkeypatch):
    server, fake, _runtime = served
    await database_sync_to_async(services.create_session)("inboxed", HOOKED, start=True)
    await wait_for(lambda: _working(fake, "inboxed"), message="the session paired")
    assert server.lock_path("inboxed").read_text().startswith("engine-a ")
    release = threading.Event()
    real = services.record_events

    def slow(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "record_events", slow)
    server.deliver("inboxed", 1, {"id": "INBOX1", "from": "1@c.us", "body": "hello"})
    await asyncio.sleep(0.5)

    assert len(list(server.waiting("inboxed"))) == 1  # not acknowledged while being kept
    assert await database_sync_to_async(_message_ids)("inboxed") == []
    release.set()
    await wait_for(lambda: _inbox_empty(server, "inboxed"), message="the inbox emptied")
    assert await database_sync_to_async(_message_ids)("inboxed") == ["false_1@c.us_INBOX1"]


async def _inbox_empty(server: FakeServer, name: str) -> bool:
    return not list(server.waiting(name))


async def test_a_message_without_a_time_of_its_own_has_the_time_it_came_to_the_server(
    api, served
):
    server, _fake, _runtime = served
    server.deliver("stamped", 1, {"id": "OLD1", "from": "1@c.us", "body": "sent a while ago"})
    os.utime(next(server.waiting("stamped")), (1767225600, 1767225600))
    await database_sync_to_async(services.create_session)("stamped", HOOKED, start=True)
    await wait_for(lambda: _inbox_empty(server, "stamped"), message="the inbox emptied")

    timestamps = await database_sync_to_async(_timestamps)("stamped")
    assert timestamps == [1767225600]


def _timestamps(name: str) -> list[int]:
    return [json.loads(body)["payload"]["timestamp"] for body in Delivery.objects
            .filter(session_name=name, event="message").values_list("body", flat=True)]
