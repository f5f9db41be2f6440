"""The neonize client's handlers, fed real neonize objects through neonize's own decode path."""

from __future__ import annotations

import asyncio
import ctypes
import json
import time
from typing import Any

import pytest
import time_machine
from channels.layers import get_channel_layer
from neonize.client import NewClient
from neonize.events import (
    EVENT_TO_INT,
    ConnectedEv,
    DisconnectedEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    StreamReplacedEv,
)
from neonize.proto.Neonize_pb2 import (
    ConnectFailureReason,
    Device,
    MessageInfo,
    MessageSource,
    PairStatus,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.jid import build_jid

from sessions_app import groups
from sessions_app.engines.base import EngineError, SessionSpec
from sessions_app.engines.neonize_engine import (
    QR_EXPIRED,
    NeonizeClient,
    NeonizeEngine,
    pairing_client_type,
)
from sessions_app.models import Session
from sessions_app.runtime import EngineRuntime
from sessions_app.slots import Slot, SlotCallbacks

from ..conftest import wait_for
from .conftest import Recorder

ME = build_jid("15550001111")
ME.Device = 7


def make_client(engine: NeonizeEngine, callbacks: Any, config: dict[str, Any] | None = None,
                name: str = "handlers") -> tuple[NeonizeClient, NewClient]:
    client = NeonizeClient(engine, SessionSpec(name=name, uid=f"uid{name}", config=config or {}),
                           callbacks)
    client.loop = asyncio.get_running_loop()
    client.client = client._new_client()  # real NewClient, handlers registered, not connected
    return client, client.client


def feed(go_client: NewClient, event: Any) -> None:
    """What the Go side does: serialized bytes through neonize's ctypes event entry point."""
    data = event.SerializePartialToString()
    buffer = ctypes.create_string_buffer(data, len(data))
    go_client.event.execute(0, ctypes.addressof(buffer), len(data), EVENT_TO_INT[type(event)])


def feed_device(go_client: NewClient, push_name: str = "Alice") -> None:
    device = Device(JID=ME, PushName=push_name)
    data = device.SerializePartialToString()
    buffer = ctypes.create_string_buffer(data, len(data))
    go_client.event.execute(0, ctypes.addressof(buffer), len(data), 0)


def feed_qr(go_client: NewClient, value: bytes) -> None:
    buffer = ctypes.create_string_buffer(value)
    go_client._NewClient__onQr(0, ctypes.addressof(buffer))  # type: ignore[attr-defined]


def incoming_text(text: str, chat: str = "15552223333") -> MessageEv:
    sender = build_jid(chat)
    return MessageEv(
        Info=MessageInfo(
            MessageSource=MessageSource(Chat=sender, Sender=sender, IsFromMe=False,
                                        IsGroup=False),
            ID="3EB0C0FFEE", Timestamp=1_700_000_000_000, Pushname="Bob"),
        Message=Message(conversation=text),
    )


async def test_qr_codes_are_handed_on_and_the_deadline_fails_and_stops_the_client(
        neonize_engine, recorder):
    client, go_client = make_client(neonize_engine, recorder)
    with time_machine.travel(1_800_000_000, tick=False):
        feed_qr(go_client, b"2@first,code")
        assert recorder.calls == [("qr", "2@first,code")]
        assert client.check_deadline(time.time()) is False

    with time_machine.travel(1_800_000_000 + 50, tick=False):
        feed_qr(go_client, b"2@second,code")  # a new code moves the deadline on
        assert client.check_deadline(time.time()) is False

    with time_machine.travel(1_800_000_000 + 50 + 20 + 1, tick=False):
        assert client.check_deadline(time.time()) is False  # still within the grace

    with time_machine.travel(1_800_000_000 + 50 + 20 + 6, tick=False):
        assert client.check_deadline(time.time()) is True

    assert recorder.calls[-1] == ("failed", QR_EXPIRED)
    assert client.stopping
    await wait_for(lambda: _done(client), 5, "the client to be stopped")


async def test_connected_after_pairing_reports_working_with_me(neonize_engine, recorder):
    client, go_client = make_client(neonize_engine, recorder)
    feed_qr(go_client, b"2@code")

    feed(go_client, PairStatusEv(ID=ME, Status=PairStatus.SUCCESS, Platform="android"))
    feed_device(go_client, "Alice")
    feed(go_client, ConnectedEv())

    assert ("paired", "15550001111:7@s.whatsapp.net") in recorder.calls
    kind, me = recorder.calls[-1]
    assert kind == "working"
    assert me["id"] == "15550001111@c.us"
    assert me["pushName"] == "Alice"
    assert me["jid"].startswith("15550001111")
    assert client.check_deadline(time.time() + 3600) is False  # paired: no QR deadline left


async def test_a_logout_from_the_phone_fails_the_session_and_wipes_its_credentials(
        neonize_engine, recorder):
    client, go_client = make_client(neonize_engine, recorder)
    auth = neonize_engine.auth_dir / f"{client.spec.uid}.sqlite3"
    auth.parent.mkdir(parents=True, exist_ok=True)
    auth.write_bytes(b"credentials")

    feed(go_client, LoggedOutEv(OnConnect=False, Reason=ConnectFailureReason.LOGGED_OUT))

    kind, reason = recorder.calls[-1]
    assert kind == "failed"
    assert "Logged out" in reason
    await wait_for(lambda: _async(not auth.exists()), 5, "the credentials to be wiped")


async def test_a_replaced_stream_fails_the_session(neonize_engine, recorder):
    client, go_client = make_client(neonize_engine, recorder)

    feed(go_client, StreamReplacedEv())

    kind, reason = recorder.calls[-1]
    assert kind == "failed"
    assert "another client" in reason
    assert client.stopping


async def test_an_incoming_text_becomes_message_and_message_any(neonize_engine, recorder):
    client, go_client = make_client(neonize_engine, recorder)
    client.me_id = "15550001111@c.us"

    feed(go_client, incoming_text("hello there"))

    names = [payload[0] for kind, payload in recorder.calls if kind == "event"]
    assert names == ["message", "message.any"]
    _, payload = recorder.calls[0][1]
    assert payload["body"] == "hello there"
    assert payload["from"] == "15552223333@c.us"
    assert payload["to"] == "15550001111@c.us"
    assert payload["fromMe"] is False


async def test_ignored_chats_are_dropped_at_the_source(neonize_engine, recorder):
    _, go_client = make_client(neonize_engine, recorder, {"ignore": {"status": True}})
    status = build_jid("status", "broadcast")
    sender = build_jid("15552223333")
    event = MessageEv(
        Info=MessageInfo(MessageSource=MessageSource(Chat=status, Sender=sender, IsFromMe=False,
                                                     IsGroup=False),
                         ID="3EB0STATUS", Timestamp=1_700_000_000_000),
        Message=Message(conversation="my story"),
    )

    feed(go_client, event)

    assert recorder.calls == []


@pytest.mark.django_db(transaction=True)
async def test_handlers_reach_subscribers_as_envelopes_through_the_runtime(neonize_engine):
    """The whole path: Go decode → handler → runtime slot → database → channel-layer group."""
    session = await Session.objects.acreate(name="wired", config={"metadata": {"crm": "7"}},
                                            should_run=True, generation=1, owner="wired-test")
    layer = get_channel_layer()
    inbox = await layer.new_channel()
    await layer.group_add(groups.session_group("wired"), inbox)
    runtime = EngineRuntime(neonize_engine, worker_id="wired-test", reconcile_seconds=60)
    slot = Slot(spec=SessionSpec(name="wired", uid=session.uid, config=session.config),
                generation=1)
    runtime.slots["wired"] = slot
    slot.drainer = asyncio.create_task(runtime._drain(slot))
    runtime.batcher.start()
    callbacks = SlotCallbacks(slot, asyncio.get_running_loop(), runtime.keep)
    client, go_client = make_client(neonize_engine, callbacks, session.config, "wired")
    client.spec = slot.spec
    try:
        feed_device(go_client, "Alice")
        feed(go_client, ConnectedEv())
        feed(go_client, incoming_text("hi from bob"))

        received: list[dict] = []
        while len(received) < 3:  # events kept in one batch arrive in one message
            message = await asyncio.wait_for(layer.receive(inbox), 5)
            received += [json.loads(item["text"]) for item in message["items"]]
        first, second, third = received
    finally:
        slot.drainer.cancel()
        await asyncio.to_thread(runtime.batcher.close)

    assert first["event"] == "session.status"
    assert first["payload"]["status"] == "WORKING"
    assert first["me"]["id"] == "15550001111@c.us"
    assert [second["event"], third["event"]] == ["message", "message.any"]
    assert second["metadata"] == {"crm": "7"}
    assert second["engine"] == "GOWS"
    assert second["id"].startswith("evt_") and second["id"] != third["id"]
    assert second["payload"]["body"] == "hi from bob"


async def _done(client: NeonizeClient) -> bool:
    return client.stopping and client._ticker is None


async def _async(value: bool) -> bool:
    return value


__all__ = ["Recorder"]


async def test_a_dropped_connection_is_starting_until_whatsmeow_reconnects(
        neonize_engine, recorder):
    _, go_client = make_client(neonize_engine, recorder)
    feed_device(go_client, "Alice")
    feed(go_client, ConnectedEv())

    feed(go_client, DisconnectedEv())
    feed(go_client, ConnectedEv())

    assert recorder.kinds() == ["working", "starting", "working"]
    assert recorder.calls[1][1].startswith("Disconnected from WhatsApp")


async def test_a_device_jid_missing_from_the_store_starts_a_new_device_instead_of_crashing(
        neonize_engine, recorder):
    spec = SessionSpec(name="resume", uid="uidresume", config={},
                       device_jid="15550009999:3@s.whatsapp.net")
    client = NeonizeClient(neonize_engine, spec, recorder)

    store = neonize_engine.auth_store(spec)

    assert client._known_jid(store) is None  # asking Go for it would abort the process


async def test_a_pairing_code_before_any_connection_is_a_clear_error(neonize_engine, recorder):
    client, _ = make_client(neonize_engine, recorder)

    with pytest.raises(EngineError, match="not running"):
        await client.request_code("12132132130")
    with pytest.raises(EngineError, match="refused the pairing code"):
        client._pair_phone("12132132130", pairing_client_type({}))
    with pytest.raises(EngineError, match="not connected"):
        await client.send_text("15552223333@c.us", "hello")
