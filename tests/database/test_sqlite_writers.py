"""The embedded default's SQLite writers queue on a lock of the process
(`waha_project/sqlite/base.py`): a write transaction holds it from its BEGIN to its end, a write
outside a transaction for its statement, and it is given back however the transaction ends."""

from __future__ import annotations

from pathlib import Path

from tests.database.children import run_child

CHILD = """
import json, sqlite3, threading
import django
django.setup()
from django.db import OperationalError, connection, connections, transaction
from sessions_app.models import Session
from waha_project.sqlite.base import writer_lock

lock = writer_lock(str(connection.settings_dict["NAME"]))
seen = {}
Session.objects.create(name="counter", generation=0)

# A transaction holds it from BEGIN to COMMIT, a failed one until its rollback.
with transaction.atomic():
    seen["in_atomic"] = lock.locked()
    with transaction.atomic():  # a savepoint: still the same writer
        seen["in_savepoint"] = lock.locked()
seen["after_commit"] = lock.locked()
try:
    with transaction.atomic():
        Session.objects.filter(name="counter").update(generation=99)
        raise ValueError
except ValueError:
    pass
seen["after_rollback"] = lock.locked()
seen["rolled_back"] = Session.objects.get(name="counter").generation
seen["read_takes_none"] = (list(Session.objects.values_list("name", flat=True)), lock.locked())

def in_thread(function):
    out = {}
    def run():
        try:
            out["value"] = function()
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            connections.close_all()
    thread = threading.Thread(target=run)
    thread.start()
    return thread, out

# Another writer of this process waits for the lock, a reader does not.
lock.acquire()
writer, wrote = in_thread(lambda: Session.objects.filter(name="counter").update(generation=7))
reader, read = in_thread(lambda: Session.objects.get(name="counter").generation)
reader.join(10)
writer.join(0.5)
seen["while_held"] = {"reader": read, "writer_waits": writer.is_alive()}
lock.release()
writer.join(10)
seen["after_release"] = {"writer": wrote, "value": Session.objects.get(name="counter").generation}

# Waited for as long as SQLite would wait, then "database is locked", and nothing kept.
connection.settings_dict["OPTIONS"]["timeout"] = 0.3
lock.acquire()
def late():
    with transaction.atomic():
        return Session.objects.filter(name="counter").update(generation=8)
late_thread, late_out = in_thread(late)
late_thread.join(10)
lock.release()
seen["timed_out"] = late_out

# A BEGIN that fails (another process holds SQLite's own lock) gives the lock back.
other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
other.execute("BEGIN IMMEDIATE")
begun, begun_out = in_thread(late)
begun.join(10)
seen["begin_failed"] = {"out": begun_out, "held_after": lock.locked()}
other.execute("ROLLBACK")
other.close()
connection.settings_dict["OPTIONS"]["timeout"] = 30

# Many writers at once: every read-modify-write kept, none refused.
Session.objects.filter(name="counter").update(generation=0)
def add_many():
    for _ in range(60):
        with transaction.atomic():
            row = Session.objects.get(name="counter")
            Session.objects.filter(pk=row.pk).update(generation=row.generation + 1)
        Session.objects.filter(name="counter").update(should_run=True)  # one alone
    return "ok"
threads = [in_thread(add_many) for _ in range(6)]
for thread, _ in threads:
    thread.join(120)
seen["many"] = {"outs": [out for _, out in threads],
                "value": Session.objects.get(name="counter").generation,
                "held_after": lock.locked()}
print(json.dumps(seen))
"""


def test_writers_queue_on_the_process_lock(tmp_path: Path) -> None:
    seen = run_child(CHILD, None, tmp_path)
    assert seen["in_atomic"] is True
    assert seen["in_savepoint"] is True
    assert seen["after_commit"] is False
    assert seen["after_rollback"] is False
    assert seen["rolled_back"] == 0
    assert seen["read_takes_none"] == [["counter"], False]
    assert seen["while_held"] == {"reader": {"value": 0}, "writer_waits": True}
    assert seen["after_release"] == {"writer": {"value": 1}, "value": 7}
    assert seen["timed_out"] == {"error": "OperationalError: database is locked"}
    assert seen["begin_failed"] == {"out": {"error": "OperationalError: database is locked"},
                                    "held_after": False}
    assert seen["many"] == {"outs": [{"value": "ok"}] * 6, "value": 360, "held_after": False}
