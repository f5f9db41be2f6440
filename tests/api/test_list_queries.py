"""Listing sessions is one query, whatever their number and states: the answer reads no column
the list left out (each would be a query per session)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sessions_app.models import Session, SessionStatus

from ..conftest import API_KEY

pytestmark = pytest.mark.django_db


def sessions_in_every_state(count: int) -> None:
    now = timezone.now()
    states = [
        {},  # stopped
        {"should_run": True, "generation": 1},  # starting
        {"should_run": True, "generation": 1, "applied_generation": 1,
         "status": SessionStatus.WORKING, "status_changed_at": now, "me": {"id": "1@c.us"},
         "owner": "engine-a", "lease_expires_at": now + timedelta(seconds=30)},
        {"should_run": True, "generation": 2, "applied_generation": 2,
         "status": SessionStatus.FAILED, "last_error": "dial tcp: refused"},
    ]
    Session.objects.bulk_create([
        Session(name=f"s{n:03d}", config={"metadata": {"n": str(n)}}, **states[n % len(states)])
        for n in range(count)])


def session_queries(client: Client) -> tuple[list[str], list[dict[str, object]]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/sessions?all=true")
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries if "sessions_app" in q["sql"]], \
        response.json()


@pytest.mark.parametrize("count", [4, 40])
def test_the_list_is_one_query(client: Client, count: int) -> None:
    client.defaults["HTTP_X_API_KEY"] = API_KEY
    sessions_in_every_state(count)

    sql, answer = session_queries(client)

    assert len(sql) == 1, sql
    assert len(answer) == count
    assert {item["status"] for item in answer} == {"STOPPED", "STARTING", "WORKING", "FAILED"}
    working = next(item for item in answer if item["status"] == "WORKING")
    assert working["assignedWorker"] == "engine-a" and working["me"] == {"id": "1@c.us"}
