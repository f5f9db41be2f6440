"""When the command refuses, it changes nothing: a target that already holds data (unless
--replace), embedded data still in use by `serve`, a target that is not PostgreSQL, settings
that are not the embedded default's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.live_server import LiveServer
from tests.support.stack import ThrowawayDatabase

from .conftest import Embedded
from .helpers import move, pg_count, pg_rows, pg_snapshot, sqlite_count

pytestmark = pytest.mark.timeout(300)


def test_a_second_run_refuses_and_changes_nothing_and_replace_overwrites(
        embedded: Embedded, target: ThrowawayDatabase) -> None:
    assert move(embedded.data_dir, target.url).returncode == 0
    # Meanwhile the scaled topology ran: the target is no longer what was copied.
    pg_rows(target.url, "UPDATE sessions_app_session SET config = '{\"changed\": true}' "
                        "WHERE name = 'beta' RETURNING id")
    before = pg_snapshot(target.url)

    second = move(embedded.data_dir, target.url)

    assert second.returncode == 1
    deliveries = sqlite_count(embedded.data_dir, "webhooks_app_delivery")
    assert (f"already holds data (3 session(s), 1 user(s), {deliveries} webhook deliveries, "
            "2 WhatsApp device(s)); nothing was changed. To overwrite it with the embedded "
            "data, run again with --replace") in second.stderr
    assert pg_snapshot(target.url) == before

    replaced = move(embedded.data_dir, target.url, "--replace")

    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert pg_rows(target.url, "SELECT config FROM sessions_app_session WHERE name = 'beta'"
                   ) == [({"metadata": {"owner": "bob"}},)]
    for table in ("sessions_app_session", "webhooks_app_delivery", "auth_user",
                  "sessions_app_storedmessage"):
        assert pg_count(target.url, table) == sqlite_count(embedded.data_dir, table), table
    assert pg_count(target.url, "whatsmeow_device") == 2


def test_it_refuses_while_serve_runs_on_the_embedded_data(
        target: ThrowawayDatabase, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir)
    try:
        server.start()
        while_running = move(data_dir, target.url)
    finally:
        server.terminate(timeout=30)
        server.kill()

    assert while_running.returncode == 1
    assert "The embedded data is in use: engine process(es) " in while_running.stderr
    assert "Stop `manage.py serve` (Ctrl-C or SIGTERM) and run this again" in (
        while_running.stderr)
    assert pg_snapshot(target.url) == {}  # not even migrated

    after_stopping = move(data_dir, target.url)

    assert after_stopping.returncode == 0, after_stopping.stdout + after_stopping.stderr
    assert pg_count(target.url, "auth_user") == 1  # the dashboard user `serve` created


def test_it_refuses_a_target_that_is_not_postgresql(embedded: Embedded, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other.sqlite3"

    done = move(embedded.data_dir, f"sqlite:///{elsewhere}")

    assert done.returncode == 1
    assert "The target must be a PostgreSQL URL (postgres://...)" in done.stderr
    assert not elsewhere.exists()


def test_it_refuses_to_run_on_the_scaled_settings(embedded: Embedded,
                                                  target: ThrowawayDatabase) -> None:
    done = move(embedded.data_dir, target.url, database_url=target.url)

    assert done.returncode == 1
    assert ("This copies the embedded default's SQLite database: run it with DATABASE_URL "
            "unset") in done.stderr
    assert pg_snapshot(target.url) == {}
