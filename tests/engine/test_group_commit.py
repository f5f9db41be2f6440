"""Group commit: events of many sessions kept in batches, one transaction each, without losing
one to another's failure, out of order, or behind a window that never closes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from sessions_app import ingest, services, store
from sessions_app.engines.fake import FakeEngine
from sessions_app.ingest import Batcher
from sessions_app.models import Session, StoredMessage
from sessions_app.runtime import EngineRuntime
from sessions_app.slots import EventArrived, Kept
from webhooks_app.models import Delivery

from ..conftest import wait_for

KEPT = {"webhooks": [{"url": "http://127.0.0.1:9/hook", "events": ["message.any"]}],
        "noweb": {"store": {"enabled": True}}}


def _event(body: str) -> EventArrived:
    return EventArrived("message.any", {"id": f"false_1@c.us_{body.upper()}", "from": "1@c.us",
                                        "fromMe": False, "timestamp": 1_700_000_000,
                                        "body": body})


def _bodies(name: str) -> list[str]:
    """The session's events as their deliveries were written, in order."""
    return [json.loads(body)["payload"]["body"] for body in Delivery.objects
            .filter(session_name=name).order_by("id").values_list("body", flat=True)]


class Commits:
    """services.record_events, watched: the bodies of every call, and whether it committed."""

    def __init__(self) -> None:
        self.tried: list[list[str]] = []
        self.kept: list[list[str]] = []
        self.real = services.record_events

    def __call__(self, entries: list[tuple[str, Kept]]) -> None:
        bodies = [item.payload["body"] for _, item in entries if isinstance(item, EventArrived)]
        self.tried.append(bodies)
        self.real(entries)
        self.kept.append(bodies)


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> Commits:
    watched = Commits()
    monkeypatch.setattr(services, "record_events", watched)
    return watched


@pytest.fixture
def batcher() -> Iterator[Batcher]:
    made = Batcher()
    yield made
    made.close()


def _alive() -> bool:
    return True


@pytest.mark.django_db(transaction=True)
def test_one_failing_event_leaves_the_rest_of_its_batch_kept_and_is_retried_alone(
    batcher: Batcher, commits: Commits, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = services.create_session("alpha", KEPT, start=False)
    beta = services.create_session("beta", KEPT, start=False)
    failures = iter([True] * 4)  # the whole batch, its halves, alone, and its first retry
    real_row = store.message_row

    def row(session: Session, payload: dict[str, Any]) -> StoredMessage | None:
        if payload.get("body") == "poison" and next(failures, False):
            raise ValueError("this one cannot be kept yet")
        return real_row(session, payload)

    monkeypatch.setattr(store, "message_row", row)
    tickets = batcher.submit(alpha.uid, [_event("a1"), _event("poison"), _event("a3")],
                             label="alpha", alive=_alive)
    tickets += batcher.submit(beta.uid, [_event("b1"), _event("b2")], label="beta",
                              alive=_alive)
    batcher.start()  # all five are waiting: one batch

    for ticket in tickets:
        assert ticket.settled.wait(10)

    assert all(ticket.kept for ticket in tickets)
    assert commits.tried[0] == ["a1", "poison", "a3", "b1", "b2"]
    assert _bodies("beta") == ["b1", "b2"]
    assert _bodies("alpha") == ["a1", "poison", "a3"]  # its session's order held
    assert len([call for call in commits.tried if "poison" in call]) == 5
    commit_of = {body: index for index, call in enumerate(commits.kept) for body in call}
    assert commit_of["b1"] == commit_of["b2"] < commit_of["poison"]  # not held up by it
    assert commit_of["a1"] < commit_of["poison"] <= commit_of["a3"]
    assert StoredMessage.objects.filter(session=alpha).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_the_database_refuses_waits_whole_for_its_next_try(
    batcher: Batcher, commits: Commits, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = services.create_session("alpha", KEPT, start=False)
    down = iter([True])
    real = commits.real

    def flaky(entries: list[tuple[str, Kept]]) -> None:
        if next(down, False):
            raise ConnectionError("the database went away")
        real(entries)

    commits.real = flaky
    monkeypatch.setattr(Batcher, "_database_answers", lambda self: False)
    tickets = batcher.submit(alpha.uid, [_event(f"m{n}") for n in range(4)], label="alpha",
                             alive=_alive)
    batcher.start()

    for ticket in tickets:
        assert ticket.settled.wait(10)

    assert commits.tried == [["m0", "m1", "m2", "m3"]] * 2  # not split, tried again whole
    assert _bodies("alpha") == ["m0", "m1", "m2", "m3"]


@pytest.mark.django_db(transaction=True)
def test_a_failing_event_of_an_ended_client_is_given_up_and_releases_its_waiter(
    batcher: Batcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = services.create_session("alpha", KEPT, start=False)
    ended = threading.Event()

    def down(entries: list[tuple[str, Kept]]) -> None:
        raise ConnectionError("the database does not answer")

    monkeypatch.setattr(services, "record_events", down)
    batcher.start()
    kept: list[int] = []
    waiter = threading.Thread(target=lambda: kept.append(batcher.keep(
        alpha.uid, [_event("lost"), _event("also lost")], label="alpha",
        alive=lambda: not ended.is_set())))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and batcher.backlog() == 2  # retrying: not acknowledged

    ended.set()
    waiter.join(10)

    assert kept == [0] and batcher.backlog() == 0


@pytest.mark.django_db(transaction=True)
def test_a_lone_event_is_kept_once_the_window_passes(batcher: Batcher,
                                                     commits: Commits) -> None:
    alpha = services.create_session("alpha", KEPT, start=False)
    batcher.start()

    began = time.monotonic()
    kept = batcher.keep(alpha.uid, [_event("alone")], label="alpha", alive=_alive)
    waited = time.monotonic() - began

    assert kept == 1 and commits.kept == [["alone"]]
    # The window is 5 ms; a loaded machine's commit takes far less than this margin.
    assert waited < ingest.BATCH_WINDOW_SECONDS + 2.0


@pytest.mark.django_db(transaction=True)
def test_a_full_batch_closes_without_waiting_for_its_window(commits: Commits) -> None:
    alpha = services.create_session("alpha", KEPT, start=False)
    batcher = Batcher(size=3, window=60.0)
    batcher.start()
    try:
        tickets = batcher.submit(alpha.uid, [_event(f"m{n}") for n in range(3)], label="alpha",
                                 alive=_alive)
        assert all(ticket.settled.wait(10) and ticket.kept for ticket in tickets)
    finally:
        batcher.close()

    assert commits.kept == [["m0", "m1", "m2"]]


@pytest.mark.django_db(transaction=True)
async def test_events_handed_over_together_are_kept_in_one_transaction_before_it_returns(
    api, patient_engine: FakeEngine, runtime: EngineRuntime, commits: Commits
):
    await database_sync_to_async(services.create_session)("many", KEPT, start=True)
    await wait_for(lambda: _has_client(runtime, "many"), message="many live")
    client = runtime.slots["many"].client
    assert client is not None
    batch = [("message.any", _event(f"m{n}").payload) for n in range(50)]

    kept = await asyncio.to_thread(client.callbacks.events, batch)

    assert kept == 50
    assert commits.kept == [[f"m{n}" for n in range(50)]]
    assert await database_sync_to_async(_bodies)("many") == [f"m{n}" for n in range(50)]


@pytest.mark.django_db(transaction=True)
async def test_an_event_from_the_loop_thread_is_kept_without_blocking_the_loop(
    api, patient_engine: FakeEngine, runtime: EngineRuntime, commits: Commits
):
    await database_sync_to_async(services.create_session)("looped", KEPT, start=True)
    await wait_for(lambda: _has_client(runtime, "looped"), message="looped live")
    client = runtime.slots["looped"].client
    assert client is not None

    client.callbacks.event("message.any", _event("from the loop").payload)
    assert commits.tried == []  # handed over, not written while the loop waited

    await wait_for(lambda: _has_bodies("looped", ["from the loop"]), message="kept")


async def _has_client(runtime: EngineRuntime, name: str) -> bool:
    slot = runtime.slots.get(name)
    return slot is not None and slot.client is not None


async def _has_bodies(name: str, bodies: list[str]) -> bool:
    return await database_sync_to_async(_bodies)(name) == bodies
