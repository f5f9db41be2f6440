"""Django's PostgreSQL backend, with a pool that checks a connection only when it may be broken.

psycopg's pool (`OPTIONS["pool"]`) can check a connection before lending it; Django asks it to
under `CONN_HEALTH_CHECKS`, with psycopg's check: an empty query, a round trip to the server
for every request, engine call and task. Without that round trip, sessions created and started
on the scaled topology went from 187 to 228 a second.

`check_if_readable` asks the server only when the connection's socket has something to read
while no query is under way: the server closed it (a restart, `pg_terminate_backend`, an
idle timeout), or sent a notice. A sound, idle connection is lent at once. A connection whose
network path vanished without a word is not caught by either check: psycopg's would wait on
it as the request would.

Django 5.2 always passes its own check to the pool, so a `check` in `OPTIONS["pool"]` is a
duplicate keyword (later Django versions take one: ticket #37075). This backend makes the pool
as Django does, with the check that `OPTIONS["pool"]` names; without one, it is Django's.
"""

from __future__ import annotations

import select
from typing import Any, cast

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base
from django.utils.module_loading import import_string
from psycopg_pool import ConnectionPool


def check_if_readable(connection: Any) -> None:
    """psycopg's check, for a connection whose socket has something to read (or is gone)."""
    try:
        poll = select.poll()
        poll.register(connection.pgconn.socket, select.POLLIN)
        quiet = not poll.poll(0)
    except (psycopg.Error, OSError):  # a closed connection has no socket: psycopg's check says so
        quiet = False
    if not quiet:
        ConnectionPool.check_connection(connection)


# Django's pools, one per database alias, kept on its class (not in django-stubs).
POOLS: dict[str, ConnectionPool] = base.DatabaseWrapper._connection_pools  # type: ignore[attr-defined]


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        options = self.settings_dict["OPTIONS"].get("pool")
        if not isinstance(options, dict) or "check" not in options:
            django_pool: ConnectionPool | None = cast(Any, super()).pool
            return django_pool
        if self.alias not in POOLS:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            # As Django 5.2 makes its pool, with the check `options` names (a dotted path:
            # settings cannot import this module).
            options = {**options, "check": import_string(options["check"])}
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # Django sets the connection's own later
            pool = ConnectionPool(kwargs=connect_kwargs, open=False,
                                  configure=cast(Any, self)._configure_connection, **options)
            # Threads that make one at the same time: the first stored wins, none is open yet.
            POOLS.setdefault(self.alias, pool)
        return POOLS[self.alias]
