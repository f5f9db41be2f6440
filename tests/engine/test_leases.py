"""Leases in a running engine: taken over only when expired, renewed while live, and a lost lease
ends the client. The claim itself is tested on the model (test_model_leases.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from ..conftest import wait_for, wait_status
from .conftest import MakeRuntime, create_row, load, update

TICKS = 0.6  # three reconcile ticks of the test runtimes


def in_seconds(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


@pytest.mark.django_db(transaction=True)
async def test_a_session_under_a_live_lease_of_another_worker_is_left_alone(
    api, patient_engine, make_runtime: MakeRuntime
):
    await create_row("taken", should_run=True, generation=1, owner="ghost",
                     lease_expires_at=in_seconds(60))

    await make_runtime("engine-a")
    await asyncio.sleep(TICKS)

    row = await load("taken")
    assert (row.owner, patient_engine.started["taken"]) == ("ghost", 0)


@pytest.mark.django_db(transaction=True)
async def test_an_expired_lease_is_taken_over(api, patient_engine, make_runtime: MakeRuntime):
    await create_row("orphan", should_run=True, generation=1, owner="ghost",
                     lease_expires_at=in_seconds(60))
    await make_runtime("engine-a")
    await asyncio.sleep(TICKS)
    assert patient_engine.started["orphan"] == 0

    await update("orphan", lease_expires_at=in_seconds(-1))  # the ghost stopped renewing

    await wait_status(api, "orphan", "SCAN_QR_CODE")
    row = await load("orphan")
    assert row.owner == "engine-a"
    assert row.lease_expires_at is not None and row.lease_expires_at > timezone.now()


@pytest.mark.django_db(transaction=True)
async def test_a_live_runtime_keeps_renewing_its_lease(api, patient_engine,
                                                        make_runtime: MakeRuntime):
    await make_runtime("engine-a", lease_seconds=1.0)
    await api.post("/api/sessions", json={"name": "kept"})
    await wait_status(api, "kept", "SCAN_QR_CODE")
    first = (await load("kept")).lease_expires_at
    assert first is not None

    async def renewed() -> bool:
        row = await load("kept")
        return row.lease_expires_at is not None and row.lease_expires_at > first

    await wait_for(renewed, timeout=2, message="the lease to be renewed")
    assert (await load("kept")).owner == "engine-a"


@pytest.mark.django_db(transaction=True)
async def test_a_runtime_that_loses_its_lease_stops_its_client(api, runtime, patient_engine):
    await api.post("/api/sessions", json={"name": "stolen"})
    await wait_status(api, "stolen", "SCAN_QR_CODE")
    assert "stolen" in patient_engine.live

    await update("stolen", owner="thief", lease_expires_at=in_seconds(60))

    async def ended() -> bool:
        return "stolen" not in patient_engine.live and "stolen" not in runtime.slots

    await wait_for(ended, timeout=3, message="the client to be stopped")
    assert patient_engine.live_count["stolen"] == 0
    assert (await load("stolen")).owner == "thief"


@pytest.mark.django_db(transaction=True)
async def test_a_second_runtime_waits_for_the_owner_and_takes_over_when_it_shuts_down(
    api, patient_engine, make_runtime: MakeRuntime
):
    first = await make_runtime("engine-a")
    await api.post("/api/sessions", json={"name": "handover"})
    await wait_status(api, "handover", "SCAN_QR_CODE")
    second = await make_runtime("engine-b")
    await asyncio.sleep(TICKS)
    assert "handover" not in second.slots
    assert (await load("handover")).owner == "engine-a"

    await first.shutdown()

    await wait_status(api, "handover", "SCAN_QR_CODE")
    assert (await load("handover")).owner == "engine-b"
    assert "handover" in second.slots
    assert patient_engine.peak_live["handover"] == 1
