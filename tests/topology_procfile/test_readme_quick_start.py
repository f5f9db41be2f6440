"""The README's scaled quick start ("On one machine"), as written, on a PostgreSQL without the
role and database it names: its commands, with a throw-away name for `waha`, create what
`.env.example`'s DATABASE_URL needs, and the web role then migrates it."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.support.live_server import PROJECT_ROOT
from tests.support.stack import PG_ADMIN_URL, Stack

pytestmark = pytest.mark.timeout(300)

NAMED = re.compile(r"\bwaha\b")  # the role and database the quick start names


def quick_start_commands() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("### On one machine", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines()
            if line.split("#", 1)[0].strip()]


def example_environment() -> dict[str, str]:
    values = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


@pytest.fixture
def name() -> Iterator[str]:
    """A role and database name nobody has; both dropped at the end."""
    throwaway = f"waha_readme_{os.getpid()}_{secrets.token_hex(3)}"
    yield throwaway
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(sql.Identifier(throwaway)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(throwaway)))


def test_the_quick_start_creates_what_env_example_names_and_the_web_role_migrates_it(
        name: str, tmp_path: Path) -> None:
    creating = [command for command in quick_start_commands()
                if command.startswith(("createuser", "createdb"))]
    for command in creating:
        subprocess.run(shlex.split(NAMED.sub(name, command)), check=True, timeout=60,
                       capture_output=True)
    database_url = NAMED.sub(name, example_environment()["DATABASE_URL"])
    stack = Stack(tmp_path / "stack", database_url)
    try:
        stack.start_redis()
        env = {**stack.env, "WAHA_DASHBOARD_PASSWORD": "a-long-dashboard-password"}
        done = subprocess.run([sys.executable, "manage.py", "prepare_role", "web",
                               "--timeout", "20"], cwd=PROJECT_ROOT, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120, check=False)
    finally:
        stack.stop()

    assert creating, "the quick start creates no role or database"
    assert done.returncode == 0, done.stdout + done.stderr
    assert "migration(s) applied; the schema is up to date" in done.stdout
