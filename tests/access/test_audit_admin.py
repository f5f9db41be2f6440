"""The audit log in the Django admin: a read-only list with filters and a search; rows are
never added, changed or deleted there (pruning removes them)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sessions_app.models import AuditEntry

pytestmark = pytest.mark.django_db

LIST = "/admin/sessions_app/auditentry/"


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="a-long-password-42"))
    return client


@pytest.fixture
def entries() -> list[AuditEntry]:
    return [
        AuditEntry.objects.create(actor_kind="key", actor_id="key_id_alpha",
                                  operation="session-destroy", session="alpha", status=403,
                                  summary="DELETE /api/sessions/alpha"),
        AuditEntry.objects.create(actor_kind="user", actor_id="carol",
                                  operation="dashboard:stop", session="beta", status=302,
                                  summary="POST /dashboard/sessions/beta/stop"),
        AuditEntry.objects.create(actor_kind="env", actor_id="WAHA_API_KEY",
                                  operation="session-create", session="gamma", status=201,
                                  summary="POST /api/sessions"),
    ]


def listed(client: Client, query: str = "") -> set[str]:
    page = client.get(LIST + query)
    assert page.status_code == 200
    return {entry.summary for entry in page.context["cl"].result_list}


def test_the_list_shows_every_row_with_its_columns(staff, entries):
    page = staff.get(LIST)

    assert page.status_code == 200
    html = page.content.decode()
    for text in ("key_id_alpha", "session-destroy", "403", "dashboard:stop", "WAHA_API_KEY"):
        assert text in html


@pytest.mark.parametrize(("query", "summaries"), [
    ("?actor_kind__exact=user", {"POST /dashboard/sessions/beta/stop"}),
    ("?status__exact=403", {"DELETE /api/sessions/alpha"}),
    ("?operation__exact=session-create", {"POST /api/sessions"}),
    ("?q=gamma", {"POST /api/sessions"}),
    ("?q=carol", {"POST /dashboard/sessions/beta/stop"}),
])
def test_the_list_narrows_by_its_filters_and_search(staff, entries, query, summaries):
    assert listed(staff, query) == summaries


def test_rows_are_never_added_changed_or_deleted_in_the_admin(staff, entries):
    entry = entries[0]

    add = staff.get(LIST + "add/")
    delete = staff.post(f"{LIST}{entry.pk}/delete/", {"post": "yes"})
    change = staff.post(f"{LIST}{entry.pk}/change/", {"operation": "forged", "status": 200})
    bulk = staff.post(LIST, {"action": "delete_selected", "_selected_action": [entry.pk],
                             "post": "yes"})

    assert add.status_code == 403
    assert delete.status_code == 403
    assert change.status_code == 403
    assert bulk.status_code in (200, 302)
    entry.refresh_from_db()
    assert (entry.operation, entry.status) == ("session-destroy", 403)
    assert AuditEntry.objects.filter(pk__in=[e.pk for e in entries]).count() == 3
    # The refused attempts are on the record themselves.
    refused = AuditEntry.objects.filter(actor_id="boss", status=403)
    assert set(refused.values_list("operation", flat=True)) == {
        "admin:sessions_app_auditentry_delete", "admin:sessions_app_auditentry_change"}
