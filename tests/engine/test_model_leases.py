"""Leases and engine registration on the models: one conditional UPDATE each, no event loop."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from sessions_app.models import EngineProcess, Session

LEASE = 30.0


def later(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def owner_of(name: str) -> str:
    return Session.objects.get(name=name).owner


@pytest.mark.django_db
def test_of_two_workers_only_the_first_claims_a_session() -> None:
    session = Session.objects.create(name="contested", should_run=True)
    now = timezone.now()

    won = [Session.objects.claim(session.uid, "engine-a", now, LEASE),
           Session.objects.claim(session.uid, "engine-b", now, LEASE)]

    assert won == [True, False]
    assert owner_of("contested") == "engine-a"


@pytest.mark.django_db
def test_the_owner_renews_its_claim_and_pushes_the_lease() -> None:
    session = Session.objects.create(name="mine", should_run=True)
    now = timezone.now()
    Session.objects.claim(session.uid, "engine-a", now, LEASE)

    assert Session.objects.claim(session.uid, "engine-a", later(now, 10), LEASE)

    session.refresh_from_db()
    assert session.lease_expires_at == later(now, 10 + LEASE)


@pytest.mark.django_db
def test_an_expired_lease_is_claimable_by_another_worker() -> None:
    session = Session.objects.create(name="orphan", should_run=True)
    now = timezone.now()
    Session.objects.claim(session.uid, "engine-a", now, LEASE)

    before = Session.objects.claim(session.uid, "engine-b", later(now, LEASE - 1), LEASE)
    after = Session.objects.claim(session.uid, "engine-b", later(now, LEASE + 1), LEASE)
    back = Session.objects.claim(session.uid, "engine-a", later(now, LEASE + 1), LEASE)

    assert (before, after, back) == (False, True, False)
    assert owner_of("orphan") == "engine-b"


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_simultaneous_claims_wins() -> None:
    session = Session.objects.create(name="rush", should_run=True)
    now = timezone.now()

    def claim(worker_id: str) -> bool:
        try:
            return Session.objects.claim(session.uid, worker_id, now, LEASE)
        finally:
            connection.close()  # each claim ran on its own thread's connection

    workers = [f"engine-{n}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        won = list(pool.map(claim, workers))

    assert won.count(True) == 1
    assert owner_of("rush") == workers[won.index(True)]


@pytest.mark.django_db
def test_claim_many_takes_every_claimable_session_in_one_update() -> None:
    now = timezone.now()
    live, expired = later(now, LEASE), later(now, -1)
    rows = {
        "unowned": Session.objects.create(name="unowned", should_run=True),
        "mine": Session.objects.create(name="mine", owner="engine-a", lease_expires_at=live),
        "expired": Session.objects.create(name="expired", owner="engine-b",
                                          lease_expires_at=expired),
        "others": Session.objects.create(name="others", owner="engine-b", lease_expires_at=live),
    }
    Session.objects.create(name="not-asked", should_run=True)

    won = Session.objects.claim_many([row.uid for row in rows.values()], "engine-a",
                                     later(now, 1), LEASE)

    assert won == {rows[name].uid for name in ("unowned", "mine", "expired")}
    leases = {row.name: (row.owner, row.lease_expires_at) for row in Session.objects.all()}
    assert leases == {
        "unowned": ("engine-a", later(now, 1 + LEASE)),
        "mine": ("engine-a", later(now, 1 + LEASE)),
        "expired": ("engine-a", later(now, 1 + LEASE)),
        "others": ("engine-b", live),
        "not-asked": ("", None),
    }
    assert Session.objects.claim_many([], "engine-a", now, LEASE) == set()


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_the_same_sessions_at_once_win_disjoint_sets() -> None:
    uids = [Session.objects.create(name=f"s{n:02d}", should_run=True).uid for n in range(40)]
    now = timezone.now()
    # Overlapping asks, in different orders: a takes 0-29, b takes 10-39 backwards.
    asks = {"engine-a": uids[:30], "engine-b": uids[10:][::-1]}
    ready = threading.Barrier(len(asks))

    def claim(worker_id: str) -> set[str]:
        try:
            ready.wait()
            return Session.objects.claim_many(asks[worker_id], worker_id, now, LEASE)
        finally:
            connection.close()  # each claim ran on its own thread's connection

    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        won = dict(zip(asks, pool.map(claim, asks), strict=True))

    assert not won["engine-a"] & won["engine-b"]
    assert won["engine-a"] | won["engine-b"] == set(uids)
    owners = dict(Session.objects.values_list("uid", "owner"))
    assert {uid for uid, owner in owners.items() if owner == "engine-a"} == won["engine-a"]
    assert {uid for uid, owner in owners.items() if owner == "engine-b"} == won["engine-b"]


@pytest.mark.django_db
def test_only_the_owner_releases_a_lease() -> None:
    session = Session.objects.create(name="held", should_run=True)
    Session.objects.claim(session.uid, "engine-a", timezone.now(), LEASE)

    by_other = Session.objects.release(session.uid, "engine-b")
    assert (by_other, owner_of("held")) == (False, "engine-a")

    by_owner = Session.objects.release(session.uid, "engine-a")
    session.refresh_from_db()
    assert by_owner and (session.owner, session.lease_expires_at) == ("", None)


@pytest.mark.django_db
def test_release_all_hands_back_every_lease_of_one_worker_only() -> None:
    until = later(timezone.now(), LEASE)
    for name, owner in (("a1", "engine-a"), ("a2", "engine-a"), ("b1", "engine-b")):
        Session.objects.create(name=name, owner=owner, lease_expires_at=until)

    assert Session.objects.release_all("engine-a") == 2

    assert dict(Session.objects.values_list("name", "owner")) == {
        "a1": "", "a2": "", "b1": "engine-b"}


@pytest.mark.django_db
def test_candidates_are_claimable_sessions_that_want_work_and_the_workers_own() -> None:
    now = timezone.now()
    live, expired = later(now, LEASE), later(now, -1)
    Session.objects.create(name="unowned-running", should_run=True)
    Session.objects.create(name="unowned-stopped", should_run=False)
    Session.objects.create(name="unowned-logout", should_run=False, logout_pending=True)
    Session.objects.create(name="mine-stopped", owner="engine-a", lease_expires_at=live)
    Session.objects.create(name="others-live", should_run=True, owner="engine-b",
                           lease_expires_at=live)
    Session.objects.create(name="others-expired", should_run=True, owner="engine-b",
                           lease_expires_at=expired)

    names = set(Session.objects.candidates("engine-a", now).values_list("name", flat=True))

    assert names == {"unowned-running", "unowned-logout", "mine-stopped", "others-expired"}


@pytest.mark.django_db
def test_renew_pushes_the_workers_own_leases_and_names_its_sessions() -> None:
    now = timezone.now()
    Session.objects.create(name="a1", owner="engine-a", lease_expires_at=later(now, 1))
    Session.objects.create(name="a2", owner="engine-a", lease_expires_at=later(now, 2))
    Session.objects.create(name="b1", owner="engine-b", lease_expires_at=later(now, 3))

    owned = Session.objects.renew("engine-a", later(now, LEASE))

    assert owned == {"a1", "a2"}
    leases = dict(Session.objects.values_list("name", "lease_expires_at"))
    assert leases == {"a1": later(now, LEASE), "a2": later(now, LEASE), "b1": later(now, 3)}


@pytest.mark.django_db
def test_a_device_from_an_engine_that_lost_the_session_is_dropped() -> None:
    session = Session.objects.create(name="fenced", owner="engine-b")

    assert not Session.objects.set_device(session.uid, "111:1@s.whatsapp.net",
                                          owner="engine-a")
    assert Session.objects.set_device(session.uid, "222:1@s.whatsapp.net", owner="engine-b")

    session.refresh_from_db()
    assert session.device_jid == "222:1@s.whatsapp.net"


@pytest.mark.django_db
def test_the_boot_rules_ask_stopped_sessions_to_run() -> None:
    Session.objects.create(name="stopped", should_run=False)
    Session.objects.create(name="running", should_run=True)

    assert Session.objects.filter(name__in=["stopped", "running"]).want_running() == 1
    assert set(Session.objects.filter(should_run=True).values_list("name", flat=True)) == {
        "stopped", "running"}


# --- engine processes: one live process per worker id -------------------------------------------
def register(worker_id: str, pid: int, now: datetime,
             hostname: str = "elsewhere") -> EngineProcess | None:
    return EngineProcess.objects.register(worker_id, engine="fake", hostname=hostname, pid=pid,
                                          now=now)


@pytest.mark.django_db
def test_a_live_process_keeps_its_id_from_a_second_one() -> None:
    now = timezone.now()
    assert register("engine-a", 100, now) is None

    holder = register("engine-a", 200, later(now, 1))

    assert holder is not None and holder.pid == 100


@pytest.mark.django_db
def test_an_id_whose_process_stopped_beating_is_taken_over(settings) -> None:
    settings.LEASE_SECONDS, settings.RECONCILE_SECONDS = LEASE, 1.0
    now = timezone.now()
    register("engine-a", 100, now)

    assert register("engine-a", 200, later(now, LEASE + 1)) is None
    assert EngineProcess.objects.get(worker_id="engine-a").pid == 200


@pytest.mark.django_db
def test_an_id_left_by_an_exited_process_on_this_host_is_taken_over_at_once() -> None:
    now = timezone.now()
    exited = _exited_pid()
    register("engine-a", exited, now, hostname=socket.gethostname())

    assert register("engine-a", os.getpid(), now, hostname=socket.gethostname()) is None


@pytest.mark.django_db
def test_a_beat_says_when_another_process_took_the_id_and_registers_again_when_removed() -> None:
    now = timezone.now()
    register("engine-a", 100, now)

    def beat(pid: int) -> bool:
        return EngineProcess.objects.beat("engine-a", engine="fake", hostname="elsewhere",
                                          pid=pid, now=later(now, 5))

    assert beat(100)
    assert EngineProcess.objects.get(worker_id="engine-a").heartbeat_at == later(now, 5)
    assert not beat(200)
    EngineProcess.objects.filter(worker_id="engine-a").delete()
    assert beat(200)
    assert EngineProcess.objects.get(worker_id="engine-a").pid == 200


def _exited_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
