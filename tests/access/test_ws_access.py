"""`/ws` and the API keys (API.md, API keys): a session key hears its own session's envelopes
and never another's, whatever `session=` asks; a key without `read`, switched off or deleted is
refused at the handshake; the admin hears every session."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from sessions_app import access, events
from sessions_app.models import ApiKey, Session
from waha_project.access import Action

from ..conftest import API_KEY

pytestmark = pytest.mark.django_db(transaction=True)

ALL_ACTIONS = {action.value: True for action in Action}


@pytest.fixture
async def sessions(transactional_db: None) -> None:
    def make() -> None:
        for name in ("alpha", "beta"):
            Session.objects.create_stopped(name=name, config={}, should_run=False,
                                           generation=0)

    await database_sync_to_async(make)()


async def new_key(session: str | None, *, active: bool = True,
                  **actions: bool) -> tuple[ApiKey, str]:
    return await database_sync_to_async(access.create_key)(
        is_admin=session is None, session=session, is_active=active,
        actions={**ALL_ACTIONS, **actions})


async def open_ws(query: str) -> tuple[WebsocketCommunicator, bool, object]:
    from waha_project.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws?{query}")
    connected, detail = await communicator.connect()
    return communicator, connected, detail


async def publish(*names: str) -> None:
    def _publish() -> None:
        for name in names:
            events.publish(Session.objects.get(name=name), "message", {"marker": name})

    await database_sync_to_async(_publish)()


async def heard(communicator: WebsocketCommunicator) -> list[str]:
    """The sessions of every envelope the stream sent, until it goes quiet."""
    markers = []
    while not await communicator.receive_nothing(timeout=0.2):
        envelope = await communicator.receive_json_from()
        assert envelope["session"] == envelope["payload"]["marker"]
        markers.append(envelope["session"])
    await communicator.disconnect()
    return markers


@pytest.mark.parametrize("asked", ["", "session=*", "session=alpha", "session=beta",
                                   "session=nobody"])
async def test_a_session_key_hears_its_own_session_whatever_it_asks(sessions, asked):
    _, key = await new_key("alpha")

    communicator, connected, detail = await open_ws(f"x-api-key={key}&{asked}")
    assert connected, detail
    await publish("beta", "alpha", "beta", "alpha")

    assert await heard(communicator) == ["alpha", "alpha"]


@pytest.mark.parametrize("key_of", ["env", "stored"])
async def test_the_admin_hears_every_session(sessions, key_of):
    key = API_KEY if key_of == "env" else (await new_key(None))[1]

    communicator, connected, detail = await open_ws(f"x-api-key={key}")
    assert connected, detail
    await publish("beta", "alpha")

    assert await heard(communicator) == ["beta", "alpha"]


async def test_the_admin_asking_for_one_session_hears_that_one(sessions):
    communicator, connected, detail = await open_ws(f"x-api-key={API_KEY}&session=beta")
    assert connected, detail
    await publish("beta", "alpha")

    assert await heard(communicator) == ["beta"]


async def test_a_key_without_read_is_refused_at_the_handshake(sessions):
    _, key = await new_key("alpha", read=False)

    _, connected, code = await open_ws(f"x-api-key={key}&session=alpha")

    assert (connected, code) == (False, 1008)


async def test_a_switched_off_key_is_refused_at_the_handshake(sessions):
    _, key = await new_key("alpha", active=False)

    _, connected, code = await open_ws(f"x-api-key={key}")

    assert (connected, code) == (False, 1008)


async def test_a_deleted_key_is_refused_at_the_handshake(sessions):
    row, key = await new_key("alpha")
    await database_sync_to_async(row.delete)()

    _, connected, code = await open_ws(f"x-api-key={key}")

    assert (connected, code) == (False, 1008)


@pytest.mark.parametrize("change", ["switched off", "read taken away", "deleted",
                                    "its session deleted"])
async def test_an_open_stream_ends_when_its_key_changes_or_goes(sessions, api, change):
    row, key = await new_key("alpha")
    communicator, connected, detail = await open_ws(f"x-api-key={key}")
    assert connected, detail
    body = {"isAdmin": False, "session": "alpha", "isActive": True}

    if change == "switched off":
        changed = await api.put(f"/api/keys/{row.id}", json={**body, "isActive": False})
    elif change == "read taken away":
        changed = await api.put(f"/api/keys/{row.id}", json={**body, "actions": {"read": False}})
    elif change == "deleted":
        changed = await api.delete(f"/api/keys/{row.id}")
    else:
        changed = await api.delete("/api/sessions/alpha")
        await api.post("/api/sessions", json={"name": "alpha", "start": False})
    assert changed.status_code == 200, changed.text

    closed = await communicator.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 1008}
    await publish("alpha")
    assert await communicator.receive_nothing(timeout=0.2)


async def test_a_stream_outlives_a_change_of_another_key(sessions, api):
    _, key = await new_key("alpha")
    other, _ = await new_key("beta")
    communicator, connected, detail = await open_ws(f"x-api-key={key}")
    assert connected, detail

    assert (await api.delete(f"/api/keys/{other.id}")).status_code == 200
    await publish("alpha")

    assert await heard(communicator) == ["alpha"]
