"""Model instances written in bulk (`waha_project.database.update_rows`): on PostgreSQL and on
SQLite, each row holds exactly what `save(update_fields=...)` writes, and nothing else."""

from __future__ import annotations

from pathlib import Path

from tests.database.children import run_child

AWKWARD = 'tab\there, line\nbreak, back\\slash, "quotes", ünïcødé ✓'

# The same observations applied to two sets of sessions, one written with update_rows, the other
# with save(update_fields=...), at one frozen time; prints both as the database holds them.
CHILD = f"""
import json
from datetime import datetime, UTC
import django
django.setup()
import time_machine
from django.db import connection, transaction
from sessions_app.models import Session
from waha_project.database import update_rows

AWKWARD = {AWKWARD!r}
OBSERVED = [
    dict(status="STARTING", generation=2),
    dict(status="SCAN_QR_CODE", qr="2@" + AWKWARD, qr_lifetime=20),
    dict(status="WORKING", me={{"id": "1234@c.us", "pushName": AWKWARD}}),
    dict(status="FAILED", reason=AWKWARD),
]

def made(prefix):
    return [Session.objects.create(name=f"{{prefix}}{{n}}") for n in range(len(OBSERVED))]

def observed(sessions):
    changes = []
    for session, seen in zip(sessions, OBSERVED):
        session.config = {{"metadata": {{"not": "named, so not written"}}}}
        changes.append((session, session.observe(**seen).fields))
    return changes

def stored(sessions):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM sessions_app_session WHERE id IN (%s) ORDER BY id"
                       % ", ".join(str(s.pk) for s in sessions))
        names = [c[0] for c in cursor.description]
        return [{{n: str(v) for n, v in zip(names, row) if n not in ("id", "name", "uid")}}
                for row in cursor.fetchall()]

with time_machine.travel(datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC), tick=False):
    bulk, one_by_one = made("bulk"), made("orm")
    bulk_changes, orm_changes = observed(bulk), observed(one_by_one)
    with transaction.atomic():
        update_rows(bulk_changes)
    for session, fields in orm_changes:
        session.save(update_fields=fields)
    update_rows([])

print(json.dumps({{
    "vendor": connection.vendor,
    "field_sets": len({{tuple(fields) for _, fields in bulk_changes}}),
    "bulk": stored(bulk), "orm": stored(one_by_one),
}}))
"""


def test_updated_rows_hold_what_save_with_update_fields_writes(database_url: str | None,
                                                                tmp_path: Path) -> None:
    result = run_child(CHILD, database_url, tmp_path)

    assert result["vendor"] == ("postgresql" if database_url else "sqlite")
    assert result["field_sets"] > 1  # several statements, one per set of fields
    assert result["bulk"] == result["orm"]
    assert [row["status"] for row in result["bulk"]] == [
        "STARTING", "SCAN_QR_CODE", "WORKING", "FAILED"]
    assert "1234@c.us" in result["bulk"][2]["me"]
    assert all("not named" not in row["config"] for row in result["bulk"])
