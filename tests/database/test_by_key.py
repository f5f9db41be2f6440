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


MANY_CHILD = """
import json
from datetime import UTC, datetime
from unittest import mock
import django
django.setup()
from django.db import connection, transaction
from django.db.models.sql.compiler import SQLCompiler
from sessions_app.models import AuditEntry, Session, SessionStatusChange
from waha_project.database import ByKey, ByKeys, Insert

made = [Session.objects.create(name=f"s{n}", config={"n": n, "text": "ü \\\\ \\"q\\""})
        for n in range(5)]
by_uid = ByKeys(Session, "uid", locked=True)
by_name = ByKey(Session, "name")
by_name.find("s0")  # compiled here, once
fields = [field.attname for field in Session._meta.concrete_fields]

def differ(read, expected, types=True):
    return [name for name in fields if getattr(read, name) != getattr(expected, name)
            or types and type(getattr(read, name)) is not type(getattr(expected, name))]

wanted = [made[3].uid, made[0].uid, "no-such-uid", made[3].uid]
with transaction.atomic():
    many = by_uid.all(wanted)
    queries = []
    with connection.execute_wrapper(lambda run, sql, *a: queries.append(sql) or run(sql, *a)):
        with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")):
            many_again = by_uid.all([made[4].uid, made[1].uid, made[2].uid])
            none = by_uid.all([])
            found = by_name.find("s2")
            missing = by_name.find("nobody")

# New rows through Insert hold what the ORM reads back, their keys set as save() sets them.
session = Session(name="inserted", config={"metadata": {"k": "ünï"}}, should_run=True)
history = SessionStatusChange(session=session, status="STOPPED", reason="first")
with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")):
    Insert(Session).save(session)
    Insert(SessionStatusChange).save(history)
    entry = Insert(AuditEntry).save(AuditEntry(actor_kind="key", actor_id="k1",
                                               operation="create", status=201))
explicit = Insert(Session).save(Session(pk=9999, name="its-own-key"))  # through save()
fresh = Session.objects.get(pk=session.pk)
kept_history = SessionStatusChange.objects.get(pk=history.pk)
print(json.dumps({
    "vendor": connection.vendor,
    "many": [row.name for row in many],
    "many_differ": [differ(row, Session.objects.get(pk=row.pk)) for row in many],
    "many_again": [row.name for row in many_again],
    "locked": [("FOR UPDATE" in sql) for sql in queries[:1]],
    "none": none,
    "found": found.name,
    "missing": missing,
    # What the instance holds is what was written (as after save(): an enum stays an enum).
    "inserted_differ": differ(session, fresh, types=False),
    "inserted_state": [session._state.adding, session._state.db],
    "history": [kept_history.session_id == session.pk, kept_history.reason],
    "entry": [AuditEntry.objects.filter(pk=entry.pk).count(), entry.timestamp is not None],
    "keys_grow": made[-1].pk < session.pk,
    "explicit": [explicit.pk, Session.objects.get(pk=9999).name],
}))
"""


def test_reads_of_many_keys_and_single_inserts_match_the_orm(database_url: str | None,
                                                               tmp_path: Path) -> None:
    result = run_child(MANY_CHILD, database_url, tmp_path)

    postgresql = result["vendor"] == "postgresql"
    assert postgresql == bool(database_url)
    # In primary key order, each once, the unknown left out, the ORM's values exactly.
    assert result["many"] == ["s0", "s3"]
    assert result["many_differ"] == [[], []]
    assert result["many_again"] == ["s1", "s2", "s4"]  # another length, the same SQL
    assert result["locked"] == [postgresql]  # SQLite has no FOR UPDATE: its writer locks all
    assert result["none"] == []
    assert result["found"] == "s2"
    assert result["missing"] is None
    assert result["inserted_differ"] == []
    assert result["inserted_state"] == [False, "default"]
    assert result["history"] == [True, "first"]
    assert result["entry"] == [1, True]
    assert result["keys_grow"] is True
    assert result["explicit"] == [9999, "its-own-key"]
