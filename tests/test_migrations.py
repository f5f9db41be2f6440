from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from sessions_app.models import Session
from webhooks_app.models import Delivery


@pytest.mark.django_db
def test_the_committed_migrations_match_the_models() -> None:
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


# sessions_app at a state before its later columns, in the database as in the old models.
BEFORE = [("webhooks_app", "0002_delivery_batches_and_breakers"), ("sessions_app", "0005_access")]
AFTER = [("webhooks_app", "0003_delivery_session"), ("sessions_app", "0005_access")]


@pytest.mark.django_db(transaction=True)
def test_existing_deliveries_go_to_the_session_of_their_name_that_existed_then() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps
        Session = old.get_model("sessions_app", "Session")
        Delivery = old.get_model("webhooks_app", "Delivery")
        now = timezone.now()
        # "alpha" was deleted and made again an hour ago; "beta" never was; "gamma" is gone.
        alpha = Session.objects.create(name="alpha", uid="a" * 26)
        beta = Session.objects.create(name="beta", uid="b" * 26)
        Session.objects.filter(pk=alpha.pk).update(created_at=now - timedelta(hours=1))
        Session.objects.filter(pk=beta.pk).update(created_at=now - timedelta(days=9))
        for name, event_id, age in [("alpha", "evt_predecessor", timedelta(days=2)),
                                    ("alpha", "evt_alpha", timedelta(minutes=5)),
                                    ("beta", "evt_beta", timedelta(days=1)),
                                    ("gamma", "evt_gamma", timedelta(days=1))]:
            row = Delivery.objects.create(
                session_name=name, event="message", event_id=event_id, event_timestamp=1,
                body="{}", url="https://hooks.example.com/", retry_policy="constant",
                retry_delay_seconds=2, retry_attempts=0)
            Delivery.objects.filter(pk=row.pk).update(created_at=now - age)

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        tied = dict(new.get_model("webhooks_app", "Delivery").objects
                    .values_list("event_id", "session_id"))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert tied == {"evt_predecessor": None, "evt_alpha": alpha.pk, "evt_beta": beta.pk,
                    "evt_gamma": None}


@pytest.mark.django_db(transaction=True)
def test_urls_already_in_the_admin_log_get_their_passwords_masked() -> None:
    before = [("webhooks_app", "0003_delivery_session")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        # The admin's log, its users and content types have the same tables at either state.
        user = User.objects.create(username="staff")
        for model, text in [(Delivery, "message evt_1 → https://bob:pw-secret@h.example/ (x)"),
                            (Session, "alpha")]:
            LogEntry.objects.create(user=user, content_type=ContentType.objects.get_for_model(
                model), object_id="1", object_repr=text, action_flag=CHANGE)

        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert sorted(LogEntry.objects.values_list("object_repr", flat=True)) == [
        "alpha", "message evt_1 → https://bob:••••••@h.example/ (x)"]


@pytest.mark.django_db(transaction=True)
def test_each_session_gets_its_last_three_statuses_from_its_history() -> None:
    before = [("sessions_app", "0005_access")]
    after = [("sessions_app", "0006_session_last_statuses")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        Session = old.get_model("sessions_app", "Session")
        Change = old.get_model("sessions_app", "SessionStatusChange")
        start = timezone.now().replace(microsecond=0)
        busy = Session.objects.create(name="busy", uid="c" * 26)
        Session.objects.create(name="new", uid="d" * 26)
        for minutes, status in enumerate(["STARTING", "SCAN_QR_CODE", "WORKING", "STOPPED"]):
            Change.objects.create(session=busy, status=status,
                                  timestamp=start + timedelta(minutes=minutes))

        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps
        filled = dict(new.get_model("sessions_app", "Session").objects
                      .values_list("name", "last_statuses"))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    base = int(start.timestamp() * 1000)
    assert filled == {
        "busy": [{"status": "SCAN_QR_CODE", "timestamp": base + 60_000},
                 {"status": "WORKING", "timestamp": base + 120_000},
                 {"status": "STOPPED", "timestamp": base + 180_000}],
        "new": [],
    }
