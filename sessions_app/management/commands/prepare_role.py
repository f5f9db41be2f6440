"""`python manage.py prepare_role ROLE`: what each role of the scaled topology runs first.

The scaled topology is one process per role (web, engine, worker, beat) sharing PostgreSQL and
Redis. Without DATABASE_URL and REDIS_URL every process would quietly fall back to the embedded
default's SQLite file and in-memory layers, private to itself: the API could not reach an
engine, and no worker would see a webhook. So every role checks the settings first and stops
with a message naming the variable. Then:

- web: migrates (under a PostgreSQL advisory lock, so two web processes never migrate at once)
  and creates the first dashboard user, as `serve` does on the embedded default;
- engine, worker, beat: wait until the schema is fully migrated (by the web role), at most
  `--timeout` seconds.

Every role also waits for the database and Redis to answer, so they can start together with
the services (a supervisor or `honcho start`). The exit status is 0 when the role may start.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db import Error as DatabaseError
from django.db.migrations.executor import MigrationExecutor

from waha_project.logs import redact_url

ROLES = ("web", "engine", "worker", "beat")
POSTGRESQL = "django.db.backends.postgresql"
POLL_SECONDS = 0.5
# One key for every product database: only one `migrate` runs at a time per server.
MIGRATE_LOCK_KEY = zlib.crc32(b"waha.prepare_role.migrate")


def topology_problems(role: str) -> list[str]:
    """What keeps these settings from being the scaled topology, one line per variable."""
    problems = []
    engine = settings.DATABASES[DEFAULT_DB_ALIAS]["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        problems.append(
            "DATABASE_URL is not set: each process would open its own SQLite file. Set it to a "
            "PostgreSQL URL, e.g. postgres://waha@127.0.0.1:5432/waha")
    elif engine != POSTGRESQL:
        problems.append(f"DATABASE_URL must point at PostgreSQL (it selects {engine})")
    if not settings.REDIS_URL:
        problems.append(
            "REDIS_URL is not set: the channel layer and the Celery broker would be in-memory, "
            "private to each process. Set it, e.g. redis://127.0.0.1:6379/0")
    if role == "web" and settings.API_KEY.generated:
        problems.append(
            "WAHA_API_KEY is not set (or is too weak): the web process would make up a key that "
            "is printed nowhere. Set it (or WAHA_NO_API_KEY=true to run without a key)")
    return problems


def database_problem() -> str | None:
    try:
        connections[DEFAULT_DB_ALIAS].ensure_connection()
    except DatabaseError as exc:
        return f"the database does not answer: {_one_line(exc)}"
    return None


def redis_problem() -> str | None:
    import redis

    from waha_project.health import check_redis

    try:
        check_redis()
    except redis.RedisError as exc:
        return f"Redis ({redact_url(settings.REDIS_URL)}) does not answer: {_one_line(exc)}"
    return None


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations not applied yet to a database, in the order migrate runs them."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def schema_problem() -> str | None:
    try:
        pending = pending_migrations()
    except DatabaseError as exc:
        return f"the database does not answer: {_one_line(exc)}"
    if pending:
        shown = ", ".join(pending[:3]) + (", ..." if len(pending) > 3 else "")
        return (f"{len(pending)} migration(s) not applied yet ({shown}); the web role applies "
                "them (or run `python manage.py migrate`)")
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Command(BaseCommand):
    help = ("Check the scaled topology's settings, then migrate (web) or wait for the schema "
            "(engine, worker, beat).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("--timeout", type=float, default=120.0,
                            help="Seconds to wait for the database, Redis and the schema.")

    def handle(self, *args: Any, **options: Any) -> None:
        role: str = options["role"]
        timeout: float = options["timeout"]
        problems = topology_problems(role)
        if problems:
            lines = "\n".join(f"  - {problem}" for problem in problems)
            raise CommandError(
                f"{role}: the scaled topology (one process per role) needs PostgreSQL and "
                f"Redis, and this environment does not say where they are:\n{lines}\n"
                "To run every role in one process on the embedded default instead: "
                "python manage.py serve")
        deadline = time.monotonic() + timeout
        self.wait(role, "the database", database_problem, deadline, timeout)
        self.wait(role, "Redis", redis_problem, deadline, timeout)
        if role == "web":
            self.migrate()
        else:
            self.wait(role, "the schema", schema_problem, deadline, timeout)
            self.stdout.write(f"{role}: the schema is up to date")

    def wait(self, role: str, what: str, problem_of: Callable[[], str | None], deadline: float,
             timeout: float) -> None:
        announced = False
        while (problem := problem_of()) is not None:
            if time.monotonic() >= deadline:
                raise CommandError(f"{role}: {what} was not ready after {timeout:g} s: "
                                   f"{problem}")
            if not announced:
                self.stdout.write(f"{role}: waiting for {what}: {problem}")
                self.stdout.flush()
                announced = True
            time.sleep(POLL_SECONDS)
            connections[DEFAULT_DB_ALIAS].close()  # a fresh connection at each try

    def migrate(self) -> None:
        from sessions_app.dashboard.first_run import ensure_dashboard_user

        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
            try:
                pending = pending_migrations()
                if pending:
                    call_command("migrate", interactive=False, verbosity=0)
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_KEY])
        self.stdout.write(f"web: {len(pending)} migration(s) applied; the schema is up to date"
                          if pending else "web: the schema is up to date")
        ensure_dashboard_user(self.stdout)
        self.stdout.flush()
