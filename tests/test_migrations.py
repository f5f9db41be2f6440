from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import StateApps
from django.utils import timezone

from sessions_app.models import Session
from webhooks_app.models import Delivery


@pytest.mark.django_db
def test_the_committed_migrations_match_the_models() -> None:
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


Targets = list[tuple[str, str]]


def migrate(targets: Targets) -> StateApps:
    """Migrate the test database to `targets`; the models as they are there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest() -> None:
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@contextmanager
def starting_at(targets: Targets) -> Iterator[StateApps]:
    """The database at `targets` for the block (its models yielded), then at the latest
    migrations again, whatever happened in the block."""
    try:
        yield migrate(targets)
    finally:
        migrate_to_latest()


# sessions_app at a state before its later columns, in the database as in the old models.
BEFORE = [("webhooks_app", "0002_delivery_batches_and_breakers"), ("sessions_app", "0005_access")]
AFTER = [("webhooks_app", "0003_delivery_session"), ("sessions_app", "0005_access")]


@pytest.mark.django_db(transaction=True)
def test_existing_deliveries_go_to_the_session_of_their_name_that_existed_then() -> None:
    with starting_at(BEFORE) as old:
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

        new = migrate(AFTER)
        tied = dict(new.get_model("webhooks_app", "Delivery").objects
                    .values_list("event_id", "session_id"))

    assert tied == {"evt_predecessor": None, "evt_alpha": alpha.pk, "evt_beta": beta.pk,
                    "evt_gamma": None}


@pytest.mark.django_db(transaction=True)
def test_urls_already_in_the_admin_log_get_their_passwords_masked() -> None:
    with starting_at([("webhooks_app", "0003_delivery_session")]):
        # The admin's log, its users and content types have the same tables at either state.
        user = User.objects.create(username="staff")
        for model, text in [(Delivery, "message evt_1 → https://bob:pw-secret@h.example/ (x)"),
                            (Session, "alpha")]:
            LogEntry.objects.create(user=user, content_type=ContentType.objects.get_for_model(
                model), object_id="1", object_repr=text, action_flag=CHANGE)

        migrate_to_latest()

    assert sorted(LogEntry.objects.values_list("object_repr", flat=True)) == [
        "alpha", "message evt_1 → https://bob:••••••@h.example/ (x)"]


@pytest.mark.django_db(transaction=True)
def test_each_session_gets_its_last_three_statuses_from_its_history() -> None:
    with starting_at([("sessions_app", "0005_access")]) as old:
        Session = old.get_model("sessions_app", "Session")
        Change = old.get_model("sessions_app", "SessionStatusChange")
        start = timezone.now().replace(microsecond=0)
        busy = Session.objects.create(name="busy", uid="c" * 26)
        Session.objects.create(name="new", uid="d" * 26)
        for minutes, status in enumerate(["STARTING", "SCAN_QR_CODE", "WORKING", "STOPPED"]):
            Change.objects.create(session=busy, status=status,
                                  timestamp=start + timedelta(minutes=minutes))

        new = migrate([("sessions_app", "0006_session_last_statuses")])
        filled = dict(new.get_model("sessions_app", "Session").objects
                      .values_list("name", "last_statuses"))

    base = int(start.timestamp() * 1000)
    assert filled == {
        "busy": [{"status": "SCAN_QR_CODE", "timestamp": base + 60_000},
                 {"status": "WORKING", "timestamp": base + 120_000},
                 {"status": "STOPPED", "timestamp": base + 180_000}],
        "new": [],
    }
