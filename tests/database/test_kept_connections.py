"""Engine and worker processes keep their PostgreSQL connection between calls; the default
(one connection per call, which web processes keep) opens a new one every time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.live_server import PROJECT_ROOT, clean_environment

# What `database_sync_to_async` does around every call of an engine: close what is obsolete,
# run, close what is obsolete. Each line prints the server process that answered two calls.
CHILD = """
import django
django.setup()
from django.db import close_old_connections, connection
from waha_project.database import keep_connections

def backend():
    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        answer = cursor.fetchone()[0]
    close_old_connections()
    return answer

print("default", backend() == backend())
keep_connections()
print("kept", backend() == backend())
"""


def test_engine_and_worker_processes_reuse_their_postgresql_connection(tmp_path: Path):
    env = clean_environment({
        "DJANGO_SETTINGS_MODULE": "waha_project.settings",
        "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "WAHA_API_KEY": "kept-connections-key-5c1d",
    })
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["default False", "kept True"]


def test_the_embedded_sqlite_database_is_left_as_it_is():
    from django.conf import settings

    from waha_project.database import keep_connections

    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    before = database.get("CONN_MAX_AGE", 0)

    keep_connections()

    assert database.get("CONN_MAX_AGE", 0) == before == 0
