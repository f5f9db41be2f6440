"""Django's SQLite backend, with the writers of this process queued on a lock of its own.

SQLite has one writer at a time. A connection that finds the database locked sleeps in
SQLite's busy handler (1, 2, 5, 10, 15 ms and on) and tries again: it does not wake when the
lock is freed. Under a burst of writes from the threads of one process (the embedded default:
requests, the engine and the worker), the writers slept while the database sat unlocked.

Here a write transaction (`BEGIN IMMEDIATE`: every `atomic` block, under
`transaction_mode: IMMEDIATE`) first takes a lock that the process's connections to the same
file share, and gives it back when the transaction ends; the next writer starts as soon as the
previous one has committed. A write statement outside a transaction takes the same lock for
itself. Writers in other processes still meet SQLite's own lock and its busy handler, as
before. The lock is waited for as long as SQLite would wait (`OPTIONS["timeout"]`), then the
statement fails as SQLite's would: "database is locked".
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from django.db import OperationalError
from django.db.backends.sqlite3 import base

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

_writers: dict[str, threading.Lock] = {}
_writers_lock = threading.Lock()


def writer_lock(path: str) -> threading.Lock:
    """The lock of one database file, shared by every connection of this process to it
    (taken by every write: a plain read once it exists)."""
    lock = _writers.get(path)
    if lock is None:
        with _writers_lock:
            lock = _writers.setdefault(path, threading.Lock())
    return lock


def is_write(query: str) -> bool:
    return query.lstrip()[:7].upper().startswith(WRITES)


class DatabaseWrapper(base.DatabaseWrapper):
    holds_writer = False

    @property
    def writer(self) -> threading.Lock:
        return writer_lock(str(self.settings_dict["NAME"]))

    def take_writer(self) -> None:
        if not self.writer.acquire(timeout=float(self.settings_dict["OPTIONS"].get("timeout", 5))):
            raise OperationalError("database is locked")
        self.holds_writer = True

    def give_writer(self) -> None:
        if self.holds_writer:
            self.holds_writer = False
            self.writer.release()

    def _start_transaction_under_autocommit(self) -> None:
        self.take_writer()
        try:
            cast(Any, super())._start_transaction_under_autocommit()
        except BaseException:
            self.give_writer()
            raise

    def _commit(self) -> None:
        try:
            cast(Any, super())._commit()
        finally:
            self.give_writer()

    def _rollback(self) -> None:
        try:
            cast(Any, super())._rollback()
        finally:
            self.give_writer()

    def _close(self) -> None:
        try:
            cast(Any, super())._close()
        finally:
            self.give_writer()

    def create_cursor(self, name: Any = None) -> Any:
        cursor = self.connection.cursor(factory=WriterCursor)
        cursor.wrapper = self
        return cursor


class WriterCursor(base.SQLiteCursorWrapper):
    """Django's cursor; a write outside a transaction holds the writers' lock meanwhile."""

    wrapper: DatabaseWrapper

    def execute(self, query: str, params: Any = None) -> Any:
        return self.run(query, super().execute, query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        return self.run(query, super().executemany, query, param_list)

    def run(self, query: str, statement: Callable[..., Any], *args: Any) -> Any:
        if not self.writes_alone(query):
            return statement(*args)
        self.wrapper.take_writer()
        try:
            return statement(*args)
        finally:
            self.wrapper.give_writer()

    def writes_alone(self, query: str) -> bool:
        """A write in autocommit mode, outside any transaction."""
        return (not self.wrapper.holds_writer and self.connection.isolation_level is None
                and not self.connection.in_transaction and is_write(query))
