"""A list's rows read as plain values (`Session.objects.listed()`) hold what the sessions' own
rows hold, on PostgreSQL and on SQLite: datetimes and JSON are read as text and decoded apart.
Every session (`every_session_listed`) is read by SQL compiled once."""

from __future__ import annotations

from pathlib import Path

from tests.database.children import run_child

CHILD = """
import json
from datetime import UTC, datetime, timedelta
import django
django.setup()
from django.db import connection
from unittest import mock
from django.db.models.sql.compiler import SQLCompiler
from sessions_app.models import LISTED_FIELDS, Session, every_session_listed

MOMENTS = [None, datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
           datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
           datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=UTC) + timedelta(hours=5)]
CONFIGS = [{}, {"metadata": {"n": "ünïcødé ✓ \\u2028 \\"quoted\\""}},
           {"webhooks": [{"url": "http://x/", "events": ["message"], "retries": {"attempts": 3}}]},
           {"apps": {"big": 123456789012345678901234567890, "neg": -9223372036854775809}}]
for n, moment in enumerate(MOMENTS):
    Session.objects.create(name=f"s{n}", status_changed_at=moment,
                           lease_expires_at=MOMENTS[-1 - n], owner="engine-a" if n else "",
                           should_run=bool(n % 2), generation=n, applied_generation=n // 2,
                           me={"id": f"{n}@c.us", "pushName": "é"} if n else None,
                           config=CONFIGS[n])

def compiled_once():
    every_session_listed()
    with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled again")):
        return len(every_session_listed())

listed = {row.name: row for row in Session.objects.order_by("name").listed()}
rows = {session.name: session for session in Session.objects.all()}
print(json.dumps({
    "vendor": connection.vendor,
    "differ": [(name, field, repr(getattr(listed[name], field)), repr(getattr(row, field)))
               for name, row in rows.items() for field in LISTED_FIELDS
               if getattr(listed[name], field) != getattr(row, field)
               or type(getattr(listed[name], field)) is not type(getattr(row, field))],
    "names": sorted(listed),
    "aware": [listed[name].status_changed_at.utcoffset().total_seconds()
              for name in ("s1", "s2", "s3")],
    "big": repr(listed["s3"].config["apps"]["big"]),
    "filtered": [row.name for row in Session.objects.filter(name__in=["s2"]).listed()],
    "none": Session.objects.filter(name__in=[]).listed(),
    "every": every_session_listed() == Session.objects.listed(),
    "every_names": [row.name for row in every_session_listed()],
    "compiled_once": compiled_once(),
}))
"""


def test_listed_rows_hold_what_the_rows_hold(database_url: str | None, tmp_path: Path) -> None:
    result = run_child(CHILD, database_url, tmp_path)

    assert result["vendor"] == ("postgresql" if database_url else "sqlite")
    assert result["names"] == ["s0", "s1", "s2", "s3"]
    assert result["differ"] == []
    assert result["aware"] == [0.0, 0.0, 0.0]
    assert result["big"] == "123456789012345678901234567890"  # exact, not a float
    assert result["filtered"] == ["s2"]
    assert result["none"] == []
    # Every session, by the SQL compiled once: the same rows, in the names' order.
    assert result["every"] is True
    assert result["every_names"] == ["s0", "s1", "s2", "s3"]
    assert result["compiled_once"] == 4
