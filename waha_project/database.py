"""Database connections of the processes that are not web servers."""

from __future__ import annotations

from typing import Any

from django.conf import settings

KEPT_CONNECTION_SECONDS = 60


def keep_connections() -> None:
    """Keep PostgreSQL connections open between calls in engine and Celery worker processes.

    Their database work runs on a few long-lived threads, and Django's default without a pool
    (close after every call, `CONN_MAX_AGE` 0) opens a connection per call: most of an
    engine's time with many sessions. With the pool (`WAHA_DB_POOL_MAX_SIZE`, the default)
    every role already borrows open connections, and Django must keep none of its own: nothing
    to do. Without it, kept connections are checked before reuse (`CONN_HEALTH_CHECKS`); web
    processes keep the default, since under ASGI every request runs on a thread of its own
    and a kept connection per thread would pile up. A `conn_max_age` in DATABASE_URL wins.
    """
    for database in settings.DATABASES.values():
        if database["ENGINE"] == "django.db.backends.sqlite3" or pooled(database):
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
