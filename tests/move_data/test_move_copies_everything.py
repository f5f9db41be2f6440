"""Every table of the embedded database arrives row for row, keys kept; the sequences go on
after the copied rows; leases are cleared; each session's whatsmeow SQLite file lands in
whatsmeow's PostgreSQL tables, where the neonize engine finds the session's device."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.contrib.auth.hashers import check_password

from sessions_app.engines.base import SessionSpec
from sessions_app.engines.neonize_engine import NeonizeEngine, parse_jid
from tests.engine_neonize.conftest import Recorder
from tests.support.stack import ThrowawayDatabase

from .conftest import DASHBOARD_PASSWORD, Embedded
from .helpers import embedded_db, move, pg_count, pg_rows, sqlite_count, sqlite_tables

pytestmark = pytest.mark.timeout(300)
# Changed on the way, and checked on their own below: the old topology's ownership is cleared
# (the first new engine claims the session), a missing device JID is taken from the auth state.
CHANGED = {("sessions_app_session", "owner"), ("sessions_app_session", "lease_expires_at"),
           ("sessions_app_session", "device_jid")}


def as_in_postgres(value: Any, like: Any) -> Any:
    """A value read from SQLite, in the form psycopg gives the same column."""
    if value is None or like is None:
        return value
    if isinstance(like, datetime):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if isinstance(like, bool):
        return bool(value)
    if isinstance(like, dict | list):
        return json.loads(value)
    return value


def table_rows(data_dir: Path, url: str, table: str) -> tuple[list[Any], list[Any]]:
    """(SQLite rows, PostgreSQL rows) of one table, both in PostgreSQL's form, by first column."""
    with closing(sqlite3.connect(data_dir / "waha.sqlite3")) as db:
        cursor = db.execute(f'SELECT * FROM "{table}" ORDER BY 1')
        columns = [d[0] for d in cursor.description]
        embedded = cursor.fetchall()
    with psycopg.connect(url) as conn:
        moved = conn.execute(f'SELECT {", ".join(columns)} FROM "{table}" ORDER BY 1').fetchall()
    kept = [i for i, column in enumerate(columns) if (table, column) not in CHANGED]
    if len(embedded) != len(moved):
        return embedded, moved
    before = [[as_in_postgres(old[i], new[i]) for i in kept]
              for old, new in zip(embedded, moved, strict=True)]
    return before, [[new[i] for i in kept] for new in moved]


def test_every_table_arrives_row_for_row_with_its_keys(embedded: Embedded,
                                                       target: ThrowawayDatabase) -> None:
    done = move(embedded.data_dir, target.url)

    assert done.returncode == 0, done.stdout + done.stderr
    tables = sqlite_tables(embedded.data_dir)
    assert {"sessions_app_session", "sessions_app_sessionstatuschange", "sessions_app_chat",
            "sessions_app_storedmessage", "webhooks_app_webhook", "webhooks_app_delivery",
            "webhooks_app_deliveryattempt", "auth_user", "auth_permission"} <= set(tables)
    for table in tables:
        before, after = table_rows(embedded.data_dir, target.url, table)
        assert before == after, table
        count = sqlite_count(embedded.data_dir, table)
        assert re.search(rf"^  {table}\s+{count}$", done.stdout, re.MULTILINE), done.stdout
    assert sqlite_count(embedded.data_dir, "sessions_app_storedmessage") == 3
    assert sqlite_count(embedded.data_dir, "webhooks_app_deliveryattempt") >= 6


def test_sessions_lose_their_old_leases_and_keep_what_people_set(embedded: Embedded,
                                                                 target: ThrowawayDatabase
                                                                 ) -> None:
    assert move(embedded.data_dir, target.url).returncode == 0

    rows = pg_rows(target.url, "SELECT name, owner, lease_expires_at, should_run, config "
                               "FROM sessions_app_session ORDER BY name")
    assert [(name, owner, lease) for name, owner, lease, *_ in rows] == [
        ("alpha", "", None), ("beta", "", None), ("gamma", "", None)]
    assert [(name, should_run) for name, _, _, should_run, _ in rows] == [
        ("alpha", True), ("beta", False), ("gamma", False)]
    alpha_config = rows[0][4]
    assert alpha_config["metadata"] == {"team": "sales", "region": "eu"}
    assert alpha_config["webhooks"][0]["hmac"] == {"key": "alpha-hmac-secret"}
    [(password,)] = pg_rows(target.url, "SELECT password FROM auth_user WHERE username = 'admin'")
    assert check_password(DASHBOARD_PASSWORD, password)
    assert pg_count(target.url, "sessions_app_engineprocess") == 0


def test_sequences_continue_after_the_copied_rows(embedded: Embedded,
                                                  target: ThrowawayDatabase) -> None:
    assert move(embedded.data_dir, target.url).returncode == 0

    tables = pg_rows(target.url, "SELECT table_name FROM information_schema.columns WHERE "
                                 "table_schema = 'public' AND column_name = 'id' AND "
                                 "is_identity = 'YES' ORDER BY table_name")
    checked = 0
    with psycopg.connect(target.url) as conn:
        for (table,) in tables:
            [(highest,)] = conn.execute(f'SELECT max(id) FROM "{table}"').fetchall()
            if highest is None:
                continue
            [(following,)] = conn.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id'))", (f'"{table}"',)).fetchall()
            assert following == highest + 1, table
            checked += 1
    assert checked >= 8


def test_each_sessions_whatsmeow_file_lands_in_whatsmeows_tables(embedded: Embedded,
                                                                 target: ThrowawayDatabase
                                                                 ) -> None:
    done = move(embedded.data_dir, target.url)

    assert done.returncode == 0, done.stdout + done.stderr
    devices = pg_rows(target.url, "SELECT jid, push_name, length(noise_key) "
                                  "FROM whatsmeow_device ORDER BY push_name")
    assert devices == [(embedded.jids["alpha"], "Device 1", 32),
                       (embedded.jids["gamma"], "Device 2", 32)]
    keys = pg_rows(target.url, "SELECT key_id, uploaded FROM whatsmeow_pre_keys "
                               "WHERE jid = %s ORDER BY key_id", (embedded.jids["alpha"],))
    assert keys == [(1, False), (2, True), (3, False), (4, True), (5, False)]
    assert pg_count(target.url, "whatsmeow_identity_keys") == 2
    assert pg_rows(target.url, "SELECT our_jid, first_name FROM whatsmeow_contacts "
                               "ORDER BY first_name") == [(embedded.jids["alpha"], "Ann"),
                                                          (embedded.jids["gamma"], "Gus")]
    # The same LID mapping was in both files: kept once.
    assert pg_count(target.url, "whatsmeow_lid_map") == 1
    assert re.search(r"^  whatsmeow_lid_map\s+1   \(1 already there\)$", done.stdout,
                     re.MULTILINE), done.stdout
    assert re.search(r"^  whatsmeow_pre_keys\s+10$", done.stdout, re.MULTILINE), done.stdout
    # gamma's row never had its JID: taken from its file, or the engine would pair anew.
    with embedded_db(embedded.data_dir) as db:
        [(beta_jid,)] = db.execute("SELECT device_jid FROM sessions_app_session "
                                   "WHERE name = 'beta'").fetchall()
    assert beta_jid  # paired, with no whatsmeow file (the fake engine's): kept as it was
    assert pg_rows(target.url, "SELECT name, device_jid FROM sessions_app_session "
                               "ORDER BY name") == [
        ("alpha", embedded.jids["alpha"]), ("beta", beta_jid), ("gamma", embedded.jids["gamma"])]
    assert "Session 'gamma': its device JID was taken from its auth state." in done.stdout


def test_the_neonize_engine_on_postgresql_finds_each_sessions_device(
        embedded: Embedded, target: ThrowawayDatabase, tmp_path: Path) -> None:
    assert move(embedded.data_dir, target.url).returncode == 0
    # lib/pq (whatsmeow's driver) requires TLS unless the URL says otherwise.
    engine = NeonizeEngine(tmp_path, database_url=f"{target.url}?sslmode=disable")

    for name in ("alpha", "gamma"):
        [(uid, device_jid)] = pg_rows(target.url, "SELECT uid, device_jid FROM "
                                                  "sessions_app_session WHERE name = %s", (name,))
        spec = SessionSpec(name=name, uid=uid, device_jid=device_jid)
        client = engine.client(spec, Recorder())

        found = client._known_jid(engine.auth_store(spec))

        assert found == parse_jid(embedded.jids[name])
    assert not (tmp_path / "neonize").exists()
