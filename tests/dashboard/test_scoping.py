"""A dashboard user who is not a superuser reaches only the sessions granted to them: another
session is missing (404, as one that does not exist), an action they do not hold is refused
(403, saying which) and changes nothing, and creating sessions is for superusers."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from sessions_app.models import Session
from webhooks_app.models import Delivery

from .conftest import form_data, grant, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha(scoped_user) -> Session:
    """Granted to the scoped user with WAHA's default actions (all but delete)."""
    session = make_session("alpha", should_run=True, generation=1, applied_generation=1,
                           status="WORKING", me={"id": "4915112345678@c.us"})
    grant(scoped_user, session)
    return session


@pytest.fixture
def beta() -> Session:
    """Not granted to the scoped user."""
    return make_session("beta", should_run=True, generation=1, applied_generation=1,
                        status="WORKING")


def text(answer) -> str:
    return answer.content.decode()


def without_tokens(html: str) -> str:
    """The page without its CSRF tokens, which are masked anew on every answer."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_the_list_shows_only_the_sessions_granted(scoped_browser: Client, alpha, beta):
    html = text(scoped_browser.get("/dashboard/"))
    assert 'data-row="alpha"' in html
    assert "beta" not in html


def test_a_superuser_still_sees_every_session(browser: Client, alpha, beta):
    html = text(browser.get("/dashboard/"))
    assert 'data-row="alpha"' in html and 'data-row="beta"' in html


@pytest.mark.parametrize("method, path", [
    ("get", "/dashboard/sessions/beta/"),
    ("get", "/dashboard/sessions/beta/edit"),
    ("post", "/dashboard/sessions/beta/edit"),
    ("get", "/dashboard/sessions/beta/delete"),
    ("post", "/dashboard/sessions/beta/delete"),
    ("post", "/dashboard/sessions/beta/stop"),
    ("post", "/dashboard/sessions/beta/request-code"),
])
def test_another_session_is_answered_as_missing(scoped_browser: Client, alpha, beta,
                                                method, path):
    answer = getattr(scoped_browser, method)(path, form_data())
    missing = getattr(scoped_browser, method)(path.replace("beta", "ghost"), form_data())

    assert answer.status_code == 404
    assert "There is no session named beta." in text(answer)
    # Nothing tells a session of someone else from one that does not exist.
    assert without_tokens(text(answer)).replace("beta", "ghost") == without_tokens(text(missing))
    beta.refresh_from_db()
    assert beta.should_run and Session.objects.filter(name="beta").exists()


@pytest.mark.parametrize("action", ["start", "stop", "restart", "logout"])
def test_a_lifecycle_action_without_control_is_refused_and_changes_nothing(
        scoped_browser: Client, scoped_user, beta, action):
    session = make_session("alpha", should_run=True, generation=1, applied_generation=1,
                           status="WORKING", me={"id": "1@c.us"})
    grant(scoped_user, session, control=False)

    answer = scoped_browser.post(f"/dashboard/sessions/alpha/{action}")

    assert answer.status_code == 403
    word = "log out" if action == "logout" else action
    assert (f"You may not {word} session alpha: the &#x27;control&#x27; action is not "
            "granted to you.") in text(answer)
    after = Session.objects.get(name="alpha")
    assert (after.should_run, after.generation, after.me) == (True, 1, {"id": "1@c.us"})


def test_a_pairing_code_needs_control(scoped_browser: Client, scoped_user):
    grant(scoped_user, make_session("alpha", should_run=True, status="SCAN_QR_CODE"),
          control=False)
    answer = scoped_browser.post("/dashboard/sessions/alpha/request-code",
                                 {"phone_number": "12132132130"})
    assert answer.status_code == 403
    assert "request a pairing code for session alpha" in text(answer)


def test_the_config_form_needs_setting_and_saves_nothing_without_it(scoped_browser: Client,
                                                                    scoped_user):
    grant(scoped_user, make_session("alpha", config={"debug": False}), setting=False)

    page = scoped_browser.get("/dashboard/sessions/alpha/edit")
    saved = scoped_browser.post("/dashboard/sessions/alpha/edit", form_data(debug="on"))

    assert (page.status_code, saved.status_code) == (403, 403)
    assert "the &#x27;setting&#x27; action" in text(saved)
    assert Session.objects.get(name="alpha").config == {"debug": False}


def test_delete_needs_the_delete_action_which_a_grant_lacks_by_default(scoped_browser: Client,
                                                                       alpha):
    page = scoped_browser.get("/dashboard/sessions/alpha/delete")
    deleted = scoped_browser.post("/dashboard/sessions/alpha/delete")

    assert (page.status_code, deleted.status_code) == (403, 403)
    assert Session.objects.filter(name="alpha").exists()


def test_the_session_page_needs_read(scoped_browser: Client, scoped_user):
    grant(scoped_user, make_session("alpha"), read=False)
    answer = scoped_browser.get("/dashboard/sessions/alpha/")
    assert answer.status_code == 403
    assert "You may not view session alpha" in text(answer)


def test_granted_actions_work(scoped_browser: Client, scoped_user):
    grant(scoped_user, make_session("alpha"), delete=True)

    scoped_browser.post("/dashboard/sessions/alpha/start")
    assert Session.objects.get(name="alpha").should_run
    answer = scoped_browser.post("/dashboard/sessions/alpha/delete", follow=True)
    assert b"Session alpha deleted." in answer.content
    assert not Session.objects.filter(name="alpha").exists()


def test_only_the_buttons_the_user_may_use_are_shown(scoped_browser: Client, scoped_user):
    grant(scoped_user, make_session("alpha"), control=False, setting=False)
    grant(scoped_user, make_session("gamma"), delete=True)

    listing = text(scoped_browser.get("/dashboard/"))
    page = text(scoped_browser.get("/dashboard/sessions/alpha/"))

    assert 'aria-label="Stop alpha"' not in listing and 'aria-label="Stop gamma"' in listing
    assert 'aria-label="Delete alpha"' not in listing and 'aria-label="Delete gamma"' in listing
    assert "Edit config" not in page and "request-code" not in page
    assert "Create a session" not in listing and 'href="/dashboard/create"' not in listing
    assert 'href="/dashboard/keys/"' not in listing


def test_creating_a_session_is_for_superusers(scoped_browser: Client, alpha):
    page = scoped_browser.get("/dashboard/create")
    created = scoped_browser.post("/dashboard/create", form_data(name="mine"))

    assert (page.status_code, created.status_code) == (403, 403)
    assert "Only a superuser may create sessions." in text(created)
    assert not Session.objects.filter(name="mine").exists()


def delivery(session: Session, url: str, event_id: str) -> Delivery:
    return Delivery.objects.create(
        session=session, session_name=session.name, event="message", event_id=event_id,
        event_timestamp=1, body="{}", url=url, retry_policy="constant",
        retry_delay_seconds=2, retry_attempts=1, status="failed", attempts=1)


def test_deliveries_of_other_sessions_are_neither_shown_nor_sent_again(
        scoped_browser: Client, alpha, beta):
    own = delivery(alpha, "https://alpha.example.com/hook", "evt_own")
    other = delivery(beta, "https://beta.example.com/hook", "evt_other")

    html = text(scoped_browser.get("/dashboard/deliveries/"))
    filtered = text(scoped_browser.get("/dashboard/deliveries/?session=beta"))
    resent = scoped_browser.post(f"/dashboard/deliveries/{other.pk}/redeliver")

    assert "evt_own" in html and "alpha.example.com" in html
    assert "beta" not in html and "evt_other" not in filtered
    assert resent.status_code == 404
    assert Delivery.objects.filter(event_id="evt_other").count() == 1
    assert own.pk  # shown with its own button: control is granted
    assert f"/dashboard/deliveries/{own.pk}/redeliver" in html


def test_sending_a_delivery_again_needs_control(scoped_browser: Client, scoped_user):
    session = make_session("alpha")
    grant(scoped_user, session, control=False)
    own = delivery(session, "https://alpha.example.com/hook", "evt_own")

    html = text(scoped_browser.get("/dashboard/deliveries/"))
    resent = scoped_browser.post(f"/dashboard/deliveries/{own.pk}/redeliver")

    assert "evt_own" in html and "redeliver" not in html
    assert resent.status_code == 403
    assert Delivery.objects.count() == 1


def test_the_event_monitor_offers_only_readable_sessions(scoped_browser: Client, alpha, beta):
    html = text(scoped_browser.get("/dashboard/events/?session=beta"))
    assert '<option value="alpha"' in html and "beta" not in html
    assert 'data-live="*"' in html  # another session's name falls back to all of theirs
