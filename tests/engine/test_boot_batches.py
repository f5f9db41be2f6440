"""Boot and takeover claim sessions in batches (one UPDATE each), unless starts are spaced."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from sessions_app import runtime
from sessions_app.engines.fake import FakeEngine
from sessions_app.models import Session, SessionQuerySet, SessionStatus, SessionStatusChange

from ..conftest import wait_for
from .conftest import MakeRuntime, create_row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many claims of each kind were made (`claim`: one session, `claim_many`: a batch)."""
    counted: Counter[str] = Counter()
    for kind in ("claim", "claim_many"):
        original = getattr(SessionQuerySet, kind)

        def counting(self: SessionQuerySet, *args: Any, _original: Any = original,
                     _kind: str = kind, **kwargs: Any) -> Any:
            counted[_kind] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(SessionQuerySet, kind, counting)
    return counted


async def rows(count: int, **fields: Any) -> list[Session]:
    return [await create_row(f"s{n:02d}", should_run=True, generation=1, **fields)
            for n in range(count)]


async def all_scanning(names: list[str]) -> None:
    async def scanning() -> bool:
        return await Session.objects.filter(
            name__in=names, status=SessionStatus.SCAN_QR_CODE).acount() == len(names)

    await wait_for(scanning, message="every session to show a QR code", timeout=20)


async def test_boot_claims_its_sessions_one_batch_at_a_time(
    patient_engine: FakeEngine, make_runtime: MakeRuntime, claims: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(runtime, "BATCH_SIZE", 4)
    names = [row.name for row in await rows(10)]

    await make_runtime("engine-1")
    await all_scanning(names)

    assert claims == {"claim_many": 3}  # 4 + 4 + 2, and no session claimed on its own
    assert {name: patient_engine.started[name] for name in names} == dict.fromkeys(names, 1)
    owners = await database_sync_to_async(
        lambda: set(Session.objects.values_list("owner", flat=True)))()
    assert owners == {"engine-1"}


async def test_two_engines_booting_together_start_each_session_once(
    patient_engine: FakeEngine, make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(runtime, "BATCH_SIZE", 5)
    names = [row.name for row in await rows(20)]

    first, second = await asyncio.gather(make_runtime("engine-a"), make_runtime("engine-b"))
    await all_scanning(names)

    assert {name: patient_engine.started[name] for name in names} == dict.fromkeys(names, 1)
    assert set(first.slots).isdisjoint(second.slots)
    assert set(first.slots) | set(second.slots) == set(names)
    owners = await database_sync_to_async(lambda: dict(Session.objects.values_list(
        "name", "owner")))()
    assert owners == {**dict.fromkeys(first.slots, "engine-a"),
                      **dict.fromkeys(second.slots, "engine-b")}


async def test_a_start_delay_starts_one_session_at_a_time_spaced_by_it(
    patient_engine: FakeEngine, make_runtime: MakeRuntime, claims: Counter[str], settings,
):
    settings.AUTO_START_DELAY_SECONDS = 0.3
    names = [row.name for row in await rows(3)]

    await make_runtime("engine-1")
    await all_scanning(names)

    assert claims["claim_many"] == 0 and claims["claim"] >= 3
    starts = await database_sync_to_async(lambda: list(
        SessionStatusChange.objects.filter(status=SessionStatus.STARTING)
        .order_by("timestamp").values_list("timestamp", flat=True)))()
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(starts)]
    assert len(starts) == 3 and all(gap >= 0.3 for gap in gaps), gaps


async def test_an_engine_at_its_cap_claims_no_more_and_leaves_the_rest_to_another(
    patient_engine: FakeEngine, make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(runtime, "BATCH_SIZE", 4)
    names = [row.name for row in await rows(10)]
    capped = await make_runtime("engine-a", start=False)
    capped.max_sessions = 6

    await capped.start()
    owners = await database_sync_to_async(lambda: Counter(Session.objects.values_list(
        "owner", flat=True)))()
    assert (len(capped.slots), owners) == (6, {"engine-a": 6, "": 4})

    other = await make_runtime("engine-b")
    await all_scanning(names)
    assert (len(capped.slots), len(other.slots)) == (6, 4)
    assert {name: patient_engine.started[name] for name in names} == dict.fromkeys(names, 1)


async def test_a_batch_claim_lost_before_the_start_starts_nothing(
    patient_engine: FakeEngine, make_runtime: MakeRuntime,
):
    # The batch claimed it, then (say) a stop released it and another engine took it: the row,
    # read under the session's lock, is what decides.
    until = timezone.now() + timedelta(seconds=30)
    row = await create_row("taken", should_run=True, generation=1, owner="engine-b",
                           lease_expires_at=until)
    rt = await make_runtime("engine-a", start=False)

    assert not await rt.reconcile("taken", {row.uid})
    assert patient_engine.started["taken"] == 0
    assert (await database_sync_to_async(Session.objects.get)(name="taken")).owner == "engine-b"
