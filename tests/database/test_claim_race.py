"""On PostgreSQL, engines that claim overlapping batches of sessions at the same moment each
win sessions no other engine won: the claim stays one conditional UPDATE."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import PROJECT_ROOT, clean_environment
from tests.support.stack import ThrowawayDatabase

WORKERS = 4
ROUNDS = 5

# Each round: every session released, then WORKERS threads (their own connections) claim an
# overlapping, shuffled part of them at once. Prints what each worker asked for and won.
CHILD = f"""
import json, random, threading
from concurrent.futures import ThreadPoolExecutor
import django
django.setup()
from django.db import connection
from django.utils import timezone
from sessions_app.models import Session

uids = [Session.objects.create(name=f"s{{n:03d}}", should_run=True).uid for n in range(200)]
rounds = []
for round_ in range({ROUNDS}):
    Session.objects.update(owner="", lease_expires_at=None)
    rng = random.Random(round_)
    asks = {{f"engine-{{w}}": rng.sample(uids, 120) for w in range({WORKERS})}}
    ready = threading.Barrier({WORKERS})
    now = timezone.now()

    def claim(worker_id):
        try:
            ready.wait()
            return sorted(Session.objects.claim_many(asks[worker_id], worker_id, now, 30))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers={WORKERS}) as pool:
        won = dict(zip(asks, pool.map(claim, asks)))
    owners = dict(Session.objects.values_list("uid", "owner"))
    rounds.append({{"asks": asks, "won": won, "owners": owners}})
print(json.dumps(rounds))
"""


@pytest.fixture
def database() -> Iterator[ThrowawayDatabase]:
    made = ThrowawayDatabase("waha_claims").create()
    try:
        yield made
    finally:
        made.drop()


def test_overlapping_batch_claims_on_postgresql_win_disjoint_sets(
        database: ThrowawayDatabase, tmp_path: Path):
    env = clean_environment({
        "DJANGO_SETTINGS_MODULE": "waha_project.settings",
        "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path),
        "WAHA_API_KEY": "claim-race-key-7d2e",
        "DATABASE_URL": database.url,
    })
    database.migrate(env)
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr

    for round_ in json.loads(done.stdout):
        won = {worker: set(uids) for worker, uids in round_["won"].items()}
        asked = set().union(*(set(uids) for uids in round_["asks"].values()))
        claimed = [uid for uids in won.values() for uid in uids]
        assert len(claimed) == len(set(claimed)), "a session was won by two workers"
        assert set(claimed) == asked
        for worker, uids in won.items():
            assert {uid for uid, owner in round_["owners"].items() if owner == worker} == uids
