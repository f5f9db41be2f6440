"""Fencing: an engine that lost (or may lose) a session stops its client and writes nothing more.

- Writes of observed state are conditional on still owning the session.
- Leases are renewed by their own task, so a long spaced-out boot never lets them lapse.
- When the leases cannot be renewed, the clients stop before the leases could pass on.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from sessions_app import services
from sessions_app.engines.fake import FakeEngine
from sessions_app.models import Session, SessionStatus, SessionStatusChange

from ..conftest import wait_for
from .conftest import MakeRuntime, create_row, load, update


@pytest.mark.django_db(transaction=True)
def test_a_status_from_an_engine_that_no_longer_owns_the_session_is_dropped():
    session = services.create_session("fenced", {}, start=False)
    services.record_status(session.uid, SessionStatus.STARTING)
    Session.objects.filter(pk=session.pk).update(owner="engine-b")

    stale = services.record_status(session.uid, SessionStatus.FAILED, reason="stream replaced",
                                   owner="engine-a")
    Session.objects.set_device(session.uid, "111:1@s.whatsapp.net", owner="engine-a")
    current = services.record_status(session.uid, SessionStatus.WORKING, me={"id": "1@c.us"},
                                     owner="engine-b")

    session.refresh_from_db()
    assert stale is None and current is not None
    assert (session.status, session.last_error, session.device_jid) == (
        SessionStatus.WORKING, "", "")
    assert list(SessionStatusChange.objects.filter(session=session)
                .values_list("status", flat=True).order_by("id"))[-2:] == ["STARTING", "WORKING"]
    assert not SessionStatusChange.objects.filter(session=session, status="FAILED").exists()


@pytest.mark.django_db(transaction=True)
async def test_a_client_whose_lease_was_taken_cannot_overwrite_the_new_owner(
    api, patient_engine: FakeEngine, make_runtime: MakeRuntime
):
    await create_row("handed-over", should_run=True, generation=1)
    first = await make_runtime("engine-a")
    await wait_for(lambda: _status_is("handed-over", SessionStatus.SCAN_QR_CODE),
                   message="engine-a to show a QR code")
    slot = first.slots["handed-over"]
    # engine-b took the session over (as after an expired lease) before engine-a noticed.
    await update("handed-over", owner="engine-b",
                 lease_expires_at=timezone.now() + timedelta(seconds=60))

    slot.client.callbacks.failed("Stream replaced by another connection")  # type: ignore[union-attr]
    await wait_for(lambda: _gone(first, "handed-over"), message="engine-a to end its client")

    row = await load("handed-over")
    assert (row.owner, row.status, row.last_error) == ("engine-b", SessionStatus.SCAN_QR_CODE, "")
    assert patient_engine.live_count["handed-over"] == 0


@pytest.mark.django_db(transaction=True)
async def test_leases_are_renewed_while_a_spaced_out_boot_is_still_starting_sessions(
    api, patient_engine: FakeEngine, make_runtime: MakeRuntime, settings
):
    settings.AUTO_START_DELAY_SECONDS = 0.4
    names = [f"spaced-{n}" for n in range(6)]
    for name in names:
        await create_row(name, should_run=True, generation=1)

    boot = asyncio.create_task(make_runtime("engine-a", lease_seconds=1.0))
    lapsed: list[str] = []
    while not boot.done():  # the boot takes about 2.4 s: more than two lease lifetimes
        lapsed += await database_sync_to_async(_lapsed_leases)("engine-a")
        await asyncio.sleep(0.05)
    runtime = await boot

    assert lapsed == []
    assert sorted(runtime.slots) == names


@pytest.mark.django_db(transaction=True)
async def test_clients_stop_before_leases_that_cannot_be_renewed_run_out(
    api, patient_engine: FakeEngine, make_runtime: MakeRuntime
):
    for name in ("cut-off-1", "cut-off-2"):
        await create_row(name, should_run=True, generation=1)
    runtime = await make_runtime("engine-a", lease_seconds=2.0)
    await wait_for(lambda: _live(patient_engine, 2), message="both clients live")
    leases = {row.name: row.lease_expires_at
              for row in [await load("cut-off-1"), await load("cut-off-2")]}

    def unreachable(*args: object, **kwargs: object) -> object:
        raise ConnectionError("the database does not answer")

    runtime._heartbeat = unreachable  # type: ignore[method-assign]
    runtime._claim = unreachable  # type: ignore[method-assign]
    runtime._candidates = unreachable  # type: ignore[method-assign]
    await wait_for(lambda: _live(patient_engine, 0), timeout=10, message="the clients to stop")
    stopped_at = timezone.now()

    assert runtime.slots == {}
    latest_lease = max(lease for lease in leases.values() if lease is not None)
    # The renew task may have pushed the leases further since they were read: never earlier.
    assert stopped_at < latest_lease + timedelta(seconds=2.0)
    for name in leases:
        row = await load(name)
        assert row.lease_expires_at is not None and stopped_at < row.lease_expires_at
        assert row.should_run


@pytest.mark.django_db(transaction=True)
async def test_fenced_clients_come_back_once_the_database_answers_again(
    api, patient_engine: FakeEngine, make_runtime: MakeRuntime
):
    await create_row("outage", should_run=True, generation=1)
    runtime = await make_runtime("engine-a", lease_seconds=2.0)
    await wait_for(lambda: _live(patient_engine, 1), message="the client live")
    heartbeat, claim = runtime._heartbeat, runtime._claim

    def unreachable(*args: object, **kwargs: object) -> object:
        raise ConnectionError("the database does not answer")

    runtime._heartbeat = unreachable  # type: ignore[method-assign]
    runtime._claim = unreachable  # type: ignore[method-assign]
    await wait_for(lambda: _live(patient_engine, 0), timeout=10, message="the client to stop")
    runtime._heartbeat = heartbeat  # type: ignore[method-assign]
    runtime._claim = claim  # type: ignore[method-assign]

    await wait_for(lambda: _live(patient_engine, 1), timeout=10, message="the client back")
    assert patient_engine.started["outage"] == 2
    assert (await load("outage")).owner == "engine-a"


def _lapsed_leases(worker_id: str) -> list[str]:
    now = timezone.now()
    return [f"{name} lapsed at {expiry:%H:%M:%S.%f}, checked {now:%H:%M:%S.%f}"
            for name, expiry in Session.objects.filter(owner=worker_id)
            .values_list("name", "lease_expires_at") if expiry is not None and expiry < now]


async def _status_is(name: str, status: str) -> bool:
    return (await load(name)).status == status


async def _gone(runtime, name: str) -> bool:
    return name not in runtime.slots


async def _live(engine: FakeEngine, count: int) -> bool:
    return sum(engine.live_count.values()) == count

