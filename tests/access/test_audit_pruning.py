"""Audit rows are kept `WAHA_AUDIT_RETENTION_DAYS` days, then pruned by an hourly beat task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from sessions_app.models import AuditEntry
from sessions_app.tasks import prune_audit
from waha_project.celery import app

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def write(operation: str) -> None:
    AuditEntry.objects.create(actor_kind="env", actor_id="WAHA_API_KEY", operation=operation,
                              status=201)


@pytest.mark.django_db
def test_rows_older_than_the_retention_go_and_younger_ones_stay(settings):
    settings.AUDIT_RETENTION_DAYS = 30
    with time_machine.travel(START, tick=False):
        write("old")
    with time_machine.travel(START + timedelta(days=2), tick=False):
        write("young")

    with time_machine.travel(START + timedelta(days=30, seconds=-1), tick=False):
        prune_audit()
        kept_before_the_horizon = sorted(AuditEntry.objects.values_list("operation", flat=True))
    with time_machine.travel(START + timedelta(days=31), tick=False):
        prune_audit()
        kept_after = list(AuditEntry.objects.values_list("operation", flat=True))

    assert kept_before_the_horizon == ["old", "young"]
    assert kept_after == ["young"]


def test_the_pruning_task_is_found_by_celery_and_on_the_hourly_beat_schedule():
    app.loader.import_default_modules()

    entry = settings.CELERY_BEAT_SCHEDULE["audit-prune"]

    assert entry["task"] == "sessions_app.tasks.prune_audit"
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 3600.0
