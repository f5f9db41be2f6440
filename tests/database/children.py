"""A child process with Django set up on either database (conftest.py's `database_url`), for
tests that compare what the database holds (test_insert_rows.py, test_update_rows.py,
test_listed_rows.py, test_by_key.py), and a snippet for children that count server processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.live_server import PROJECT_ROOT, clean_environment


def run_child(code: str, database_url: str | None, tmp_path: Path) -> dict[str, Any]:
    """Migrate the database, run `code` in a child with Django's settings on it, and answer the
    JSON the child printed."""
    env = clean_environment({
        "DJANGO_SETTINGS_MODULE": "waha_project.settings",
        "WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path),
        "WAHA_API_KEY": "database-child-key-4b1c",
        **({"DATABASE_URL": database_url} if database_url else {}),
    })
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# For a child's code: which PostgreSQL server process answers one call, between the closes
# that `database_sync_to_async` makes around an engine's call and Django around a request.
BACKEND_OF_A_CALL = """
from django.db import close_old_connections, connection

def backend():
    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        answer = cursor.fetchone()[0]
    close_old_connections()
    return answer
"""
