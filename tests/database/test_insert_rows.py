"""Plain rows inserted in bulk (`waha_project.database.insert_rows`): on PostgreSQL with one
COPY, on SQLite with a multi-row INSERT … RETURNING. Either way a row reads back exactly as the
same values saved through the ORM, defaults included, and the keys answered are the rows', in
order."""

from __future__ import annotations

from pathlib import Path

from tests.database.children import run_child

# Text that COPY's format must escape, and JSON that must stay JSON.
AWKWARD = 'tab\there, line\nbreak, back\\slash, \\N, "quotes", ünïcødé ✓'
HEADERS = [{"name": "X-Tricky", "value": AWKWARD}]

# Inserts the same rows with insert_rows and with the ORM, and prints both as read back.
CHILD = f"""
import json
import django
django.setup()
from datetime import datetime, UTC
from django.db import connection, transaction
from sessions_app.models import Session
from waha_project.database import insert_rows
from webhooks_app.models import Delivery, DeliveryAttempt

AWKWARD, HEADERS = {AWKWARD!r}, {HEADERS!r}
session = Session.objects.create(name="rows")
when = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)

def delivery(n):
    row = dict(session_id=session.pk, session_name="rows", event="message", event_id=f"evt-{{n}}",
               event_timestamp=1_700_000_000_000 + n, body=json.dumps({{"n": n, "text": AWKWARD}}),
               url="http://receiver.test:8080/hook", origin="http://receiver.test:8080",
               retry_policy="constant", retry_delay_seconds=2, retry_attempts=15,
               next_attempt_at=when)
    if n % 2:  # the odd ones give what the even ones leave to the defaults
        row.update(hmac_key=AWKWARD, custom_headers=HEADERS, is_global=True, enqueued_at=when)
    return row

def read(model, pks):
    fields = [f.attname for f in model._meta.concrete_fields
              if f.attname not in ("id", "created_at", "delivery_id")]
    got = {{row["id"]: row for row in model.objects.filter(pk__in=pks).values("id", *fields)}}
    return [{{k: str(v) for k, v in got[pk].items() if k != "id"}} for pk in pks]

def stored(table, pks):
    # The values as the database holds them (SQLite compares stored text, not datetimes).
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {{table}} WHERE id IN ({{', '.join(map(str, pks))}}) "
                       "ORDER BY id")
        names = [c[0] for c in cursor.description]
        return [[str(v) for n, v in zip(names, row) if n not in ("id", "created_at", "delivery_id")]
                for row in cursor.fetchall()]

with transaction.atomic():
    copied = insert_rows(Delivery, [delivery(n) for n in range(4)])
orm = [Delivery.objects.create(**delivery(n)).pk for n in range(4)]
attempts = [dict(delivery_id=pk, number=1, started_at=when, status_code=200 if pk % 2 else None,
                 response_body=AWKWARD, error="") for pk in copied[:2]]
copied_attempts = insert_rows(DeliveryAttempt, attempts)
orm_attempts = [DeliveryAttempt.objects.create(**{{**a, "delivery_id": pk}}).pk
                for a, pk in zip(attempts, orm[:2])]
later = Delivery.objects.create(**delivery(9)).pk
created = list(Delivery.objects.filter(pk__in=copied).values_list("created_at", flat=True))
print(json.dumps({{
    "copied": copied, "later": later, "same_created": len(set(created)) == 1,
    "copied_rows": read(Delivery, copied), "orm_rows": read(Delivery, orm),
    "copied_attempts": read(DeliveryAttempt, copied_attempts),
    "orm_attempts": read(DeliveryAttempt, orm_attempts),
    "empty": insert_rows(Delivery, []),
    "vendor": connection.vendor,
    "copied_stored": stored("webhooks_app_delivery", copied),
    "orm_stored": stored("webhooks_app_delivery", orm),
    "copied_attempts_stored": stored("webhooks_app_deliveryattempt", copied_attempts),
    "orm_attempts_stored": stored("webhooks_app_deliveryattempt", orm_attempts),
}}))
"""


def test_inserted_rows_read_back_as_the_orm_saves_them(database_url: str | None,
                                                        tmp_path: Path) -> None:
    result = run_child(CHILD, database_url, tmp_path)

    assert result["vendor"] == ("postgresql" if database_url else "sqlite")
    assert result["copied_rows"] == result["orm_rows"]
    assert result["copied_attempts"] == result["orm_attempts"]
    assert result["copied_stored"] == result["orm_stored"]
    assert result["copied_attempts_stored"] == result["orm_attempts_stored"]
    assert result["copied_rows"][1]["custom_headers"] == str(HEADERS)
    assert result["copied_rows"][0]["custom_headers"] == "[]"  # the default
    assert result["copied_rows"][0]["status"] == "pending"  # the default
    # The keys are the rows', in order, and the table's own keys go on after them.
    copied = result["copied"]
    assert copied == sorted(copied) and len(set(copied)) == 4
    assert result["later"] > max(copied)
    assert result["same_created"]
    assert result["empty"] == []
