"""The real neonize engine with DATABASE_URL on PostgreSQL: whatsmeow keeps every session's auth
state in that database's tables, never in a SQLite file of the data directory.

`manage.py serve` runs as a child on a throw-away PostgreSQL database (Django's tables and
whatsmeow's in the same one, as in production) and is driven over HTTP; rows are read and
written with plain psycopg. With no internet here a started session fails at once with the
dial error: a real path. Paired devices cannot be made without WhatsApp, so a device is written
into whatsmeow's tables as a phone's pairing would have left it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.move_data.helpers import device_row
from tests.support.live_server import LiveServer
from tests.support.stack import ThrowawayDatabase

pytestmark = pytest.mark.timeout(300)

DIAL_ERROR = "failed to dial whatsapp web websocket"
# whatsmeow's driver (Go's lib/pq) requires TLS unless the URL says otherwise; this server has
# none, as many local ones.
NO_TLS = "?sslmode=disable"


def start_server(data_dir: Path, database_url: str) -> LiveServer:
    server = LiveServer(data_dir, env={"DATABASE_URL": database_url}, engine="neonize")
    try:
        return server.start(timeout=90)
    except Exception:
        server.kill()
        raise


@pytest.fixture(scope="module")
def database() -> Iterator[ThrowawayDatabase]:
    db = ThrowawayDatabase(prefix="waha_neonize_pg").create()
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(scope="module")
def server(database: ThrowawayDatabase, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[LiveServer]:
    started = start_server(tmp_path_factory.mktemp("neonize-pg") / "data",
                           database.url + NO_TLS)
    try:
        yield started
    finally:
        started.terminate(timeout=30)
        started.kill()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def wait_status(api: httpx.Client, name: str, status: str, server: LiveServer,
                timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = api.get(f"/api/sessions/{name}").json()
        if seen.get("status") == status:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{name} never reached {status}; last seen {seen}\n{server.output()}")


def rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]


def statuses(url: str, name: str) -> list[str]:
    return [status for (status,) in rows(
        url, "SELECT c.status FROM sessions_app_sessionstatuschange c JOIN sessions_app_session "
             "s ON s.id = c.session_id WHERE s.name = %s ORDER BY c.timestamp, c.id", (name,))]


def whatsmeow_tables(url: str) -> set[str]:
    return {name for (name,) in rows(
        url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
             "AND table_name LIKE 'whatsmeow%%'")}


def link_device(url: str, session: str, jid: str, seed: int) -> None:
    """What pairing leaves: whatsmeow's device row and keys, and the JID on the session."""
    device = device_row(jid, seed)
    with psycopg.connect(url) as conn:
        conn.execute(f"INSERT INTO whatsmeow_device ({', '.join(device)}) "  # type: ignore[arg-type]
                     f"VALUES ({', '.join(['%s'] * len(device))})", tuple(device.values()))
        for key_id in (1, 2, 3):
            conn.execute("INSERT INTO whatsmeow_pre_keys (jid, key_id, key, uploaded) "
                         "VALUES (%s, %s, %s, true)", (jid, key_id, bytes([key_id]) * 32))
        conn.execute("INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) "
                     "VALUES (%s, '15550001111.0:0', %s)", (jid, bytes([seed]) * 32))
        conn.execute("UPDATE sessions_app_session SET device_jid = %s WHERE name = %s",
                     (jid, session))


def device_rows(url: str, jid: str) -> dict[str, int]:
    counted = {}
    for table, column in (("whatsmeow_device", "jid"), ("whatsmeow_pre_keys", "jid"),
                          ("whatsmeow_identity_keys", "our_jid")):
        [(count,)] = rows(url, f"SELECT count(*) FROM {table} WHERE {column} = %s", (jid,))
        counted[table] = int(count)
    return counted


NONE_LEFT = {"whatsmeow_device": 0, "whatsmeow_pre_keys": 0, "whatsmeow_identity_keys": 0}
ALL_THERE = {"whatsmeow_device": 1, "whatsmeow_pre_keys": 3, "whatsmeow_identity_keys": 1}


def test_a_started_session_fails_with_the_dial_error_and_whatsmeow_lives_in_postgresql(
        api: httpx.Client, server: LiveServer, database: ThrowawayDatabase) -> None:
    created = api.post("/api/sessions", json={"name": "pg-offline"})
    assert created.status_code == 201, created.text

    info = wait_status(api, "pg-offline", "FAILED", server)

    assert DIAL_ERROR in info["engine"]["lastError"]
    assert info["engine"]["lastError"].startswith("Could not reach WhatsApp")
    assert statuses(database.url, "pg-offline")[-2:] == ["STARTING", "FAILED"]
    assert {"whatsmeow_device", "whatsmeow_pre_keys", "whatsmeow_sessions",
            "whatsmeow_identity_keys", "whatsmeow_version"} <= whatsmeow_tables(database.url)
    assert list(server.data_dir.rglob("*.sqlite3")) == []


def test_deleting_a_stopped_session_removes_its_device_rows_and_no_others(
        api: httpx.Client, server: LiveServer, database: ThrowawayDatabase) -> None:
    for name in ("to-delete", "neighbour"):
        assert api.post("/api/sessions", json={"name": name, "start": False}).status_code == 201
    api.post("/api/sessions", json={"name": "tables-maker"})  # whatsmeow creates its tables
    wait_status(api, "tables-maker", "FAILED", server)
    link_device(database.url, "to-delete", "15550000101:2@s.whatsapp.net", 11)
    link_device(database.url, "neighbour", "15550000102:2@s.whatsapp.net", 12)

    deleted = api.delete("/api/sessions/to-delete")

    assert deleted.status_code == 200, deleted.text
    assert device_rows(database.url, "15550000101:2@s.whatsapp.net") == NONE_LEFT
    assert device_rows(database.url, "15550000102:2@s.whatsapp.net") == ALL_THERE


def test_deleting_a_running_session_removes_its_device_rows(
        api: httpx.Client, server: LiveServer, database: ThrowawayDatabase) -> None:
    api.post("/api/sessions", json={"name": "tables-maker-2"})
    wait_status(api, "tables-maker-2", "FAILED", server)
    assert api.post("/api/sessions", json={"name": "running", "start": False}).status_code == 201
    link_device(database.url, "running", "15550000103:2@s.whatsapp.net", 13)
    assert api.post("/api/sessions/running/start").status_code == 201
    wait_status(api, "running", "FAILED", server)  # still owned by the engine: should_run

    deleted = api.delete("/api/sessions/running")

    assert deleted.status_code == 200, deleted.text
    deadline = time.monotonic() + 30
    while device_rows(database.url, "15550000103:2@s.whatsapp.net") != NONE_LEFT:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)


def test_logging_out_a_running_session_removes_its_device_rows(
        api: httpx.Client, server: LiveServer, database: ThrowawayDatabase) -> None:
    api.post("/api/sessions", json={"name": "tables-maker-4"})
    wait_status(api, "tables-maker-4", "FAILED", server)
    assert api.post("/api/sessions", json={"name": "running-logout", "start": False}
                    ).status_code == 201
    link_device(database.url, "running-logout", "15550000105:2@s.whatsapp.net", 15)
    assert api.post("/api/sessions/running-logout/start").status_code == 201
    wait_status(api, "running-logout", "FAILED", server)

    logged_out = api.post("/api/sessions/running-logout/logout")

    assert logged_out.status_code == 201, logged_out.text
    deadline = time.monotonic() + 30
    while device_rows(database.url, "15550000105:2@s.whatsapp.net") != NONE_LEFT:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)


def test_logging_out_a_stopped_session_removes_its_device_rows(
        api: httpx.Client, server: LiveServer, database: ThrowawayDatabase) -> None:
    api.post("/api/sessions", json={"name": "tables-maker-3"})
    wait_status(api, "tables-maker-3", "FAILED", server)
    assert api.post("/api/sessions", json={"name": "to-logout", "start": False}
                    ).status_code == 201
    link_device(database.url, "to-logout", "15550000104:2@s.whatsapp.net", 14)

    logged_out = api.post("/api/sessions/to-logout/logout")

    assert logged_out.status_code == 201, logged_out.text
    assert device_rows(database.url, "15550000104:2@s.whatsapp.net") == NONE_LEFT


def test_a_database_url_without_sslmode_works_for_whatsmeow_as_for_django(
        tmp_path: Path) -> None:
    db = ThrowawayDatabase(prefix="waha_neonize_pg").create()
    server = None
    try:
        server = start_server(tmp_path / "data", db.url)
        with server.client() as api:
            api.post("/api/sessions", json={"name": "plain-url"})
            info = wait_status(api, "plain-url", "FAILED", server)
        assert DIAL_ERROR in info["engine"]["lastError"], info["engine"]["lastError"]
        assert "whatsmeow_device" in whatsmeow_tables(db.url)
    finally:
        if server is not None:
            server.terminate(timeout=30)
            server.kill()
        db.drop()
