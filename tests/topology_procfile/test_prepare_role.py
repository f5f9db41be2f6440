"""`manage.py prepare_role`, run as the Procfile runs it: a child on the product's settings.

The engine, worker and beat roles wait for the web role's migrations, and give up with the
reason when the schema, the database or Redis is not there in time; a role or database that
does not exist, or a refused password, stops them at once with the commands that fix it; the
web role refuses to make up an API key nobody would see.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessions_app.management.commands.prepare_role import fix_for
from tests.support.live_server import PROJECT_ROOT, free_port
from tests.support.stack import Child, Stack, ThrowawayDatabase, product_environment

pytestmark = pytest.mark.timeout(300)


def prepare(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "prepare_role", *args],
                          cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_role_waits_for_the_schema_and_goes_on_once_it_is_migrated(
        stack: Stack, database: ThrowawayDatabase, tmp_path: Path) -> None:
    waiting = Child("prepare-engine", [sys.executable, "manage.py", "prepare_role", "engine",
                                       "--timeout", "180"], stack.env, tmp_path).start()
    deadline = time.monotonic() + 60
    while "engine: waiting for the schema" not in waiting.output():
        assert waiting.running, waiting.output()
        assert time.monotonic() < deadline, waiting.output()
        time.sleep(0.1)

    database.migrate(stack.env)

    assert waiting.wait(60) == 0, waiting.output()
    assert "engine: the schema is up to date" in waiting.output()


def test_a_role_gives_up_after_its_timeout_naming_the_migrations_left(
        stack: Stack) -> None:
    done = prepare(stack.env, "worker", "--timeout", "1")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "worker: the schema was not ready after 1 s:" in done.stderr
    assert "migration(s) not applied yet (contenttypes.0001_initial" in done.stderr


def test_the_web_role_migrates_once_and_then_finds_nothing_to_do(
        stack: Stack, database: ThrowawayDatabase) -> None:
    env = {**stack.env, "WAHA_DASHBOARD_PASSWORD": "a-long-dashboard-password"}
    first = prepare(env, "web")
    second = prepare(env, "web")

    assert first.returncode == 0, first.stdout + first.stderr
    assert "migration(s) applied; the schema is up to date" in first.stdout
    assert "Dashboard user 'admin' created from WAHA_DASHBOARD_PASSWORD." in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.strip() == "web: the schema is up to date"


def test_a_role_gives_up_when_redis_does_not_answer(
        database: ThrowawayDatabase, tmp_path: Path) -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    env = product_environment(tmp_path / "data", database.url, redis_url)

    done = prepare(env, "beat", "--timeout", "1")

    assert done.returncode == 1
    assert f"beat: Redis was not ready after 1 s: Redis ({redis_url}) does not answer" in (
        done.stderr)


def test_the_web_role_refuses_to_make_up_an_api_key(
        stack: Stack) -> None:
    env = {key: value for key, value in stack.env.items() if key != "WAHA_API_KEY"}

    done = prepare(env, "web")

    assert done.returncode == 1
    assert "WAHA_API_KEY is not set (or is too weak)" in done.stderr
    assert "DATABASE_URL" not in done.stderr


def test_a_role_that_does_not_exist_stops_at_once_with_the_lines_that_create_it(
        tmp_path: Path) -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # never reached: the database comes first
    url = "postgres://waha_no_such_role@127.0.0.1:5432/waha_no_such_db"
    env = product_environment(tmp_path / "data", url, redis_url)
    started = time.monotonic()

    done = prepare(env, "engine", "--timeout", "60")

    assert done.returncode == 1, done.stdout + done.stderr
    assert time.monotonic() - started < 20
    assert 'role "waha_no_such_role" does not exist' in done.stderr
    assert "waiting would not help" in done.stderr
    assert "createuser -h 127.0.0.1 -p 5432 -U postgres waha_no_such_role" in done.stderr
    assert ("createdb -h 127.0.0.1 -p 5432 -U postgres -O waha_no_such_role waha_no_such_db"
            in done.stderr)
    assert "not ready after" not in done.stderr


def test_a_database_that_does_not_exist_stops_at_once_with_the_createdb_line(
        tmp_path: Path) -> None:
    url = "postgres://postgres@127.0.0.1:5432/waha_no_such_db"
    env = product_environment(tmp_path / "data", url, f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()

    done = prepare(env, "web", "--timeout", "60")

    assert done.returncode == 1, done.stdout + done.stderr
    assert time.monotonic() - started < 20
    assert 'database "waha_no_such_db" does not exist' in done.stderr
    assert "createdb -h 127.0.0.1 -p 5432 -U postgres -O postgres waha_no_such_db" in done.stderr
    assert "createuser" not in done.stderr


def test_a_database_that_does_not_answer_is_still_waited_for(tmp_path: Path) -> None:
    url = f"postgres://postgres@127.0.0.1:{free_port()}/waha"
    env = product_environment(tmp_path / "data", url, f"redis://127.0.0.1:{free_port()}/0")

    done = prepare(env, "worker", "--timeout", "1")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "worker: waiting for the database: the database does not answer" in done.stdout
    assert "worker: the database was not ready after 1 s" in done.stderr


@pytest.mark.parametrize(("message", "fix"), [
    ('connection failed: FATAL:  password authentication failed for user "waha"',
     "ALTER ROLE"),
    ("connection failed: fe_sendauth: no password supplied", "in DATABASE_URL"),
    ('connection failed: FATAL:  role "waha" is not permitted to log in', "LOGIN"),
    ('connection failed: FATAL:  no pg_hba.conf entry for host "10.0.0.2"', "pg_hba.conf"),
])
def test_a_refused_password_or_login_is_not_waited_for(message: str, fix: str) -> None:
    assert fix in fix_for(message)


@pytest.mark.parametrize("message", [
    "connection failed: Connection refused",
    "connection failed: FATAL:  the database system is starting up",
    "connection failed: FATAL:  sorry, too many clients already",
])
def test_a_server_that_may_come_round_is_waited_for(message: str) -> None:
    assert fix_for(message) == ""
