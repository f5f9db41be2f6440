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
the services (a supervisor or `honcho start`). What waiting cannot change stops it at once:
the server answers that the role or the database does not exist, or refuses the password; the
message says how to fix it (the `createuser` / `createdb` lines). These are read from the
server's English message (libpq gives no error code for a refused connection); in another
language they are waited for like any other problem. The exit status is 0 when the role may
start.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db import Error as DatabaseError
from django.db.migrations.executor import MigrationExecutor

from waha_project.logs import redact_url

ROLES = ("web", "engine", "worker", "beat")
POLL_SECONDS = 0.5
# One key for every product database: only one `migrate` runs at a time per server.
MIGRATE_LOCK_KEY = zlib.crc32(b"waha.prepare_role.migrate")
# A try at the database gives up after this long (libpq's own default is to wait forever).
CONNECT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Problem:
    """Why a role may not start yet; `fix` is set when waiting cannot help."""

    text: str
    fix: str = ""


def database_target() -> dict[str, str]:
    """Who and where DATABASE_URL says, for the commands that fix it."""
    database = settings.DATABASES[DEFAULT_DB_ALIAS]
    return {"host": str(database.get("HOST") or "127.0.0.1"),
            "port": str(database.get("PORT") or 5432),
            "user": str(database.get("USER") or "postgres"),
            "name": str(database.get("NAME") or "")}


def _create_role(to: dict[str, str]) -> str:
    return (f"Create the role and its database on the server, e.g.:\n"
            f"  createuser -h {to['host']} -p {to['port']} -U postgres {to['user']}\n"
            f"  createdb -h {to['host']} -p {to['port']} -U postgres -O {to['user']} "
            f"{to['name']}")


def _create_database(to: dict[str, str]) -> str:
    return (f"Create the database on the server, owned by {to['user']}, e.g.:\n"
            f"  createdb -h {to['host']} -p {to['port']} -U postgres -O {to['user']} "
            f"{to['name']}")


def _set_password(to: dict[str, str]) -> str:
    return (f"Put the password of role {to['user']} in DATABASE_URL "
            f"(postgres://{to['user']}:PASSWORD@{to['host']}:{to['port']}/{to['name']}), "
            f"or set it on the server: psql -h {to['host']} -p {to['port']} -U postgres "
            f"-c \"ALTER ROLE {to['user']} PASSWORD '...'\"")


def _allow_login(to: dict[str, str]) -> str:
    return (f"Let the role log in: psql -h {to['host']} -p {to['port']} -U postgres "
            f"-c \"ALTER ROLE {to['user']} LOGIN\"")


def _allow_host(to: dict[str, str]) -> str:
    return ("Add a line for this host, user and database to the server's pg_hba.conf, then "
            "reload it")


# What the server answers when the connection itself is refused, and how to fix it.
PERMANENT_ERRORS: tuple[tuple[re.Pattern[str], Callable[[dict[str, str]], str]], ...] = (
    (re.compile(r'role "[^"]*" does not exist'), _create_role),
    (re.compile(r'database "[^"]*" does not exist'), _create_database),
    (re.compile(r"password authentication failed|no password supplied"), _set_password),
    (re.compile(r'role "[^"]*" is not permitted to log in'), _allow_login),
    (re.compile(r"no pg_hba\.conf entry"), _allow_host),
)


def fix_for(message: str) -> str:
    """How to fix a refused connection that no wait would change; empty for the others."""
    for pattern, fix in PERMANENT_ERRORS:
        if pattern.search(message):
            return fix(database_target())
    return ""


def connect_directly() -> None:
    """Each try opens a connection of its own. A pool (WAHA_DB_POOL_MAX_SIZE) would retry a
    refused connection behind our back for its whole timeout, hiding why; this process is
    short-lived and gains nothing from one."""
    database = connections[DEFAULT_DB_ALIAS].settings_dict
    options = database.setdefault("OPTIONS", {})
    options.pop("pool", None)
    options.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)


def topology_problems(role: str) -> list[str]:
    """What keeps these settings from being the scaled topology, one line per variable."""
    problems = []
    engine = settings.DATABASES[DEFAULT_DB_ALIAS]["ENGINE"]
    if engine == settings.SQLITE_ENGINE:
        problems.append(
            "DATABASE_URL is not set: each process would open its own SQLite file. Set it to a "
            "PostgreSQL URL, e.g. postgres://waha@127.0.0.1:5432/waha")
    elif engine != settings.POSTGRESQL_ENGINE:
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


def database_problem() -> Problem | None:
    try:
        connections[DEFAULT_DB_ALIAS].ensure_connection()
    except DatabaseError as exc:
        message = _one_line(exc)
        fix = fix_for(message)
        if fix:
            to = database_target()
            url = f"postgres://{to['user']}@{to['host']}:{to['port']}/{to['name']}"
            reason = message.rpartition("FATAL:")[2].strip()  # the server's own words
            return Problem(f"the database refuses DATABASE_URL ({url}): {reason}", fix)
        return Problem(f"the database does not answer: {message}")
    return None


def redis_problem() -> Problem | None:
    import redis

    from waha_project.health import check_redis

    try:
        check_redis()
    except redis.RedisError as exc:
        return Problem(
            f"Redis ({redact_url(settings.REDIS_URL)}) does not answer: {_one_line(exc)}")
    return None


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations not applied yet to a database, in the order migrate runs them."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def schema_problem() -> Problem | None:
    try:
        pending = pending_migrations()
    except DatabaseError as exc:
        # The database may have gone away meanwhile, or refuse us for good now: say which.
        return database_problem() or Problem(f"the database does not answer: {_one_line(exc)}")
    if pending:
        shown = ", ".join(pending[:3]) + (", ..." if len(pending) > 3 else "")
        return Problem(f"{len(pending)} migration(s) not applied yet ({shown}); the web role "
                       "applies them (or run `python manage.py migrate`)")
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
        connect_directly()
        deadline = time.monotonic() + timeout
        self.wait(role, "the database", database_problem, deadline, timeout)
        self.wait(role, "Redis", redis_problem, deadline, timeout)
        if role == "web":
            self.migrate()
        else:
            self.wait(role, "the schema", schema_problem, deadline, timeout)
            self.stdout.write(f"{role}: the schema is up to date")

    def wait(self, role: str, what: str, problem_of: Callable[[], Problem | None],
             deadline: float, timeout: float) -> None:
        announced = False
        while (problem := problem_of()) is not None:
            if problem.fix:
                raise CommandError(f"{role}: {problem.text}; waiting would not help. "
                                   f"{problem.fix}")
            if time.monotonic() >= deadline:
                raise CommandError(f"{role}: {what} was not ready after {timeout:g} s: "
                                   f"{problem.text}")
            if not announced:
                self.stdout.write(f"{role}: waiting for {what}: {problem.text}")
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
