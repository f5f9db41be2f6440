"""An audit row costs one INSERT, with no query of its own around it (no read; on SQLite no
transaction either: PostgreSQL's asynchronous commit is in test_audit_postgres.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sessions_app.access import create_key
from sessions_app.models import Session

from ..conftest import API_KEY

pytestmark = pytest.mark.django_db
AUDIT = "sessions_app.audit.AuditMiddleware"


def statements(method: str, path: str, key: str) -> list[str]:
    """The statements a request sends, savepoints (the test's own transaction) left out."""
    client = Client(headers={"X-Api-Key": key})  # built now: it reads MIDDLEWARE
    with CaptureQueriesContext(connection) as queries:
        client.generic(method, path)
    return [" ".join(query["sql"].split()[:3]) for query in queries.captured_queries
            if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


@pytest.mark.parametrize(("method", "path", "admin"), [
    ("POST", "/api/sessions/alpha/stop", True),
    ("DELETE", "/api/sessions/alpha", False),  # refused: the key lacks `delete`
])
def test_a_row_is_one_insert_more_than_the_request_without_it(settings, method, path, admin):
    session = Session.objects.create(name="alpha")
    key = API_KEY if admin else create_key(is_admin=False, session=session.name, is_active=True,
                                           actions={})[1]

    audited = statements(method, path, key)
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != AUDIT]
    plain = statements(method, path, key)

    assert audited == [*plain, 'INSERT INTO "sessions_app_auditentry"']
