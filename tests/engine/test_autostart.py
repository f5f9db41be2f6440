"""Autostart: after an engine restart, what was running runs again and what was stopped stays."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from sessions_app import groups
from sessions_app.engines import SessionSpec
from sessions_app.engines.fake import FakeEngine
from sessions_app.models import EngineProcess, Session, SessionStatus, SessionStatusChange
from sessions_app.runtime import EngineRuntime

from ..conftest import wait_for, wait_status
from .conftest import MakeRuntime, load, update

TICKS = 0.6  # three reconcile ticks of the test runtimes


def spec(row: Session) -> SessionSpec:
    return SessionSpec(name=row.name, uid=row.uid, config=row.config)


def statuses_after(name: str, after_id: int) -> list[str]:
    return list(
        SessionStatusChange.objects.filter(session__name=name, id__gt=after_id)
        .order_by("id").values_list("status", flat=True)
    )


def last_change_id() -> int:
    return SessionStatusChange.objects.order_by("-id").values_list("id", flat=True).first() or 0


async def create(api: httpx.AsyncClient, name: str, *, start: bool = True) -> None:
    answer = await api.post("/api/sessions", json={"name": name, "start": start})
    assert answer.status_code == 201, answer.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second_worker", ["engine-1", "engine-2"])
async def test_running_sessions_come_back_after_a_restart_and_stopped_ones_stay_stopped(
    api, patient_engine, make_runtime: MakeRuntime, second_worker
):
    first = await make_runtime("engine-1")
    for name in ("paired", "waiting", "halted"):
        await create(api, name)
    await create(api, "never", start=False)
    await wait_status(api, "paired", "SCAN_QR_CODE")
    patient_engine.pair("paired")
    before = await wait_status(api, "paired", "WORKING")
    await wait_status(api, "waiting", "SCAN_QR_CODE")
    await api.post("/api/sessions/halted/stop")
    await wait_status(api, "halted", "STOPPED")

    await first.shutdown()
    mark = await database_sync_to_async(last_change_id)()

    # A new process: a new engine object over the same auth directory.
    engine = FakeEngine(patient_engine.auth_dir, qr_first=60.0, qr_next=60.0, qr_codes=3)
    await make_runtime(second_worker, engine=engine)
    after = await wait_status(api, "paired", "WORKING")
    await wait_status(api, "waiting", "SCAN_QR_CODE")
    await asyncio.sleep(TICKS)

    assert after["me"] == before["me"]
    assert await database_sync_to_async(statuses_after)("paired", mark) == [
        SessionStatus.STARTING, SessionStatus.WORKING
    ]
    for name in ("halted", "never"):
        assert (await api.get(f"/api/sessions/{name}")).json()["status"] == "STOPPED"
        assert name not in engine.live
        assert engine.started[name] == 0
    assert set(engine.live) == {"paired", "waiting"}
    for name in ("paired", "waiting"):
        assert (await load(name)).owner == second_worker


@pytest.mark.django_db(transaction=True)
async def test_shutdown_keeps_what_the_user_wanted_and_releases_the_leases(
    api, patient_engine, make_runtime: MakeRuntime
):
    rt = await make_runtime("engine-1")
    await create(api, "one")
    await create(api, "two")
    await create(api, "idle", start=False)
    await wait_status(api, "one", "SCAN_QR_CODE")
    await wait_status(api, "two", "SCAN_QR_CODE")
    assert (await load("one")).owner == "engine-1"

    await rt.shutdown()

    rows = {row.name: row for row in await database_sync_to_async(list)(Session.objects.all())}
    assert {name: row.should_run for name, row in rows.items()} == {
        "one": True, "two": True, "idle": False
    }
    assert all(row.owner == "" and row.lease_expires_at is None for row in rows.values())
    assert all(row.status == SessionStatus.STOPPED for row in rows.values())
    assert patient_engine.live == {}
    assert not await database_sync_to_async(EngineProcess.objects.filter(
        worker_id="engine-1").exists)()


@pytest.mark.django_db(transaction=True)
async def test_a_paired_session_keeps_its_auth_state_across_a_shutdown(
    api, patient_engine, make_runtime: MakeRuntime
):
    rt = await make_runtime("engine-1")
    await create(api, "kept")
    await wait_status(api, "kept", "SCAN_QR_CODE")
    patient_engine.pair("kept")
    await wait_status(api, "kept", "WORKING")

    await rt.shutdown()

    assert patient_engine.has_auth(spec(await load("kept")))


@pytest.mark.django_db(transaction=True)
async def test_restart_all_sessions_starts_every_session_on_boot(
    api, patient_engine, make_runtime: MakeRuntime, settings
):
    for name in ("a", "b", "c"):
        await create(api, name, start=False)
    settings.RESTART_ALL_SESSIONS = True

    await make_runtime("engine-1")

    for name in ("a", "b", "c"):
        await wait_status(api, name, "SCAN_QR_CODE")
    assert set(patient_engine.live) == {"a", "b", "c"}


@pytest.mark.django_db(transaction=True)
async def test_start_session_setting_starts_only_the_named_sessions_on_boot(
    api, patient_engine, make_runtime: MakeRuntime, settings
):
    for name in ("x", "y"):
        await create(api, name, start=False)
    settings.START_SESSIONS = ["x"]

    await make_runtime("engine-1")

    await wait_status(api, "x", "SCAN_QR_CODE")
    await asyncio.sleep(TICKS)
    assert (await api.get("/api/sessions/y")).json()["status"] == "STOPPED"
    assert set(patient_engine.live) == {"x"}


async def crash(rt: EngineRuntime) -> None:
    """The process dies: its loop and its connections end, and nothing is written."""
    rt.stopping = True
    doomed = [*rt.tasks, *rt.inflight]
    for slot in rt.slots.values():
        if slot.drainer is not None:
            doomed.append(slot.drainer)
        if slot.client is not None:
            await slot.client.stop()
    for task in doomed:
        task.cancel()
    await asyncio.gather(*doomed, return_exceptions=True)
    await rt.layer.group_discard(groups.ENGINES_GROUP, rt.channel)


@pytest.mark.django_db(transaction=True)
async def test_after_a_crash_the_same_worker_resumes_its_sessions_at_once(
    api, patient_engine, make_runtime: MakeRuntime
):
    crashed = EngineRuntime(patient_engine, worker_id="engine-1", lease_seconds=60,
                            reconcile_seconds=0.2)
    await crashed.start()
    await create(api, "paired")
    await create(api, "waiting")
    await wait_status(api, "paired", "SCAN_QR_CODE")
    patient_engine.pair("paired")
    await wait_status(api, "paired", "WORKING")
    await wait_status(api, "waiting", "SCAN_QR_CODE")
    await crash(crashed)
    assert patient_engine.live == {}
    mark = await database_sync_to_async(last_change_id)()

    await make_runtime("engine-1")

    await wait_status(api, "waiting", "SCAN_QR_CODE")
    await wait_status(api, "paired", "WORKING")
    assert await database_sync_to_async(statuses_after)("paired", mark) == [
        SessionStatus.STARTING, SessionStatus.WORKING
    ]
    assert set(patient_engine.live) == {"paired", "waiting"}


@pytest.mark.django_db(transaction=True)
async def test_after_a_crash_another_worker_takes_over_once_the_lease_expires(
    api, patient_engine, make_runtime: MakeRuntime
):
    crashed = EngineRuntime(patient_engine, worker_id="engine-1", lease_seconds=60,
                            reconcile_seconds=0.2)
    await crashed.start()
    await create(api, "survivor")
    await wait_status(api, "survivor", "SCAN_QR_CODE")
    await crash(crashed)

    await make_runtime("engine-2")
    await asyncio.sleep(TICKS)
    assert patient_engine.started["survivor"] == 1
    assert (await load("survivor")).owner == "engine-1"

    await update("survivor", lease_expires_at=timezone.now() - timedelta(seconds=1))

    await wait_for(lambda: has_live(patient_engine, "survivor"), message="the takeover")
    assert (await load("survivor")).owner == "engine-2"
    assert patient_engine.started["survivor"] == 2


async def has_live(engine: FakeEngine, name: str) -> bool:
    return name in engine.live
