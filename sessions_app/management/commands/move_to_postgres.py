"""`python manage.py move_to_postgres URL`: copy the embedded default's data into PostgreSQL.

Run it on the embedded settings (DATABASE_URL unset, the same WAHA_LOCAL_STORE_BASE_DIR as
`serve`), with `serve` stopped. It:

1. refuses while an engine still runs on the embedded data (a recent heartbeat or a live
   lease), and refuses a target that already holds the product's data unless `--replace`;
2. migrates the target and has whatsmeow create its tables there (the tables the neonize
   engine uses when DATABASE_URL is PostgreSQL);
3. copies, in one transaction on the target: every table of ours and of Django's (primary keys
   kept, sequences reset after; engine processes left out, they register themselves; sessions'
   leases cleared, so the first engine to start claims them), and each session's whatsmeow
   SQLite file (`neonize/<uid>.sqlite3` in the data directory) into whatsmeow's tables, table
   by table with the columns both sides have.

The embedded data is only read: until DATABASE_URL is set, `serve` runs on it as before. While
the copy runs, the SQLite database's write lock is held, so nothing can change it meanwhile.
"""

from __future__ import annotations

import contextlib
import graphlib
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import environ
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db import Error as DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, JSONField, Model
from django.utils import timezone

from sessions_app.engines.neonize_engine import create_auth_tables
from sessions_app.models import EngineProcess, Session

from .prepare_role import pending_migrations

SOURCE = DEFAULT_DB_ALIAS
TARGET = "move_target"
POSTGRESQL = "django.db.backends.postgresql"
BATCH = 1000
# Written by whatsmeow itself when it creates or upgrades its tables.
WHATSMEOW_OWN_TABLES = {"whatsmeow_version"}
T = TypeVar("T")


class Refused(CommandError):
    """Nothing was changed: the reason says what to do."""


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def copied_models() -> list[type[Model]]:
    """Every table Django knows of (ours, auth, admin log, logins, content types), with
    many-to-many tables; engine processes are live state of the old topology."""
    return [
        model for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model is not EngineProcess
    ]


# --- whatsmeow's auth stores ------------------------------------------------------------------
@dataclass
class AuthStore:
    """One session's whatsmeow SQLite file."""

    session: str
    uid: str
    device_jid: str
    path: Path
    devices: list[str] = field(default_factory=list)

    def open(self) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True))

    def read_devices(self) -> None:
        with self.open() as db:
            self.devices = [str(jid) for (jid,) in db.execute("SELECT jid FROM whatsmeow_device")]

    def tables(self, db: sqlite3.Connection) -> dict[str, list[str]]:
        names = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'whatsmeow_%'")]
        return {name: [column[1] for column in db.execute(f'PRAGMA table_info("{name}")')]
                for name in names}


def create_whatsmeow_tables(url: str) -> None:
    try:
        create_auth_tables(url)
    except ValueError:  # neonize reads the Go side's "error: ..." answer as a device list
        raise CommandError(f"whatsmeow could not open its tables in {shown(url)}; nothing was "
                           "copied (the schema of the product's tables is in place)") from None


def whatsmeow_columns(cursor: Any) -> dict[str, dict[str, str]]:
    """{table: {column: PostgreSQL data type}} of whatsmeow's tables in the target."""
    cursor.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name LIKE %s "
        "ORDER BY table_name, ordinal_position", [r"whatsmeow\_%"])
    tables: dict[str, dict[str, str]] = {}
    for table, column, data_type in cursor.fetchall():
        tables.setdefault(table, {})[column] = data_type
    return tables


def parents_first(cursor: Any, tables: Iterable[str]) -> list[str]:
    """whatsmeow's foreign keys are checked at once: insert referenced tables first."""
    cursor.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text LIKE %s", [r"whatsmeow\_%"])
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(
        {table: set() for table in tables})
    for child, parent in cursor.fetchall():
        sorter.add(child, parent)
    return [table for table in sorter.static_order() if table in set(tables)]


def to_postgres(value: Any, data_type: str) -> Any:
    """A value read by sqlite3 as whatsmeow's PostgreSQL column takes it."""
    if value is None:
        return None
    if data_type == "boolean":
        return value.lower() in {"1", "t", "true"} if isinstance(value, str) else bool(value)
    if data_type == "bytea":
        return value.encode() if isinstance(value, str) else bytes(value)
    if data_type == "uuid":
        if isinstance(value, bytes) and len(value) == 16:
            return uuid.UUID(bytes=value)
        return uuid.UUID(str(value))
    return value


# --- Django's tables ----------------------------------------------------------------------------
def prepared(field_: Field[Any, Any], value: Any, connection: BaseDatabaseWrapper) -> Any:
    if value is None and isinstance(field_, JSONField) and not field_.null:
        return field_.get_db_prep_value(None, connection)  # JSON null, not SQL NULL
    return field_.get_db_prep_save(value, connection)


# Columns whose value belongs to the old topology: the first engine of the new one claims them.
RESET_COLUMNS: dict[type[Model], dict[str, Any]] = {
    Session: {"owner": "", "lease_expires_at": None},
}


def copy_model(model: type[Model], cursor: Any, target: BaseDatabaseWrapper) -> int:
    """Every row, primary keys included, as stored (values_list skips auto_now and friends)."""
    fields = list(model._meta.concrete_fields)
    quote = target.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Identifiers from the models, values as parameters.
    insert = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    reset = RESET_COLUMNS.get(model, {})
    rows = (model._base_manager.using(SOURCE).order_by("pk")
            .values_list(*(f.attname for f in fields)).iterator(chunk_size=BATCH))
    copied = 0
    for batch in batched(rows, BATCH):
        cursor.executemany(insert, [
            [prepared(f, reset.get(f.attname, value), target) for f, value in zip(fields, row,
                                                                                  strict=True)]
            for row in batch
        ])
        copied += len(batch)
    return copied


@dataclass
class Report:
    tables: list[tuple[str, int]] = field(default_factory=list)
    auth_rows: dict[str, int] = field(default_factory=dict)
    auth_skipped: dict[str, int] = field(default_factory=dict)
    stores: list[AuthStore] = field(default_factory=list)
    jids_filled: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = ("Copy the embedded default's data (SQLite and each session's WhatsApp auth state) "
            "into a PostgreSQL database, for the scaled topology.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", metavar="URL",
                            help="The PostgreSQL database, e.g. postgres://waha@127.0.0.1/waha")
        parser.add_argument("--replace", action="store_true",
                            help="Empty the target's product tables first when it already "
                                 "holds data (otherwise the command refuses).")

    def handle(self, *args: Any, **options: Any) -> None:
        url: str = options["target"]
        replace: bool = options["replace"]
        self.check_source()
        self.add_target(url)
        try:
            self.refuse_while_running()
            self.refuse_a_target_in_use(url, replace=replace)
            stores = self.auth_stores()
            call_command("migrate", database=TARGET, interactive=False, verbosity=0)
            if stores:
                create_whatsmeow_tables(url)
            report = self.copy(stores)
        except DatabaseError as exc:
            raise CommandError(f"The copy failed: {exc}\nNothing was copied into {shown(url)} "
                               "(its transaction was rolled back).") from None
        finally:
            connections[TARGET].close()
        self.print_report(url, report)

    # --- checks -------------------------------------------------------------------------------
    def check_source(self) -> None:
        if settings.DATABASES[SOURCE]["ENGINE"] != settings.SQLITE_ENGINE:
            raise Refused("This copies the embedded default's SQLite database: run it with "
                          "DATABASE_URL unset (and the data directory of `serve`).")
        pending = pending_migrations(SOURCE)
        if pending:
            raise Refused(f"The embedded database is not fully migrated ({len(pending)} "
                          "migration(s) left): start `manage.py serve` once, or run "
                          "`manage.py migrate`, then move it.")

    def add_target(self, url: str) -> None:
        try:
            config = environ.Env.db_url_config(url)
        except Exception as exc:
            raise Refused(f"Not a database URL: {shown(url)} ({exc})") from None
        if config.get("ENGINE") != POSTGRESQL:
            raise Refused(f"The target must be a PostgreSQL URL (postgres://...), "
                          f"not {shown(url)}")
        configured = connections.configure_settings({SOURCE: {}, TARGET: config})
        connections.settings[TARGET] = configured[TARGET]

    def refuse_while_running(self) -> None:
        """Live engines (serve) would keep writing the data we copy: they must be stopped."""
        now = timezone.now()
        engines = list(EngineProcess.objects.using(SOURCE).alive(now)
                       .values_list("worker_id", flat=True))
        leased = list(Session.objects.using(SOURCE)
                      .exclude(owner="").filter(lease_expires_at__gt=now)
                      .values_list("name", flat=True))
        in_use = []
        if engines:
            in_use.append(f"engine process(es) {', '.join(engines)} still running")
        if leased:
            in_use.append(f"session(s) {', '.join(leased)} leased by an engine")
        if in_use:
            raise Refused(
                f"The embedded data is in use: {'; '.join(in_use)}. Stop `manage.py serve` "
                "(Ctrl-C or SIGTERM) and run this again; a server that was killed counts as "
                f"stopped once its leases run out ({settings.LEASE_SECONDS:g} s).")

    def refuse_a_target_in_use(self, url: str, *, replace: bool) -> None:
        target = connections[TARGET]
        tables = set(target.introspection.table_names())
        held: dict[str, int] = {}
        with target.cursor() as cursor:
            for table, what in (("sessions_app_session", "session(s)"),
                                ("auth_user", "user(s)"),
                                ("webhooks_app_delivery", "webhook deliveries"),
                                ("whatsmeow_device", "WhatsApp device(s)")):
                if table in tables:
                    cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (a constant)
                    (count,) = cursor.fetchone()
                    if count:
                        held[what] = int(count)
        if held and not replace:
            listed = ", ".join(f"{count} {what}" for what, count in held.items())
            raise Refused(f"{shown(url)} already holds data ({listed}); nothing was changed. "
                          "To overwrite it with the embedded data, run again with --replace "
                          "(the product's rows in it are deleted first).")
        if held and "sessions_app_engineprocess" in tables:
            live = list(EngineProcess.objects.using(TARGET).alive()
                        .values_list("worker_id", flat=True))
            if live:
                raise Refused(f"Engines run on {shown(url)} ({', '.join(live)}): stop the "
                              "scaled topology before replacing its data.")

    def auth_stores(self) -> list[AuthStore]:
        folder = Path(settings.DATA_DIR) / "neonize"
        stores = []
        for name, uid, device_jid in Session.objects.using(SOURCE).values_list(
                "name", "uid", "device_jid"):
            path = folder / f"{uid}.sqlite3"
            if path.exists():
                store = AuthStore(session=name, uid=uid, device_jid=device_jid, path=path)
                store.read_devices()
                stores.append(store)
        return stores

    # --- the copy, one transaction on the target ------------------------------------------
    def copy(self, stores: Sequence[AuthStore]) -> Report:
        target = connections[TARGET]
        models = copied_models()
        report = Report(stores=list(stores))
        # The source's write lock keeps `serve` (if started meanwhile) from changing anything.
        with transaction.atomic(using=SOURCE), transaction.atomic(using=TARGET), \
                target.cursor() as cursor:
            self.refuse_while_running()
            auth_tables = whatsmeow_columns(cursor)
            everything: list[type[Model]] = [*models, EngineProcess]
            emptied = [m._meta.db_table for m in everything] + [
                table for table in auth_tables if table not in WHATSMEOW_OWN_TABLES]
            cursor.execute("TRUNCATE " + ", ".join(target.ops.quote_name(t) for t in emptied)
                           + " RESTART IDENTITY")
            for model in models:
                report.tables.append((model._meta.db_table, copy_model(model, cursor, target)))
            for statement in target.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)
            order = parents_first(cursor, [t for t in auth_tables
                                           if t not in WHATSMEOW_OWN_TABLES])
            for store in stores:
                self.copy_auth_store(store, cursor, auth_tables, order, report)
                if not store.device_jid and len(store.devices) == 1:
                    # Without its JID the engine would pair a new device instead of resuming.
                    Session.objects.using(TARGET).filter(uid=store.uid).update(
                        device_jid=store.devices[0])
                    report.jids_filled.append(store.session)
        return report

    def copy_auth_store(self, store: AuthStore, cursor: Any,
                        auth_tables: dict[str, dict[str, str]], order: list[str],
                        report: Report) -> None:
        with store.open() as db:
            source_tables = store.tables(db)
            for table in order:
                if table not in source_tables:
                    continue
                types = auth_tables[table]
                # Only names whatsmeow's PostgreSQL schema has: never a name read from the file.
                columns = [c for c in types if c in source_tables[table]]
                listed = ", ".join(f'"{c}"' for c in columns)
                rows = db.execute(f'SELECT {listed} FROM "{table}"')  # noqa: S608
                values = ", ".join(["%s"] * len(columns))
                insert = (f'INSERT INTO "{table}" ({listed}) VALUES ({values}) '  # noqa: S608
                          "ON CONFLICT DO NOTHING")
                for batch in batched(rows, BATCH):
                    try:
                        cursor.executemany(insert, [
                            [to_postgres(value, types[c]) for c, value in zip(columns, row,
                                                                              strict=True)]
                            for row in batch
                        ])
                    except DatabaseError as exc:
                        raise DatabaseError(f"copying {table} of session {store.session!r} "
                                            f"({store.path}): {exc}") from exc
                    # Rows already there (the same LID mapping in two sessions) are skipped.
                    report.auth_rows[table] = report.auth_rows.get(table, 0) + cursor.rowcount
                    skipped = len(batch) - cursor.rowcount
                    if skipped:
                        report.auth_skipped[table] = report.auth_skipped.get(table, 0) + skipped

    # --- what was done --------------------------------------------------------------------
    def print_report(self, url: str, report: Report) -> None:
        out = self.stdout
        out.write(f"Copied into {shown(url)}:")
        for table, count in report.tables:
            out.write(f"  {table:<45} {count:>8}")
        if report.stores:
            out.write(f"WhatsApp auth state of {len(report.stores)} session(s) "
                      f"({', '.join(s.session for s in report.stores)}):")
            for table, count in sorted(report.auth_rows.items()):
                skipped = report.auth_skipped.get(table)
                note = f"   ({skipped} already there)" if skipped else ""
                out.write(f"  {table:<45} {count:>8}{note}")
        else:
            out.write("No session has a WhatsApp auth state file to copy.")
        for name in report.jids_filled:
            out.write(f"Session {name!r}: its device JID was taken from its auth state.")
        missing = [s.session for s in report.stores
                   if s.device_jid and s.device_jid not in s.devices]
        if missing:
            out.write(f"Warning: no device of {', '.join(missing)} in its auth state file: "
                      "they will ask for a new QR code.")
        out.write("Engine processes were left out and leases cleared: the first engine of the "
                  "scaled topology claims the sessions. The embedded data was not changed.")
