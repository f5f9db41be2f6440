"""How a running session ends: deleted, logged out (here or from the phone), failed, stopped."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from channels.db import database_sync_to_async

from sessions_app.engines import SessionSpec
from sessions_app.engines.fake import QR_EXPIRED, FakeEngine
from sessions_app.models import Session, SessionStatus
from sessions_app.runtime import EngineRuntime

from ..conftest import wait_for, wait_status
from .conftest import load

TICKS = 0.6  # three reconcile ticks of the runtime fixture


async def spec_of(name: str) -> SessionSpec:
    row = await load(name)
    return SessionSpec(name=row.name, uid=row.uid, config=row.config)


async def paired(api: httpx.AsyncClient, engine: FakeEngine, name: str) -> SessionSpec:
    await api.post("/api/sessions", json={"name": name})
    await wait_status(api, name, "SCAN_QR_CODE")
    engine.pair(name)
    await wait_status(api, name, "WORKING")
    spec = await spec_of(name)
    assert engine.has_auth(spec)
    return spec


async def gone_from(engine: FakeEngine, runtime: EngineRuntime, name: str) -> None:
    async def gone() -> bool:
        return name not in engine.live and name not in runtime.slots

    await wait_for(gone, timeout=3, message=f"{name}'s client to end")
    assert engine.live_count[name] == 0


@pytest.mark.django_db(transaction=True)
async def test_deleting_a_running_session_unlinks_its_client_and_wipes_its_auth_state(
    api, runtime, patient_engine
):
    spec = await paired(api, patient_engine, "doomed")

    answer = await api.delete("/api/sessions/doomed")

    assert answer.status_code == 200
    await gone_from(patient_engine, runtime, "doomed")
    assert not patient_engine.has_auth(spec)
    assert not await database_sync_to_async(Session.objects.filter(name="doomed").exists)()
    assert (await api.get("/api/sessions/doomed")).status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_a_session_created_again_under_a_deleted_name_does_not_resume_the_old_device(
    api, runtime, patient_engine
):
    old = await paired(api, patient_engine, "reborn")
    await api.delete("/api/sessions/reborn")
    await api.post("/api/sessions", json={"name": "reborn"})

    await wait_status(api, "reborn", "SCAN_QR_CODE")

    assert not patient_engine.has_auth(old)
    assert patient_engine.peak_live["reborn"] == 1


@pytest.mark.django_db(transaction=True)
async def test_a_session_logged_out_from_the_phone_fails_and_keeps_the_reason(
    api, runtime, patient_engine
):
    spec = await paired(api, patient_engine, "unlinked")

    patient_engine.logout_from_phone("unlinked")

    info = await wait_status(api, "unlinked", "FAILED")
    assert info["engine"]["lastError"] == "Logged out from the phone"
    assert not patient_engine.has_auth(spec)
    await asyncio.sleep(TICKS)
    assert (await api.get("/api/sessions/unlinked")).json()["status"] == "FAILED"
    assert patient_engine.started["unlinked"] == 1


@pytest.mark.django_db(transaction=True)
async def test_starting_a_session_logged_out_from_the_phone_asks_for_a_new_qr(
    api, runtime, patient_engine
):
    await paired(api, patient_engine, "relinked")
    patient_engine.logout_from_phone("relinked")
    await wait_status(api, "relinked", "FAILED")

    await api.post("/api/sessions/relinked/start")

    await wait_status(api, "relinked", "SCAN_QR_CODE")
    assert patient_engine.peak_live["relinked"] == 1


@pytest.mark.django_db(transaction=True)
async def test_a_failed_session_is_not_restarted_by_reconcile_ticks_but_is_by_start(
    api, runtime, engine
):
    await api.post("/api/sessions", json={"name": "expired"})
    info = await wait_status(api, "expired", "FAILED")
    assert info["engine"]["lastError"] == QR_EXPIRED
    await asyncio.sleep(TICKS)
    assert (await api.get("/api/sessions/expired")).json()["status"] == "FAILED"
    assert engine.started["expired"] == 1
    assert "expired" not in engine.live

    answer = await api.post("/api/sessions/expired/start")

    assert answer.status_code == 201
    assert answer.json()["status"] == "STARTING"
    await wait_status(api, "expired", "SCAN_QR_CODE")
    assert engine.started["expired"] == 2


@pytest.mark.django_db(transaction=True)
async def test_logging_out_a_running_session_starts_it_again_with_a_fresh_qr(
    api, runtime, patient_engine
):
    spec = await paired(api, patient_engine, "fresh")

    answer = await api.post("/api/sessions/fresh/logout")

    assert answer.status_code == 201
    info = await wait_status(api, "fresh", "SCAN_QR_CODE")
    assert info["me"] is None
    assert not patient_engine.has_auth(spec)
    assert patient_engine.started["fresh"] == 2
    assert patient_engine.peak_live["fresh"] == 1


@pytest.mark.django_db(transaction=True)
async def test_logging_out_a_session_just_stopped_leaves_it_stopped_everywhere(
    api, runtime, patient_engine
):
    spec = await paired(api, patient_engine, "quiet")

    async with runtime.locks["quiet"]:  # the engine sees both changes in one reconcile
        await api.post("/api/sessions/quiet/stop")
        await api.post("/api/sessions/quiet/logout")
        assert (await load("quiet")).logout_pending

    await gone_from(patient_engine, runtime, "quiet")

    async def settled() -> bool:
        row = await load("quiet")
        return not row.logout_pending and row.owner == ""

    await wait_for(settled, message="the logout to be applied")
    row = await load("quiet")
    assert (row.should_run, row.status, row.me) == (False, SessionStatus.STOPPED, None)
    assert not patient_engine.has_auth(spec)
    assert (await api.get("/api/sessions/quiet")).json()["status"] == "STOPPED"


@pytest.mark.django_db(transaction=True)
async def test_stopping_a_failed_session_records_it_stopped(api, runtime, engine):
    await api.post("/api/sessions", json={"name": "halted"})
    await wait_status(api, "halted", "FAILED")

    await api.post("/api/sessions/halted/stop")

    async def stopped() -> bool:
        return (await load("halted")).status == SessionStatus.STOPPED

    await wait_for(stopped, message="the FAILED session to be recorded STOPPED")
    assert "halted" not in runtime.slots
