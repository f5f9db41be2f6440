"""The statements a delivery worker runs for every batch, their SQL made once per database.

A worker claims, reads and records batches of deliveries many times a second. Built by the ORM,
each of these statements was compiled again every time, with an IN list of one parameter per id
that psycopg then parsed again (too long for its cache): together about 40 % of a worker's task
thread. Here each statement has one text per database, a list of ids or origins is one
parameter (`waha_project.database.any_of`), and a claim reads back the rows it locked in the
same statement (`UPDATE … RETURNING`).

A delivery is due when it is pending, its time has come (a countdown may fire a moment early:
`DUE_TOLERANCE_SECONDS`), and no claim that is still running locks it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Field

from waha_project.database import AnyOf, any_of, json_from_db

from .models import Delivery, DeliveryStatus

DUE_TOLERANCE_SECONDS = 1.0
# What sending, recording and deciding read of a claimed delivery, and its id; the rest (its
# timestamps above all) is not read back for every attempt. In the model's order of fields, as
# `Model.from_db` takes a part of them.
SENT_FIELDS = tuple(field.attname for field in Delivery._meta.concrete_fields if field.attname in {
    "id", "origin", "attempts", "url", "body", "event", "event_id", "event_timestamp", "hmac_key",
    "custom_headers", "retry_policy", "retry_delay_seconds", "retry_attempts", "session_name"})
# What recording an attempt writes over a delivery (`finish`), in this order.
FINISHED_FIELDS = ("attempts", "status", "next_attempt_at", "enqueued_at", "locked_until",
                   "claim_token", "waiting_until", "last_status_code", "last_error",
                   "finished_at")


@dataclass(frozen=True)
class _Statements:
    ids: AnyOf
    origins: AnyOf
    due_among: str
    oldest_due: str
    lock: str
    attempts_of: str
    finish: str


def _column(name: str) -> str:
    field = Delivery._meta.get_field(name)
    assert isinstance(field, Field), name
    return str(field.column)


@functools.cache
def _statements(using: str) -> _Statements:
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(Delivery._meta.db_table)
    pk = quote(_column("id"))
    origin, status = quote(_column("origin")), quote(_column("status"))
    next_at, locked = quote(_column("next_attempt_at")), quote(_column("locked_until"))
    ids, origins = any_of(connection, pk), any_of(connection, origin)
    # Parameters: status, the latest due time, now.
    due = f"{status} = %s AND {next_at} <= %s AND ({locked} IS NULL OR {locked} < %s)"
    sent = ", ".join(quote(_column(name)) for name in SENT_FIELDS)
    for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
    # Only the model's own table and column names go into these texts; values are parameters.
    return _Statements(
        ids=ids,
        origins=origins,
        due_among=f"SELECT {pk}, {origin} FROM {table} WHERE {ids.sql} AND {due}",  # noqa: S608
        oldest_due=(f"SELECT {pk}, {origin} FROM {table} WHERE {due} "  # noqa: S608
                    f"AND NOT {ids.sql} AND NOT {origins.sql} ORDER BY {next_at} LIMIT %s"),
        lock=(f"UPDATE {table} SET {locked} = %s, {quote(_column('claim_token'))} = %s "  # noqa: S608
              f"WHERE {ids.sql} AND {due} RETURNING {sent}"),
        attempts_of=(f"SELECT {pk}, {quote(_column('attempts'))} FROM {table} "  # noqa: S608
                     f"WHERE {ids.sql} ORDER BY {pk}{for_update}"),
        finish=(f"UPDATE {table} SET "  # noqa: S608
                f"{', '.join(f'{quote(_column(name))} = %s' for name in FINISHED_FIELDS)} "
                f"WHERE {ids.sql} AND {quote(_column('attempts'))} = %s"),
    )


def _due_params(using: str, now: datetime) -> list[Any]:
    moment = connections[using].ops.adapt_datetimefield_value
    return [DeliveryStatus.PENDING.value,
            moment(now + timedelta(seconds=DUE_TOLERANCE_SECONDS)), moment(now)]


def _rows(using: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def due_among(pks: Sequence[int], now: datetime, using: str = "default",
              ) -> list[tuple[int, str]]:
    """(id, origin) of the due ones of `pks`."""
    if not pks:
        return []
    sql = _statements(using)
    return _rows(using, sql.due_among, [sql.ids.value(pks), *_due_params(using, now)])


def oldest_due(now: datetime, limit: int, *, besides: Sequence[int],
               origins_besides: Sequence[str], using: str = "default",
               ) -> list[tuple[int, str]]:
    """(id, origin) of at most `limit` due deliveries, the longest due first: none of `besides`,
    none to `origins_besides`."""
    sql = _statements(using)
    return _rows(using, sql.oldest_due, [*_due_params(using, now), sql.ids.value(besides),
                                         sql.origins.value(origins_besides), limit])


def lock(pks: Sequence[int], now: datetime, until: datetime, token: str,
         using: str = "default") -> list[Delivery]:
    """Claim the ones of `pks` still due: locked until `until` under `token`. Answers them,
    with `SENT_FIELDS` read (the rest deferred), in no particular order."""
    if not pks:
        return []
    sql = _statements(using)
    moment = connections[using].ops.adapt_datetimefield_value
    rows = _rows(using, sql.lock,
                 [moment(until), token, sql.ids.value(pks), *_due_params(using, now)])
    headers = SENT_FIELDS.index("custom_headers")
    return [Delivery.from_db(using, SENT_FIELDS, [*row[:headers], json_from_db(row[headers]),
                                                  *row[headers + 1:]])
            for row in rows]


def attempts_of(pks: Sequence[int], using: str = "default") -> dict[int, int]:
    """Each delivery's attempts so far, its row locked until the transaction ends (in the
    order of the ids, so workers recording the same rows lock them alike)."""
    if not pks:
        return {}
    sql = _statements(using)
    return dict(_rows(using, sql.attempts_of, [sql.ids.value(pks)]))


def finish(pks: Sequence[int], attempts: int, values: dict[str, Any],
           using: str = "default") -> int:
    """Write an attempt's outcome over the deliveries of `pks` that had `attempts - 1`
    attempts: `values` holds every FINISHED_FIELDS but `attempts` (datetimes aware).
    Answers how many rows it wrote."""
    sql = _statements(using)
    connection = connections[using]
    moment = connection.ops.adapt_datetimefield_value
    params = [attempts, *(moment(value) if isinstance(value, datetime) else value
                          for value in (values[name] for name in FINISHED_FIELDS[1:]))]
    with connection.cursor() as cursor:
        cursor.execute(sql.finish, [*params, sql.ids.value(pks), attempts - 1])
        return int(cursor.rowcount)
