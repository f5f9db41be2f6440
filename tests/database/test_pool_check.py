"""The PostgreSQL pool's check (`waha_project/postgresql/base.py`): a connection that broke
while idle in the pool is replaced, not lent; a sound one is lent without a round trip."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.database.children import BACKEND_OF_A_CALL
from tests.support.live_server import PROJECT_ROOT, clean_environment
from tests.support.stack import PG_ADMIN_URL, ThrowawayDatabase
from waha_project.postgresql.base import check_if_readable


@pytest.fixture()
def pool() -> Iterator[ConnectionPool]:
    made = ConnectionPool(PG_ADMIN_URL, min_size=1, max_size=1, open=True,
                          check=check_if_readable)
    try:
        yield made
    finally:
        made.close()


def backend_of(pool: ConnectionPool) -> int:
    with pool.connection() as connection:
        answer = connection.execute("SELECT pg_backend_pid()").fetchone()
    assert answer is not None
    return int(answer[0])


def terminate(*pids: int) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the backend closes its socket a moment after the call answers


def test_a_connection_that_broke_while_idle_is_replaced_not_lent(pool: ConnectionPool):
    first = backend_of(pool)
    terminate(first)

    assert backend_of(pool) != first  # checked, dropped, and a new one lent and working


def test_a_sound_idle_connection_is_lent_without_a_round_trip(pool: ConnectionPool):
    first = backend_of(pool)
    with mock.patch.object(ConnectionPool, "check_connection",
                           wraps=ConnectionPool.check_connection) as round_trip:
        assert backend_of(pool) == first
        assert round_trip.call_count == 0
        terminate(first)
        second = backend_of(pool)
        assert round_trip.call_count == 1  # the broken one was asked, and failed

    assert second != first


# Django's connection through the product's settings: the backend and its pool's check, and a
# query after every pooled connection was closed by the server.
CHILD = """
import json, time
import django
django.setup()
import psycopg
""" + BACKEND_OF_A_CALL + """
first = backend()
time.sleep(0.5)  # the pool opens its other connection in the background
with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
    killed = admin.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    admin.execute("SELECT 1")
time.sleep(0.2)
print(json.dumps({"engine": connection.settings_dict["ENGINE"], "vendor": connection.vendor,
                  "killed": killed, "first": first, "after": [backend() for _ in range(4)]}))
"""


def test_the_product_on_postgresql_queries_on_after_its_pooled_connections_are_closed(
        tmp_path: Path):
    database = ThrowawayDatabase("waha_pool").create()
    try:
        env = clean_environment({
            "DJANGO_SETTINGS_MODULE": "waha_project.settings",
            "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path),
            "WAHA_API_KEY": "pool-check-key-7e2a",
            "DATABASE_URL": database.url,
        })
        code = CHILD.replace("current_database()", f"'{database.name}'")
        done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    finally:
        database.drop()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert (result["engine"], result["vendor"]) == ("waha_project.postgresql", "postgresql")
    assert result["killed"] >= 1
    assert result["first"] not in result["after"]  # every answer came from a new connection
