"""Finding a session: by name, phone, metadata value, status and owner."""

from __future__ import annotations

import pytest
from django.test import Client

from sessions_app.models import Session, SessionStatus

from .helpers import PHONE, admin_url, make_session, observe, secret_config, working_session

pytestmark = pytest.mark.django_db


def listed(client: Client, **query: str) -> list[str]:
    response = client.get(admin_url(Session, "changelist"), query)
    assert response.status_code == 200
    return sorted(session.name for session in response.context["cl"].result_list)


@pytest.fixture
def sessions() -> None:
    working_session("alpha", secret_config(customer="Acme Ltd", plan="gold"))
    make_session("bravo", secret_config(customer="Globex", city="Zoë-Stadt"))
    starting = make_session("charlie", secret_config(customer="Initech"))
    Session.objects.filter(pk=starting.pk).update(should_run=True, generation=1)
    observe(make_session("delta", secret_config(customer="Umbrella")), SessionStatus.FAILED,
            last_error="QR code was not scanned in time", owner="engine-b")


@pytest.mark.usefixtures("sessions")
@pytest.mark.parametrize(("term", "names"), [
    (PHONE, ["alpha"]),
    (f"+{PHONE}", ["alpha"]),
    ("51123", ["alpha"]),
    ("acme", ["alpha"]),
    ("GLOBEX", ["bravo"]),
    ("Zoë", ["bravo"]),
    ('"Acme Ltd"', ["alpha"]),
    ("acme gold", ["alpha"]),
    ("acme globex", []),
    ("charlie", ["charlie"]),
    ("nothing-like-this", []),
])
def test_search_finds_by_name_phone_and_metadata(admin_client: Client, term: str,
                                                 names: list[str]) -> None:
    assert listed(admin_client, q=term) == names


@pytest.mark.usefixtures("sessions")
@pytest.mark.parametrize(("status", "names"), [
    (SessionStatus.WORKING, ["alpha"]),
    (SessionStatus.STOPPED, ["bravo"]),
    (SessionStatus.STARTING, ["charlie"]),
    (SessionStatus.FAILED, ["delta"]),
    (SessionStatus.SCAN_QR_CODE, []),
])
def test_the_status_filter_uses_the_status_the_api_shows(admin_client: Client, status: str,
                                                         names: list[str]) -> None:
    assert listed(admin_client, status=status) == names


def test_a_session_told_to_stop_counts_as_stopped_at_once(admin_client: Client) -> None:
    session = working_session("alpha")
    Session.objects.filter(pk=session.pk).update(should_run=False)

    assert listed(admin_client, status=SessionStatus.STOPPED) == ["alpha"]
    assert listed(admin_client, status=SessionStatus.WORKING) == []


@pytest.mark.usefixtures("sessions")
def test_the_owner_filter_lists_owners_and_sessions_without_one(admin_client: Client) -> None:
    page = admin_client.get(admin_url(Session, "changelist")).content.decode()

    assert "?owner=engine-a" in page and "?owner=engine-b" in page
    assert listed(admin_client, owner="engine-a") == ["alpha"]
    assert listed(admin_client, owner="engine-b") == ["delta"]
    assert listed(admin_client, owner="-") == ["bravo", "charlie"]


@pytest.mark.usefixtures("sessions")
def test_filters_and_search_combine(admin_client: Client) -> None:
    assert listed(admin_client, q="acme", status=SessionStatus.WORKING) == ["alpha"]
    assert listed(admin_client, q="acme", status=SessionStatus.STOPPED) == []
