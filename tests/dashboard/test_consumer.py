"""/dashboard/ws: authenticated by the Django session; pushes status, QR images and events."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client

from sessions_app import events, services
from sessions_app.engines.fake import FakeEngine
from sessions_app.models import Session, SessionGrant

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def session_cookie() -> bytes:
    user = User.objects.create_superuser(f"operator{User.objects.count()}",
                                         password="irrelevant-password-1")
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_dashboard(query: str = "", cookie: bytes | None = None,
                         origin: bytes | None = None) -> WebsocketCommunicator:
    from waha_project.asgi import application

    headers = [(b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    if origin:
        headers.append((b"origin", origin))
    return WebsocketCommunicator(application, f"/dashboard/ws?{query}", headers=headers)


async def connected(query: str = "") -> WebsocketCommunicator:
    communicator = await open_dashboard(query, await session_cookie())
    ok, detail = await communicator.connect()
    assert ok, detail
    return communicator


async def next_frame(communicator: WebsocketCommunicator, kind: str | None = None,
                     timeout: float = 5.0) -> dict[str, Any]:
    """The next frame (of that type), skipping others."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await communicator.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if kind is None or frame["type"] == kind:
            return frame


async def test_anonymous_visitors_are_refused_with_4401():
    communicator = await open_dashboard("session=*")
    connected_, _ = await communicator.connect()
    assert connected_  # accepted only to say why
    closed = await communicator.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_a_page_of_another_site_is_refused_even_with_the_cookie():
    communicator = await open_dashboard("session=*", await session_cookie(),
                                        origin=b"http://evil.example")
    connected_, code = await communicator.connect()
    assert (connected_, code) == (False, 1008)


async def test_the_same_origin_is_accepted():
    communicator = await open_dashboard("session=*", await session_cookie(),
                                        origin=b"http://testserver")
    connected_, _ = await communicator.connect()
    assert connected_
    await communicator.disconnect()


async def test_a_session_name_no_session_can_have_is_refused():
    communicator = await open_dashboard("session=bad%20name", await session_cookie())
    connected_, code = await communicator.connect()
    assert (connected_, code) == (False, 1008)


async def test_a_new_page_gets_the_current_state_first():
    await database_sync_to_async(Session.objects.create)(
        name="alpha", should_run=True, generation=1, applied_generation=1, status="WORKING",
        me={"id": "42@c.us", "pushName": "Ada"})
    communicator = await connected("session=*")
    frame = await next_frame(communicator)
    assert frame["type"] == "status"
    assert (frame["session"], frame["status"], frame["me"]["pushName"]) == ("alpha", "WORKING",
                                                                            "Ada")
    await communicator.disconnect()


async def test_status_transitions_are_pushed_as_they_are_recorded():
    session = await database_sync_to_async(Session.objects.create)(
        name="alpha", should_run=True, generation=1)
    communicator = await connected("session=alpha")
    snapshot = await next_frame(communicator, "status")
    assert snapshot["status"] == "STARTING"

    record = database_sync_to_async(services.record_status)
    await record(session.uid, "STARTING", generation=1)
    await record(session.uid, "FAILED", reason="Could not reach WhatsApp")

    starting = await next_frame(communicator, "status")
    failed = await next_frame(communicator, "status")
    assert starting["status"] == "STARTING"
    assert failed["status"] == "FAILED"
    assert failed["lastError"] == "Could not reach WhatsApp"
    assert [s["status"] for s in failed["statuses"]] == ["STARTING", "FAILED"]
    assert failed["changedAt"] == failed["statuses"][-1]["timestamp"]
    assert await communicator.receive_nothing(0.2)  # no event frames unless asked
    await communicator.disconnect()


async def test_each_new_qr_code_is_pushed_as_an_image_with_its_expiry():
    session = await database_sync_to_async(Session.objects.create)(
        name="alpha", should_run=True, generation=1)
    communicator = await connected("session=alpha")
    await next_frame(communicator, "status")
    record = database_sync_to_async(services.record_status)

    await record(session.uid, "SCAN_QR_CODE", generation=1, qr="2@first,0", qr_lifetime=60)
    first = await next_frame(communicator, "qr")
    await record(session.uid, "SCAN_QR_CODE", generation=1, qr="2@second,1", qr_lifetime=20)
    second = await next_frame(communicator, "qr")

    for frame in (first, second):
        assert frame["session"] == "alpha"
        assert frame["dataUrl"].startswith("data:image/png;base64,")
        png = base64.b64decode(frame["dataUrl"].split(",", 1)[1])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert isinstance(frame["expiresAt"], int)
    assert first["dataUrl"] != second["dataUrl"]
    assert 58 < first["expiresIn"] <= 60 and 18 < second["expiresIn"] <= 20
    assert second["expiresAt"] < first["expiresAt"]
    await communicator.disconnect()


async def test_the_fake_engine_s_rotation_and_pairing_reach_the_page(runtime,
                                                                     engine: FakeEngine):
    engine.qr_first, engine.qr_next = 0.3, 5.0
    communicator = await connected("session=*")
    await database_sync_to_async(services.create_session)("live", {}, start=True)

    first = await next_frame(communicator, "qr")
    second = await next_frame(communicator, "qr")
    assert first["dataUrl"] != second["dataUrl"]
    engine.pair("live")
    while (frame := await next_frame(communicator, "status"))["status"] != "WORKING":
        pass
    assert frame["session"] == "live"
    assert frame["me"]["pushName"] == "Fake User"
    await communicator.disconnect()


async def test_the_monitor_gets_every_envelope_of_its_session_only():
    alpha, beta = [await database_sync_to_async(Session.objects.create)(name=name)
                   for name in ("alpha", "beta")]
    communicator = await connected("session=alpha&events=1")

    def publish() -> None:
        events.publish(beta, "message", {"body": "not for this page"})
        events.publish(alpha, "message", {"body": "hello"})
        events.publish(alpha, "engine.event", {"raw": 1})

    await database_sync_to_async(publish)()
    seen = [await next_frame(communicator, "event") for _ in range(2)]
    assert [frame["envelope"]["event"] for frame in seen] == ["message", "engine.event"]
    assert seen[0]["envelope"]["payload"] == {"body": "hello"}
    assert seen[0]["envelope"]["session"] == "alpha"
    assert seen[0]["envelope"]["id"].startswith("evt_")
    assert await communicator.receive_nothing(0.2)
    await communicator.disconnect()


async def test_the_monitor_gets_every_envelope_of_a_batch_in_order():
    alpha, beta = [await database_sync_to_async(Session.objects.create)(name=name)
                   for name in ("alpha", "beta")]
    communicator = await connected("session=alpha&events=1")

    def publish_batch() -> None:
        with transaction.atomic():  # as the engine keeps a batch: one message per group
            events.publish_many([(alpha, "message", {"n": 1}), (beta, "message", {"n": 2}),
                                 (alpha, "message.any", {"n": 3})])

    await database_sync_to_async(publish_batch)()
    seen = [await next_frame(communicator, "event") for _ in range(2)]
    assert [frame["envelope"]["payload"]["n"] for frame in seen] == [1, 3]
    assert await communicator.receive_nothing(0.2)
    await communicator.disconnect()


# --- a user who is not a superuser -----------------------------------------------------------
@database_sync_to_async
def scoped_cookie(**grants: dict[str, bool]) -> bytes:
    """A user granted these sessions (name: actions changed from WAHA's defaults)."""
    user = User.objects.create_user(f"agent{User.objects.count()}",
                                    password="irrelevant-password-1")
    for name, actions in grants.items():
        row = SessionGrant(user=user, session=Session.objects.get(name=name))
        row.actions = {**row.actions, **actions}
        row.save()
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def sessions(*names: str) -> list[Session]:
    return [await database_sync_to_async(Session.objects.create)(name=name) for name in names]


async def test_all_sessions_is_narrowed_to_those_the_user_may_read():
    alpha, beta, gamma = await sessions("alpha", "beta", "gamma")
    communicator = await open_dashboard("session=*&events=1",
                                        await scoped_cookie(alpha={}, gamma={"read": False}))
    ok, _ = await communicator.connect()
    assert ok
    snapshot = await next_frame(communicator, "status")
    assert snapshot["session"] == "alpha"
    assert await communicator.receive_nothing(0.2)  # no first state of beta or gamma

    def publish() -> None:
        for session in (beta, gamma, alpha):
            events.publish(session, "message", {"body": session.name})

    await database_sync_to_async(publish)()
    seen = await next_frame(communicator, "event")
    assert seen["envelope"]["session"] == "alpha"
    assert await communicator.receive_nothing(0.2)
    await communicator.disconnect()


async def test_another_session_is_refused_as_a_missing_one_is():
    await sessions("alpha", "beta")
    cookie = await scoped_cookie(alpha={})
    for asked in ("beta", "ghost"):
        communicator = await open_dashboard(f"session={asked}", cookie)
        connected_, code = await communicator.connect()
        assert (connected_, code) == (False, 1008), asked


async def test_a_granted_session_without_read_is_refused():
    await sessions("alpha")
    communicator = await open_dashboard("session=alpha",
                                        await scoped_cookie(alpha={"read": False}))
    connected_, code = await communicator.connect()
    assert (connected_, code) == (False, 1008)


async def test_a_granted_session_streams_to_its_user():
    [alpha] = await sessions("alpha")
    communicator = await open_dashboard("session=alpha&events=1",
                                        await scoped_cookie(alpha={"control": False}))
    ok, _ = await communicator.connect()
    assert ok
    assert (await next_frame(communicator, "status"))["session"] == "alpha"
    await database_sync_to_async(events.publish)(alpha, "message", {"body": "hi"})
    assert (await next_frame(communicator, "event"))["envelope"]["payload"] == {"body": "hi"}
    await communicator.disconnect()
