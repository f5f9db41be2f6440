"""On PostgreSQL an audit row written alone commits without waiting for the disk (asynchronous
commit, for its own transaction only); inside a caller's transaction it is a plain INSERT of
that transaction, whose commit stays synchronous."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import PROJECT_ROOT, clean_environment
from tests.support.stack import ThrowawayDatabase

CHILD = """
import django
django.setup()
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from sessions_app.access import record
from sessions_app.models import AuditEntry
from waha_project.access import ENV_ADMIN

def statements(queries):
    return [" ".join(q["sql"].split()[:4]) for q in queries.captured_queries]

def setting():
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]

with CaptureQueriesContext(connection) as alone:
    record(ENV_ADMIN, operation="session-stop", session="alpha", status=201)
print("alone", statements(alone), setting())
with transaction.atomic():
    with CaptureQueriesContext(connection) as inside:
        record(ENV_ADMIN, operation="session-start", session="alpha", status=201)
    print("inside", statements(inside), setting())
print("rows", sorted(AuditEntry.objects.values_list("operation", flat=True)))
"""


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("audit-postgres")
    db = ThrowawayDatabase("waha_audit").create()
    try:
        db.migrate(environment(db.url, data_dir))
        yield db.url, data_dir
    finally:
        db.drop()


def environment(url: str, data_dir: Path) -> dict[str, str]:
    return clean_environment({"DJANGO_SETTINGS_MODULE": "waha_project.settings",
                              "WAHA_LOCAL_STORE_BASE_DIR": str(data_dir), "DATABASE_URL": url,
                              "WAHA_API_KEY": "audit-postgres-key-7e3f"})


def test_a_row_alone_commits_asynchronously_and_inside_a_transaction_joins_it(database):
    url, data_dir = database

    done = subprocess.run([sys.executable, "-c", CHILD], cwd=PROJECT_ROOT,
                          env=environment(url, data_dir), capture_output=True, text=True,
                          timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    alone, inside, rows = done.stdout.splitlines()
    assert alone == ("alone ['BEGIN', 'SET LOCAL synchronous_commit TO', "
                     "'INSERT INTO \"sessions_app_auditentry\" (\"timestamp\",', 'COMMIT'] on")
    assert inside == "inside ['INSERT INTO \"sessions_app_auditentry\" (\"timestamp\",'] on"
    assert rows == "rows ['session-start', 'session-stop']"
