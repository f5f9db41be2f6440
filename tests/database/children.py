"""A child process with Django set up on either database (conftest.py's `database_url`), for
tests that compare what the database holds (test_insert_rows.py, test_update_rows.py)."""

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
