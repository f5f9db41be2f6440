"""What the engine observes, applied to a session row: the rules, without a runtime or a loop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from sessions_app.models import ObservedChange, Session, SessionStatus, SessionStatusChange


def apply_observed(session: Session, status: str, **observed: Any) -> ObservedChange:
    """One observation applied and saved as `services.record_statuses` saves it."""
    result = session.observe(status, **observed)
    if result.history is not None:
        result.history.save()
    if result.fields:
        session.save(update_fields=result.fields)
    return result.change


def history(session: Session) -> list[str]:
    return list(SessionStatusChange.objects.filter(session=session).order_by("id")
                .values_list("status", flat=True))


def scanning(name: str = "observed") -> Session:
    session = Session.objects.create(name=name, should_run=True, generation=1)
    apply_observed(session, SessionStatus.STARTING, generation=1)
    apply_observed(session, SessionStatus.SCAN_QR_CODE, qr="code-1", qr_lifetime=60)
    return session


@pytest.mark.django_db
def test_a_new_status_is_a_transition_with_a_history_row() -> None:
    session = Session.objects.create(name="observed")

    change = apply_observed(session, SessionStatus.STARTING, generation=1, reason="boot")

    assert change == ObservedChange(transition=True, new_qr=False, new_run=True)
    assert change.saved and change.news
    session.refresh_from_db()
    assert (session.status, session.applied_generation) == (SessionStatus.STARTING, 1)
    assert SessionStatusChange.objects.get(session=session).reason == "boot"


@pytest.mark.django_db
def test_the_same_status_again_changes_nothing() -> None:
    session = scanning()

    change = apply_observed(session, SessionStatus.SCAN_QR_CODE, qr="code-1", qr_lifetime=60)

    assert not change.saved and not change.news
    assert history(session) == ["STARTING", "SCAN_QR_CODE"]


@pytest.mark.django_db
def test_a_new_qr_code_is_news_without_a_history_row() -> None:
    session = scanning()

    with time_machine.travel(timezone.now(), tick=False):
        change = apply_observed(session, SessionStatus.SCAN_QR_CODE, qr="code-2", qr_lifetime=20)
        expected_expiry = timezone.now() + timedelta(seconds=20)

    assert change == ObservedChange(transition=False, new_qr=True, new_run=False)
    session.refresh_from_db()
    assert (session.qr_value, session.qr_expires_at) == ("code-2", expected_expiry)
    assert history(session) == ["STARTING", "SCAN_QR_CODE"]


@pytest.mark.django_db
def test_leaving_scan_qr_code_clears_the_code_and_working_keeps_me() -> None:
    session = scanning()

    apply_observed(session, SessionStatus.WORKING, me={"id": "1@c.us", "pushName": "Al"})

    session.refresh_from_db()
    assert (session.qr_value, session.qr_expires_at) == ("", None)
    assert session.me == {"id": "1@c.us", "pushName": "Al"}


@pytest.mark.django_db
def test_failed_keeps_the_reason_until_a_new_run() -> None:
    session = scanning()

    apply_observed(session, SessionStatus.FAILED, reason="QR code expired")
    session.refresh_from_db()
    assert session.last_error == "QR code expired"

    change = apply_observed(session, SessionStatus.STARTING, generation=2)
    session.refresh_from_db()
    assert change == ObservedChange(transition=True, new_qr=False, new_run=True)
    assert (session.last_error, session.applied_generation) == ("", 2)


@pytest.mark.django_db
def test_a_report_of_the_same_run_keeps_its_error() -> None:
    session = scanning()
    apply_observed(session, SessionStatus.FAILED, reason="dial failed")

    apply_observed(session, SessionStatus.STARTING, generation=1, reason="retrying")

    session.refresh_from_db()
    assert (session.status, session.last_error) == (SessionStatus.STARTING, "dial failed")


@pytest.mark.django_db
def test_an_engine_that_no_longer_owns_a_session_finds_nothing_to_write() -> None:
    Session.objects.create(name="mine", owner="engine-a")
    Session.objects.create(name="anyone's")

    assert list(Session.objects.owned_or_any("engine-b")) == []
    assert [s.name for s in Session.objects.owned_or_any("engine-a")] == ["mine"]
    assert Session.objects.owned_or_any(None).count() == 2
