"""An event from a client thread is kept before the callback returns, so the client acknowledges
a WhatsApp message only once it is in the database (with its webhook deliveries)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from channels.db import database_sync_to_async

from sessions_app import services
from sessions_app.engines.fake import FakeEngine
from sessions_app.runtime import EngineRuntime
from webhooks_app.models import Delivery

from ..conftest import wait_for

HOOKED = {"webhooks": [{"url": "http://127.0.0.1:9/hook", "events": ["message"]}]}


def _message(n: int) -> dict[str, object]:
    return {"id": f"false_1@c.us_KEPT{n}", "from": "1@c.us", "fromMe": False, "body": f"m{n}"}


async def _started(runtime: EngineRuntime, name: str):
    await database_sync_to_async(services.create_session)(name, HOOKED, start=True)
    await wait_for(lambda: _has_client(runtime, name), message=f"{name} live")
    return runtime.slots[name]


async def _has_client(runtime: EngineRuntime, name: str) -> bool:
    slot = runtime.slots.get(name)
    return slot is not None and slot.client is not None


def _deliveries(name: str) -> list[str]:
    return [json.loads(body)["payload"]["id"] for body in Delivery.objects
            .filter(session_name=name, event="message").order_by("id")
            .values_list("body", flat=True)]


@pytest.mark.django_db(transaction=True)
async def test_an_event_from_a_client_thread_is_kept_when_the_callback_returns(
    api, patient_engine: FakeEngine, runtime: EngineRuntime
):
    slot = await _started(runtime, "kept")
    seen_on_return: list[list[str]] = []

    def client_thread() -> None:
        for n in range(3):
            slot.client.callbacks.event("message", _message(n))  # type: ignore[union-attr]
            seen_on_return.append(_deliveries("kept"))

    await asyncio.to_thread(client_thread)

    assert seen_on_return == [[f"false_1@c.us_KEPT{k}" for k in range(n + 1)] for n in range(3)]


@pytest.mark.django_db(transaction=True)
async def test_a_failed_write_is_retried_before_the_callback_returns(
    api, patient_engine: FakeEngine, runtime: EngineRuntime, monkeypatch
):
    slot = await _started(runtime, "retried")
    real = services.record_events
    failures = iter([True, True])

    def flaky(*args, **kwargs):
        if next(failures, False):
            raise ConnectionError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "record_events", flaky)

    await asyncio.to_thread(slot.client.callbacks.event, "message", _message(1))  # type: ignore[union-attr]

    assert await database_sync_to_async(_deliveries)("retried") == ["false_1@c.us_KEPT1"]


@pytest.mark.django_db(transaction=True)
async def test_a_write_that_keeps_failing_gives_up_when_the_session_ends(
    api, patient_engine: FakeEngine, runtime: EngineRuntime, monkeypatch
):
    slot = await _started(runtime, "doomed")
    attempts = threading.Event()

    def down(*args, **kwargs):
        attempts.set()
        raise ConnectionError("the database does not answer")

    monkeypatch.setattr(services, "record_events", down)
    waiting = asyncio.create_task(asyncio.to_thread(
        slot.client.callbacks.event, "message", _message(2)))  # type: ignore[union-attr]
    await asyncio.to_thread(attempts.wait, 5)
    await asyncio.sleep(0.3)
    assert not waiting.done()  # still retrying: the message is not acknowledged
    assert runtime.callback_backlog() == 1

    await database_sync_to_async(services.stop_session)("doomed")
    await asyncio.wait_for(waiting, 10)

    assert runtime.callback_backlog() == 0
    assert await database_sync_to_async(_deliveries)("doomed") == []
