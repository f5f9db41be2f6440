"""Database connections of the processes that are not web servers, reads by a unique key and
other unchanging queries with their SQL compiled once, JSON columns read as text, bulk inserts
of plain rows and bulk updates of model instances."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import orjson
from django.conf import settings
from django.db import connections, models
from django.utils import timezone

KEPT_CONNECTION_SECONDS = 60


def keep_connections() -> None:
    """Keep PostgreSQL connections open between calls in engine and Celery worker processes
    (SQLite's are kept by every thread of every role: settings.py).

    Their database work runs on a few long-lived threads, and Django's default without a pool
    (close after every call, `CONN_MAX_AGE` 0) opens a connection per call: most of an
    engine's time with many sessions. With the pool (`WAHA_DB_POOL_MAX_SIZE`, the default)
    every role already borrows open connections, and Django must keep none of its own: nothing
    to do. Without it, kept connections are checked before reuse (`CONN_HEALTH_CHECKS`); web
    processes keep the default: one kept for each of their request threads
    (`WAHA_HTTP_THREADS`) would be many connections, mostly idle. A `conn_max_age` in
    DATABASE_URL wins.
    """
    for database in settings.DATABASES.values():
        if database["ENGINE"] == settings.SQLITE_ENGINE or pooled(database):
            continue
        if not database.get("CONN_MAX_AGE"):
            database["CONN_MAX_AGE"] = KEPT_CONNECTION_SECONDS


def pooled(database: dict[str, Any]) -> bool:
    return bool((database.get("OPTIONS") or {}).get("pool"))


class _ArrayElementEscape:
    """psycopg's text array dumper escapes `"` and `\\` in each element with `re.sub` and a
    template, one Python call per match; two `bytes.replace` do the same in C."""

    @staticmethod
    def sub(_template: bytes, element: Any) -> bytes:
        return bytes(element).replace(b"\\", b"\\\\").replace(b'"', b'\\"')


def faster_array_dumps() -> None:
    """Dump Python lists as PostgreSQL text arrays without a Python call per quote.

    Django's bulk inserts on PostgreSQL send each column as one array (`UNNEST`), so every
    JSON body of a batch of deliveries or stored events goes through that escaping: with it
    done in C, a bulk insert costs about half the CPU. Registered on psycopg's global
    adapters, which Django's connection template copies, before any connection is made.
    Nothing to do on SQLite or without psycopg.
    """
    try:
        from psycopg import adapters
        from psycopg.types.array import ListDumper
    except ImportError:
        return

    class EscapingListDumper(ListDumper):
        _re_esc = _ArrayElementEscape()  # type: ignore[assignment]

    adapters.register_dumper(list, EscapingListDumper)


# --- reads by a unique key ---------------------------------------------------------------------
M = TypeVar("M", bound=models.Model)
_PROBE = "waha-probe"


class ByKey(Generic[M]):
    """`model.objects.get(<field>=value)` on a unique field, its SQL compiled once per database.

    A read by key through the ORM builds and compiles the same query every time: about 150 µs
    of the 210 µs a session's row took on SQLite, where executing it took 30. Here the ORM's
    own compiler makes the SQL and the columns' converters once per database alias; each read
    executes that SQL with its value, converts the columns as the ORM does, and builds the
    instance with `Model.from_db`, as the ORM's model iterable does.

    `locked`: the row is read `select_for_update()` (nothing more on SQLite, whose write
    transactions lock the whole database)."""

    def __init__(self, model: type[M], field: str, *, locked: bool = False) -> None:
        assert cast("models.Field[Any, Any]", model._meta.get_field(field)).unique, field
        self.model, self.field, self.locked = model, field, locked
        self.does_not_exist: type[Exception] = cast(Any, model).DoesNotExist
        self._compiled: dict[str, tuple[str, list[str], list[tuple[int, Any]]]] = {}

    def query(self, using: str) -> models.QuerySet[M, M]:
        """The ORM's query, with the probe where the value goes."""
        return self.model._default_manager.using(using).filter(**{self.field: _PROBE})

    def adapt(self, sql: str, using: str) -> str:
        """The compiled SQL as it is executed (the probe as its one parameter)."""
        return sql

    def compiled(self, using: str) -> tuple[str, list[str], list[tuple[int, Any]]]:
        """The SQL, the attnames of its columns, and (position, (converters, column))."""
        compiled = self._compiled.get(using)
        if compiled is None:
            query = self.query(using)
            if self.locked:
                query = query.select_for_update()
            compiler = query.query.get_compiler(using)
            sql, params = compiler.as_sql()
            assert tuple(params) == (_PROBE,), params
            columns = [column for column, _, _ in compiler.select]
            compiled = self._compiled[using] = (
                self.adapt(sql, using), [column.target.attname for column in columns],
                list(compiler.get_converters(columns).items()))
        return compiled

    def rows(self, parameter: Any, using: str) -> list[M]:
        """The instances the compiled SQL reads with `parameter`."""
        sql, attnames, converters = self.compiled(using)
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(sql, [parameter])
            rows = cursor.fetchall()
        found = []
        for row in rows:
            values = list(row)
            for position, (functions, column) in converters:
                for function in functions:
                    values[position] = function(values[position], column, connection)
            found.append(self.model.from_db(using, attnames, values))
        return found

    def find(self, value: Any, using: str = "default") -> M | None:
        """The instance whose field holds `value`, or None."""
        found = self.rows(value, using)
        return found[0] if found else None

    def get(self, value: Any, using: str = "default") -> M:
        """The instance whose field holds `value`, or the model's `DoesNotExist`."""
        found = self.find(value, using)
        if found is None:
            raise self.does_not_exist(
                f"{self.model._meta.object_name} matching query does not exist.")
        return found


class ByKeys(ByKey[M]):
    """`model.objects.filter(<field>__in=values).order_by("pk")` on a unique field, its SQL
    compiled once per database: the list is one parameter (`any_of`), so the text is the same
    whatever its length. `locked`, in primary key order: two transactions that lock some of
    the same rows take them in the same order."""

    def query(self, using: str) -> models.QuerySet[M, M]:
        return self.model._default_manager.using(using).filter(
            **{f"{self.field}__in": [_PROBE]}).order_by("pk")

    def column(self, using: str) -> str:
        quote = connections[using].ops.quote_name
        field = cast("models.Field[Any, Any]", self.model._meta.get_field(self.field))
        return f"{quote(self.model._meta.db_table)}.{quote(field.column)}"

    def adapt(self, sql: str, using: str) -> str:
        column = self.column(using)
        assert sql.count(f"{column} IN (%s)") == 1, sql
        return sql.replace(f"{column} IN (%s)", any_of(connections[using], column).sql)

    def all(self, values: Sequence[Any], using: str = "default") -> list[M]:
        """The instances whose field holds one of `values`, in primary key order."""
        listed = any_of(connections[using], self.column(using))
        return self.rows(listed.value(values), using)


class Insert(Generic[M]):
    """`instance.save(force_insert=True)` for one new row, its SQL made once per database.

    The ORM builds and compiles an INSERT every time: about 250 µs for a session's row, where
    executing it takes 30. Here each field's value is prepared as `save()` prepares it
    (`pre_save`, then `get_db_prep_save`) and the primary key comes back with `RETURNING`.
    Like `bulk_create`, it sends no `pre_save` or `post_save` signal: for models nothing
    listens to. An instance with a key of its own, or a database without `RETURNING` on an
    insert, goes through `save()`."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._compiled: dict[str, tuple[str, list[models.Field[Any, Any]]]] = {}

    def compiled(self, using: str) -> tuple[str, list[models.Field[Any, Any]]]:
        compiled = self._compiled.get(using)
        if compiled is None:
            meta = self.model._meta
            assert meta.pk is not None and meta.auto_field is meta.pk, meta
            fields = [field for field in meta.local_concrete_fields if field is not meta.pk]
            quote = connections[using].ops.quote_name
            # Only the model's own table and column names go into the text.
            sql = (f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
                   f"({', '.join(quote(field.column) for field in fields)}) "
                   f"VALUES ({', '.join(['%s'] * len(fields))}) "
                   f"RETURNING {quote(meta.pk.column)}")
            compiled = self._compiled[using] = (sql, fields)
        return compiled

    def save(self, instance: M, using: str = "default") -> M:
        connection = connections[using]
        if instance.pk is not None or not connection.features.can_return_columns_from_insert:
            instance.save(force_insert=True, using=using)  # a key of its own, or no RETURNING
            return instance
        sql, fields = self.compiled(using)
        # As `save()` does: a related object saved since it was assigned gives its key.
        cast(Any, instance)._prepare_related_fields_for_save(operation_name="save")
        values = [field.get_db_prep_save(field.pre_save(instance, True), connection)
                  for field in fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            (instance.pk,) = cursor.fetchone()
        instance._state.adding = False
        instance._state.db = using
        return instance


class Compiled:
    """The SQL of a query that is the same every time, compiled by the ORM once per database
    (`build` makes its queryset), for a read whose compiling costs a good part of running it:
    a list of every session spent a third of a millisecond making its SQL."""

    def __init__(self, build: Callable[[], models.QuerySet[Any, Any]]) -> None:
        self.build = build
        self._compiled: dict[str, tuple[str, tuple[Any, ...]]] = {}

    def sql(self, using: str = "default") -> tuple[str, tuple[Any, ...]]:
        compiled = self._compiled.get(using)
        if compiled is None:
            sql, params = self.build().query.get_compiler(using).as_sql()
            compiled = self._compiled[using] = (sql, tuple(params))
        return compiled


# --- a list as one parameter ------------------------------------------------------------------
@dataclass(frozen=True)
class AnyOf:
    """`column IN (values)` written with one parameter for the whole list (`sql`), and how a
    list becomes that parameter (`value`)."""

    sql: str
    value: Callable[[Sequence[Any]], Any]


def _json_list(values: Sequence[Any]) -> str:
    return orjson.dumps(list(values)).decode()


def any_of(connection: Any, column: str) -> AnyOf:
    """`column` (quoted) is one of a list given as one parameter: PostgreSQL's `= ANY(array)`,
    SQLite's `IN` over `json_each` of a JSON array.

    The ORM's `IN (%s, %s, …)` has as many parameters as values: its text changes with the
    list's length, so it cannot be made once, and psycopg parses a long one again every time.
    This text is the same for any list, the empty one included (true of no row)."""
    if connection.vendor == "postgresql":
        return AnyOf(f"{column} = ANY(%s)", list)
    if connection.vendor == "sqlite":
        return AnyOf(f"{column} IN (SELECT value FROM json_each(%s))",  # noqa: S608 (a name)
                     _json_list)
    raise NotImplementedError(f"no list parameter on {connection.vendor}")


# --- JSON columns read as text -----------------------------------------------------------------
# orjson reads an integer beyond 64 bits as a float; every integer of 18 digits fits in 64 bits.
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def json_from_db(text: str | None) -> Any:
    """A JSON column's value as a plain cursor reads it (text, on PostgreSQL and on SQLite),
    decoded as `JSONField` would decode it.

    By orjson, about thirty times faster than `json.loads` on a small object. A text with a
    run of 19 digits could hold an integer orjson would not keep exact, and a `NaN` is not JSON
    to orjson: those two go to `json.loads`, which wrote them."""
    if text is None:
        return None
    if len(text) < 19 or _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


# --- bulk inserts of plain rows ---------------------------------------------------------------
Row = dict[str, Any]


def insert_rows(model: type[models.Model], rows: Sequence[Row], using: str = "default",
                ) -> list[int]:
    """Insert rows given as {field attname: value}, in order; answer their primary keys.

    The hot paths' inserts (an engine's deliveries, a worker's attempt rows) come as plain
    values, and go in without a model instance or Django's preparation of every field of every
    row, which is most of `bulk_create`'s Python. Measured on a delivery row: on PostgreSQL,
    one COPY with the keys taken from the table's sequence first, about 12 µs a row against
    100 µs; on SQLite, one multi-row INSERT … RETURNING a batch, about 26 µs against 132 µs.
    Any other database goes through `bulk_create`.

    A field a row leaves out takes what a new instance would hold (its default;
    `auto_now_add`: now). Values must be what the field holds in Python; nothing is validated,
    and `save()` and its signals are skipped, as with `bulk_create`.
    """
    if not rows:
        return []
    connection = connections[using]
    meta = model._meta
    assert meta.pk is not None
    fields = [field for field in meta.concrete_fields if field is not meta.pk]
    if connection.vendor == "postgresql":
        return _copy_rows(connection, meta, fields, rows)
    if connection.vendor == "sqlite" and connection.features.can_return_rows_from_bulk_insert:
        return _insert_returning(connection, meta, fields, rows)
    created = model._default_manager.db_manager(using).bulk_create(
        [model(**row) for row in rows])
    return [obj.pk for obj in created]


def _copy_rows(connection: Any, meta: Any, fields: list[models.Field[Any, Any]],
               rows: Sequence[Row]) -> list[int]:
    values = [_value_of(field, connection) for field in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in [meta.pk.column,
                                                     *(field.column for field in fields)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                       "FROM generate_series(1, %s)", [meta.db_table, meta.pk.column, len(rows)])
        keys = [key for (key,) in cursor.fetchall()]
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for key, row in zip(keys, rows, strict=True):
                copy.write_row([key, *(value(row) for value in values)])
    return keys


def _insert_returning(connection: Any, meta: Any, fields: list[models.Field[Any, Any]],
                      rows: Sequence[Row]) -> list[int]:
    values = [_value_of(field, connection) for field in fields]
    quote = connection.ops.quote_name
    # Only the model's own table and column names go into the text; the values are parameters.
    head = (f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(field.column) for field in fields)}) VALUES ")
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    size = max(1, connection.ops.bulk_batch_size(fields, rows))
    keys: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start:start + size]
            cursor.execute(f"{head}{', '.join([one] * len(chunk))} "
                           f"RETURNING {quote(meta.pk.column)}",
                           [value(row) for row in chunk for value in values])
            # In the order of the rows, as bulk_create takes them.
            keys += [key for (key,) in cursor.fetchall()]
    return keys


# Python values a driver takes as they are, but for these (JSON everywhere; on SQLite, which
# has no date, time or decimal type, those too): adapted as Django adapts them.
ADAPTED = {"JSONField"}
ADAPTED_ON_SQLITE = ADAPTED | {"DateTimeField", "DateField", "TimeField", "DecimalField",
                               "UUIDField"}


def _value_of(field: models.Field[Any, Any], connection: Any) -> Callable[[Row], Any]:
    """How a row's value of one field is read: given, or what a new model instance would hold;
    adapted for the database where it needs it (the last value's adaptation is kept: a batch's
    rows often share a timestamp)."""
    name = field.attname
    if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
        now = timezone.now()
        default: Callable[[], Any] = lambda: now  # noqa: E731
    elif field.has_default() and callable(field.default):
        default = field.get_default  # a new value for each row (a list, a random id)
    else:
        fixed = field.get_default()
        default = lambda: fixed  # noqa: E731

    def given(row: Row) -> Any:
        return row[name] if name in row else default()

    adapted = ADAPTED_ON_SQLITE if connection.vendor == "sqlite" else ADAPTED
    if field.get_internal_type() not in adapted:
        return given
    last: list[Any] = [object(), None]  # [value, its adaptation]

    def adapt(row: Row) -> Any:
        value = given(row)
        if value is not last[0] or isinstance(value, (dict, list)):
            last[0], last[1] = value, field.get_db_prep_save(value, connection)
        return last[1]

    return adapt


# --- bulk updates of model instances ------------------------------------------------------------
def update_rows(changes: Sequence[tuple[models.Model, Sequence[str]]], using: str = "default",
                ) -> None:
    """Write each instance's named fields to its row: `save(update_fields=...)` for many.

    Instances that name the same fields share one statement, sent with `executemany` (on
    PostgreSQL, psycopg sends the batch in one round trip). `save()` builds and compiles an
    UPDATE for each instance, and prepares every field: about ten times the Python. Django's
    `bulk_update` builds a CASE per field and row instead, which costs more still. As with
    `bulk_update`, `save()`, its signals and `auto_now` are skipped: set those fields yourself.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    groups: dict[tuple[type[models.Model], tuple[str, ...]], list[models.Model]] = {}
    for instance, names in changes:
        groups.setdefault((type(instance), tuple(dict.fromkeys(names))), []).append(instance)
    with connection.cursor() as cursor:
        for (model, names), instances in groups.items():
            meta = model._meta
            assert meta.pk is not None
            fields = [_concrete(meta.get_field(name)) for name in names]
            # Only the model's own table and column names go into the text.
            sql = (f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608
                   f"{', '.join(f'{quote(field.column)} = %s' for field in fields)} "
                   f"WHERE {quote(meta.pk.column)} = %s")
            cursor.executemany(sql, [
                [field.get_db_prep_save(getattr(instance, field.attname), connection)
                 for field in fields] + [instance.pk]
                for instance in instances])


def _concrete(field: Any) -> models.Field[Any, Any]:
    if not getattr(field, "concrete", False):
        raise ValueError(f"{field.name} is not a column of its own")
    return cast("models.Field[Any, Any]", field)
