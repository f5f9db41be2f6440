"""On PostgreSQL every role borrows its connections from a pool, so a request or a call opens
none. Without the pool (`WAHA_DB_POOL_MAX_SIZE=0`), engine and worker processes keep their
connection between calls, and the default (one connection per call, which web processes keep)
opens a new one every time. On the embedded SQLite database every thread keeps its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.database.children import BACKEND_OF_A_CALL
from tests.support.live_server import PROJECT_ROOT, clean_environment

# What `database_sync_to_async` does around every call of an engine, and Django around every
# request: close what is obsolete, run, close what is obsolete. Each line counts the server
# processes that answered six calls.
CHILD = """
import django
django.setup()
from waha_project.database import keep_connections
""" + BACKEND_OF_A_CALL + """
def backends():
    return len({backend() for _ in range(6)})

print("default", backends())
keep_connections()
print("kept", backends())
"""


def run_child(tmp_path: Path, **settings: str) -> list[str]:
    env = clean_environment({
        "DJANGO_SETTINGS_MODULE": "waha_project.settings",
        "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "WAHA_API_KEY": "kept-connections-key-5c1d",
        **settings,
    })
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")[:2]


def test_every_role_borrows_its_postgresql_connections_from_a_pool(tmp_path: Path):
    # The pool opens two connections, and one more if the first call comes before they are
    # open; the six calls, before and after keep_connections, open none of their own.
    answers = dict(line.split() for line in run_child(tmp_path))
    assert set(answers) == {"default", "kept"}
    assert int(answers["default"]) <= 3 and int(answers["kept"]) <= 3


def test_without_the_pool_engine_and_worker_processes_keep_their_connection(tmp_path: Path):
    assert run_child(tmp_path, WAHA_DB_POOL_MAX_SIZE="0") == ["default 6", "kept 1"]


def test_the_pool_is_sized_by_its_setting_and_leaves_django_no_connection_of_its_own(
        tmp_path: Path):
    env = clean_environment({
        "DJANGO_SETTINGS_MODULE": "waha_project.settings",
        "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "WAHA_API_KEY": "kept-connections-key-5c1d",
        "WAHA_DB_POOL_MAX_SIZE": "7",
    })
    code = ("from waha_project import settings as s; d = s.DATABASES['default'];"
            "print(d['CONN_MAX_AGE'], d['OPTIONS']['pool']['max_size'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "7"]


# Six calls on one thread, then one on another, each between the same closes as above; each
# line counts the connections Django opened.
SQLITE_CHILD = """
import threading
import django
django.setup()
from django.db import close_old_connections, connection
from django.db.backends.signals import connection_created
from waha_project.database import keep_connections

opened = []
connection_created.connect(lambda **kwargs: opened.append(1), weak=False)

def call():
    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    close_old_connections()

for _ in range(6):
    call()
print("thread", len(opened))
other = threading.Thread(target=call)
other.start()
other.join()
keep_connections()
call()
print("another", len(opened))
"""


def test_every_thread_keeps_its_embedded_sqlite_connection(tmp_path: Path):
    env = clean_environment({
        "DJANGO_SETTINGS_MODULE": "waha_project.settings",
        "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path),
        "WAHA_API_KEY": "kept-connections-key-5c1d",
    })
    done = subprocess.run([sys.executable, "-c", SQLITE_CHILD], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["thread 1", "another 2"]
