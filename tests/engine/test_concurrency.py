"""Many parallel start/stop/restart/logout calls leave one consistent session, never two clients."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable, Iterable

import httpx
import pytest

from sessions_app.engines.fake import FakeClient, FakeEngine
from sessions_app.models import SessionStatus
from sessions_app.runtime import EngineRuntime

from ..conftest import wait_for
from .conftest import MakeRuntime, load

ACTIONS = ("start", "stop", "restart", "logout")


def shuffled_calls(names: list[str], count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(rng.choice(names), rng.choice(ACTIONS)) for _ in range(count)]


async def fire(api: httpx.AsyncClient, calls: Iterable[tuple[str, str]]) -> None:
    answers = await asyncio.gather(
        *(api.post(f"/api/sessions/{name}/{action}") for name, action in calls)
    )
    assert [a.status_code for a in answers] == [201] * len(answers), [a.text for a in answers]


async def live_first(api: httpx.AsyncClient, names: list[str], engines: list[FakeEngine]) -> None:
    """Start every session and wait for its client, so that a round races live clients."""
    for name in names:
        answer = await api.post(f"/api/sessions/{name}/start")
        assert answer.status_code == 201, answer.text

    async def all_live() -> bool:
        return all(sum(e.live_count[name] for e in engines) == 1 for name in names)

    await wait_for(all_live, timeout=10, message="every session to be live before the round")


def watch_combined_peak(engines: list[FakeEngine]) -> dict[str, int]:
    """Record, at every client start, how many clients of that session are live across engines."""
    peak: dict[str, int] = defaultdict(int)

    def counting(went_live: Callable[[FakeClient], None]) -> Callable[[FakeClient], None]:
        def counted(client: FakeClient) -> None:
            went_live(client)
            name = client.spec.name
            peak[name] = max(peak[name], sum(e.live_count[name] for e in engines))

        return counted

    for one in engines:
        one._went_live = counting(one._went_live)  # type: ignore[method-assign]
    return peak


async def mismatch(api: httpx.AsyncClient, name: str, engines: list[FakeEngine],
                   runtimes: list[EngineRuntime]) -> str:
    """Why the row, the API answer, the engines and the runtimes disagree; "" when they agree."""
    row = await load(name)
    answer = (await api.get(f"/api/sessions/{name}")).json()
    live = [e.live[name] for e in engines if name in e.live]
    live_count = sum(e.live_count[name] for e in engines)
    holders = [rt for rt in runtimes if name in rt.slots]
    state = (f"{name}: should_run={row.should_run} status={row.status} api={answer['status']} "
             f"gen={row.generation}/{row.applied_generation} logout_pending={row.logout_pending} "
             f"owner={row.owner!r} live={live_count} slots={[rt.worker_id for rt in holders]}")
    if row.logout_pending:
        return state
    if row.should_run:
        ok = (
            row.generation == row.applied_generation
            and row.status in {SessionStatus.STARTING, SessionStatus.SCAN_QR_CODE}
            and answer["status"] == row.status
            and len(live) == 1 and live_count == 1 and live[0].alive
            and len(holders) == 1 and holders[0].slots[name].client is live[0]
            and row.owner == holders[0].worker_id
        )
    else:
        ok = (
            row.status == SessionStatus.STOPPED
            and answer["status"] == SessionStatus.STOPPED
            and not live and live_count == 0
            and not holders
            and row.owner == ""
        )
    return "" if ok else state


async def settle(api: httpx.AsyncClient, names: list[str], engines: list[FakeEngine],
                 runtimes: list[EngineRuntime]) -> None:
    last: list[str] = []

    async def consistent() -> bool:
        nonlocal last
        last = [m for name in names if (m := await mismatch(api, name, engines, runtimes))]
        return not last

    try:
        await wait_for(consistent, timeout=10, message="sessions to settle")
    except AssertionError:
        raise AssertionError("never settled:\n" + "\n".join(last)) from None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", [7, 2024])
async def test_parallel_calls_on_one_session_end_consistent_with_one_client_at_most(
    api, runtime, patient_engine, seed
):
    await api.post("/api/sessions", json={"name": "busy"})
    for round_seed in (seed, seed + 1):
        await live_first(api, ["busy"], [patient_engine])
        await fire(api, shuffled_calls(["busy"], 80, round_seed))
        await settle(api, ["busy"], [patient_engine], [runtime])
    assert patient_engine.peak_live["busy"] == 1
    assert patient_engine.started["busy"] > 1


@pytest.mark.django_db(transaction=True)
async def test_parallel_calls_ending_in_stop_leave_the_session_stopped_everywhere(
    api, runtime, patient_engine
):
    await api.post("/api/sessions", json={"name": "calm"})
    await live_first(api, ["calm"], [patient_engine])
    await fire(api, shuffled_calls(["calm"], 60, 99))
    await fire(api, [("calm", "stop")])
    await settle(api, ["calm"], [patient_engine], [runtime])
    assert (await load("calm")).should_run is False
    assert patient_engine.peak_live["calm"] == 1


@pytest.mark.django_db(transaction=True)
async def test_parallel_calls_ending_in_start_leave_exactly_one_live_client(
    api, runtime, patient_engine
):
    await api.post("/api/sessions", json={"name": "eager", "start": False})
    await fire(api, shuffled_calls(["eager"], 60, 5))
    await fire(api, [("eager", "start")])
    await settle(api, ["eager"], [patient_engine], [runtime])
    assert (await load("eager")).should_run is True
    assert patient_engine.peak_live["eager"] == 1


@pytest.mark.django_db(transaction=True)
async def test_two_runtimes_sharing_one_engine_never_run_a_session_twice(
    api, patient_engine, make_runtime: MakeRuntime
):
    names = ["s1", "s2", "s3"]
    first = await make_runtime("engine-a")
    second = await make_runtime("engine-b")
    for name in names:
        await api.post("/api/sessions", json={"name": name})
    for round_seed in (11, 12):
        await live_first(api, names, [patient_engine])
        await fire(api, shuffled_calls(names, 90, round_seed))
        await settle(api, names, [patient_engine], [first, second])
    for name in names:
        assert patient_engine.peak_live[name] == 1, name


@pytest.mark.django_db(transaction=True)
async def test_two_runtimes_with_separate_engines_never_run_a_session_twice(
    api, patient_engine, make_runtime: MakeRuntime
):
    other = FakeEngine(patient_engine.auth_dir, qr_first=60.0, qr_next=60.0, qr_codes=3)
    engines = [patient_engine, other]
    peak = watch_combined_peak(engines)
    names = ["t1", "t2", "t3", "t4"]
    first = await make_runtime("engine-a")
    second = await make_runtime("engine-b", engine=other)
    for name in names:
        await api.post("/api/sessions", json={"name": name})
    for round_seed in (21, 22):
        await live_first(api, names, engines)
        await fire(api, shuffled_calls(names, 100, round_seed))
        await settle(api, names, engines, [first, second])
    assert set(peak) == set(names)
    assert max(peak.values()) == 1, dict(peak)


@pytest.mark.django_db(transaction=True)
async def test_parallel_deletes_and_creates_never_leave_an_orphan_client(
    api, runtime, patient_engine
):
    rng = random.Random(42)
    for _ in range(3):
        await api.post("/api/sessions", json={"name": "phoenix"})
        await live_first(api, ["phoenix"], [patient_engine])
        calls = []
        for _ in range(60):
            verb = rng.choice(["create", "delete", "start", "stop", "logout"])
            if verb == "create":
                calls.append(api.post("/api/sessions", json={"name": "phoenix"}))
            elif verb == "delete":
                calls.append(api.delete("/api/sessions/phoenix"))
            else:
                calls.append(api.post(f"/api/sessions/phoenix/{verb}"))
        answers = await asyncio.gather(*calls)
        assert {a.status_code for a in answers} <= {200, 201, 404, 422}

        async def settled() -> bool:
            exists = (await api.get("/api/sessions/phoenix")).status_code == 200
            if exists:
                return not await mismatch(api, "phoenix", [patient_engine], [runtime])
            return patient_engine.live_count["phoenix"] == 0 and not runtime.slots

        await wait_for(settled, timeout=10, message="phoenix to settle")
    assert patient_engine.peak_live["phoenix"] == 1
