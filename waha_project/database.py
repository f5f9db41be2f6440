"""Database connections of the processes that are not web servers."""

from __future__ import annotations

from django.conf import settings

KEPT_CONNECTION_SECONDS = 60


def keep_connections() -> None:
    """Keep PostgreSQL connections open between calls in engine and Celery worker processes.

    Their database work runs on a few long-lived threads, and Django's default (close after
    every call, `CONN_MAX_AGE` 0) opens a connection per call: most of an engine's time with
    many sessions. Kept connections are checked before reuse (`CONN_HEALTH_CHECKS`). Web
    processes keep the default: under ASGI every request runs on a thread of its own, and a
    kept connection per thread would pile up. A `conn_max_age` above 0 in DATABASE_URL wins.
    """
    for database in settings.DATABASES.values():
        if database["ENGINE"] != "django.db.backends.sqlite3" and not database.get(
                "CONN_MAX_AGE"):
            database["CONN_MAX_AGE"] = KEPT_CONNECTION_SECONDS
