"""Reads by a unique key with their SQL compiled once (`waha_project.database.ByKey`): on
PostgreSQL and on SQLite, the instance holds what `objects.get` reads, field for field."""

from __future__ import annotations

from pathlib import Path

from tests.database.children import run_child

CHILD = """
import json
from datetime import UTC, datetime
from unittest import mock
import django
django.setup()
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from sessions_app.models import Session
from waha_project.database import ByKey

made = Session.objects.create(
    name="s1", config={"metadata": {"n": "ünïcødé ✓"}, "apps": {"big": 123456789012345678901}},
    should_run=True, generation=3, applied_generation=2, status="WORKING",
    status_changed_at=datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC),
    me={"id": "1@c.us"}, last_statuses=[{"status": "WORKING", "timestamp": 1}],
    owner="engine-a", lease_expires_at=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC))
Session.objects.create(name="s2")
by_name = ByKey(Session, "name")

read = by_name.get("s1")
expected = Session.objects.get(name="s1")
fields = [field.attname for field in Session._meta.concrete_fields]
with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled again")):
    again = by_name.get("s2")
try:
    by_name.get("nobody")
    missing = "found"
except Session.DoesNotExist as exc:
    missing = str(exc)
print(json.dumps({
    "vendor": connection.vendor,
    "differ": [(name, repr(getattr(read, name)), repr(getattr(expected, name)))
               for name in fields if getattr(read, name) != getattr(expected, name)
               or type(getattr(read, name)) is not type(getattr(expected, name))],
    "state": [read._state.adding, read._state.db],
    "again": again.name,
    "missing": missing,
}))
"""


def test_a_read_by_key_holds_what_objects_get_reads(database_url: str | None,
                                                     tmp_path: Path) -> None:
    result = run_child(CHILD, database_url, tmp_path)

    assert result["vendor"] == ("postgresql" if database_url else "sqlite")
    assert result["differ"] == []
    assert result["state"] == [False, "default"]  # as loaded by the ORM: saved updates it
    assert result["again"] == "s2"  # read again without compiling
    assert result["missing"] == "Session matching query does not exist."
