"""A failure halfway through leaves no copied row in the target: one transaction.

The failure is a real one: text PostgreSQL cannot hold (a NUL character, which SQLite keeps)
in the last session's whatsmeow file, met after every Django table was already inserted.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.stack import ThrowawayDatabase

from .conftest import Embedded
from .helpers import move, pg_count

pytestmark = pytest.mark.timeout(300)


def test_a_failure_in_the_auth_state_rolls_back_the_whole_copy(
        embedded: Embedded, target: ThrowawayDatabase, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(embedded.data_dir, data_dir)
    gamma_store = data_dir / "neonize" / f"{embedded.uids['gamma']}.sqlite3"
    with closing(sqlite3.connect(gamma_store)) as db, db:
        db.execute("UPDATE whatsmeow_contacts SET push_name = ?", ("Gus\x00",))

    done = move(data_dir, target.url)

    assert done.returncode == 1
    assert "copying whatsmeow_contacts of session 'gamma'" in done.stderr
    assert f"Nothing was copied into {target.url} (its transaction was rolled back)." in (
        done.stderr)
    for table in ("sessions_app_session", "auth_user", "webhooks_app_delivery",
                  "sessions_app_storedmessage", "whatsmeow_device", "whatsmeow_pre_keys"):
        assert pg_count(target.url, table) == 0, table
