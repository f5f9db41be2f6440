"""Status reports of many sessions written together (`services.record_statuses`) and coalesced
by the engine (`StatusWriter`): the same rows and events as one at a time, fewer transactions,
and one report's failure is its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app import events, services
from sessions_app.models import Session, SessionStatus, SessionStatusChange
from sessions_app.services import Observation
from sessions_app.status_writer import StatusWriter


def started(count: int, owner: str = "engine-1") -> list[Session]:
    return [Session.objects.create(name=f"s{i}", should_run=True, generation=1, owner=owner)
            for i in range(count)]


def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, list[str]]]:
    """(session, status, recent statuses) of every session.status published."""
    seen: list[tuple[str, str, list[str]]] = []
    real = events.publish_many

    def spy(items: Sequence[tuple[Session, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        for session, _, payload in items:
            seen.append((session.name, payload["status"],
                         [s["status"] for s in payload["statuses"]]))
        return real(items)

    monkeypatch.setattr(events, "publish_many", spy)
    return seen


@pytest.mark.django_db(transaction=True)
def test_many_reports_are_one_transaction_with_the_rows_and_events_of_each(monkeypatch):
    sessions = started(20)
    seen = published(monkeypatch)
    reports = [Observation(s.uid, SessionStatus.STARTING, generation=1, owner="engine-1")
               for s in sessions]
    reports += [Observation(s.uid, SessionStatus.WORKING, me={"id": f"{i}@c.us"},
                            owner="engine-1") for i, s in enumerate(sessions)]

    with CaptureQueriesContext(connection) as queries:
        written = services.record_statuses(reports)

    assert [s.name for s in written if s] == [s.name for s in sessions] * 2
    # One lock query, then per round one history insert and an UPDATE a row: not five
    # statements (and a transaction) per report.
    assert len(queries) <= len(reports) + 10, [q["sql"][:80] for q in queries]
    for session in sessions:
        session.refresh_from_db()
        assert (session.status, session.applied_generation) == (SessionStatus.WORKING, 1)
        assert list(session.history.values_list("status", flat=True)) == [
            SessionStatus.STARTING, SessionStatus.WORKING]
    assert seen[:20] == [(s.name, "STARTING", ["STARTING"]) for s in sessions]
    assert seen[20:] == [(s.name, "WORKING", ["STARTING", "WORKING"]) for s in sessions]


@pytest.mark.django_db(transaction=True)
def test_a_report_from_an_engine_that_lost_the_session_writes_nothing():
    [ours, lost] = [started(1)[0], Session.objects.create(name="lost", owner="engine-2")]

    written = services.record_statuses([
        Observation(ours.uid, SessionStatus.STARTING, generation=1, owner="engine-1"),
        Observation(lost.uid, SessionStatus.STARTING, generation=1, owner="engine-1"),
    ])

    assert [s is not None for s in written] == [True, False]
    assert not SessionStatusChange.objects.filter(session=lost).exists()


@pytest.mark.django_db(transaction=True)
async def test_reports_arriving_together_are_written_in_one_batch():
    sessions = await sync_to_async(started)(30)
    batches: list[int] = []

    def write(observations: Sequence[Observation]) -> list[Session | None]:
        batches.append(len(observations))
        return services.record_statuses(observations)

    writer = StatusWriter(lambda f: sync_to_async(f, thread_sensitive=False), write=write)
    await asyncio.gather(*(writer.record(s.uid, SessionStatus.STARTING, generation=1,
                                         owner="engine-1") for s in sessions))

    assert batches == [30]
    statuses = await sync_to_async(lambda: set(Session.objects.values_list("status", flat=True)))()
    assert statuses == {SessionStatus.STARTING}


@pytest.mark.django_db(transaction=True)
async def test_a_batch_in_which_one_write_fails_keeps_the_others_and_fails_that_one():
    sessions = await sync_to_async(started)(5)
    doomed = sessions[2].uid

    def write(observations: Sequence[Observation]) -> list[Session | None]:
        if any(o.uid == doomed for o in observations):
            raise RuntimeError("the database refused this row")
        return services.record_statuses(observations)

    writer = StatusWriter(lambda f: sync_to_async(f, thread_sensitive=False), write=write)
    results = await asyncio.gather(
        *(writer.record(s.uid, SessionStatus.STARTING, generation=1, owner="engine-1")
          for s in sessions), return_exceptions=True)

    assert [type(r).__name__ for r in results] == [
        "Session", "Session", "RuntimeError", "Session", "Session"]
    kept = await sync_to_async(
        lambda: dict(Session.objects.values_list("name", "status")))()
    assert kept == {"s0": "STARTING", "s1": "STARTING", "s2": "STOPPED", "s3": "STARTING",
                    "s4": "STARTING"}


@pytest.mark.django_db
def test_a_new_session_shows_its_first_status_as_its_history_does():
    session = Session.objects.create_stopped(name="fresh")

    services.record_status(session.uid, SessionStatus.STARTING, generation=1)
    session.refresh_from_db()

    assert [s["status"] for s in session.recent_statuses()] == ["STOPPED", "STARTING"]
    assert [s["status"] for s in session.recent_statuses()] == list(
        session.history.values_list("status", flat=True))
