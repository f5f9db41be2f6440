"""Creating a session costs its rows' INSERTs and nothing more."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app import services
from sessions_app.models import SessionStatus
from webhooks_app.models import Webhook

pytestmark = pytest.mark.django_db


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements sent, savepoints (the test's own transaction) left out."""
    return [" ".join(query["sql"].split()[:3]) for query in queries.captured_queries
            if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_creating_a_session_inserts_its_row_and_first_history_row_only():
    with CaptureQueriesContext(connection) as queries:
        session = services.create_session("alpha", {"metadata": {"a": "1"}}, start=True)

    assert statements(queries) == ['INSERT INTO "sessions_app_session"',
                                   'INSERT INTO "sessions_app_sessionstatuschange"']
    assert (session.status, session.should_run, session.generation) == (
        SessionStatus.STOPPED, True, 1)
    assert session.recent_statuses() == [
        {"status": SessionStatus.STOPPED, "timestamp": session.recent_statuses()[0]["timestamp"]}]
    assert session.status_changed_at == session.history.get().timestamp


def test_its_webhooks_are_one_more_insert():
    config = {"webhooks": [{"url": "https://example.com/a", "events": ["message"]},
                           {"url": "https://example.com/b", "events": ["session.status"]}]}
    with CaptureQueriesContext(connection) as queries:
        session = services.create_session("alpha", config, start=False)

    assert statements(queries)[2:] == ['INSERT INTO "webhooks_app_webhook"']
    assert list(Webhook.objects.filter(session=session).values_list("url", "position")) == [
        ("https://example.com/a", 0), ("https://example.com/b", 1)]
