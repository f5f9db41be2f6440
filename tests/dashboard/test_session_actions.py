"""Start, stop, restart, logout and delete from the dashboard: POST forms calling services."""

from __future__ import annotations

import pytest

from sessions_app.models import Session

from .conftest import make_session


def test_start_sets_the_desired_state_and_comes_back_with_a_message(browser):
    make_session("alpha")
    answer = browser.post("/dashboard/sessions/alpha/start", follow=True)
    assert answer.redirect_chain == [("/dashboard/sessions/alpha/", 302)]
    assert b"Session alpha is starting." in answer.content
    session = Session.objects.get(name="alpha")
    assert session.should_run and session.generation == 1


def test_stop_restart_and_logout_go_through_the_services(browser):
    make_session("alpha", should_run=True, generation=1, applied_generation=1,
                 me={"id": "1@c.us"})
    browser.post("/dashboard/sessions/alpha/restart")
    assert Session.objects.get(name="alpha").generation == 2
    browser.post("/dashboard/sessions/alpha/logout")
    session = Session.objects.get(name="alpha")
    assert session.me is None and session.logout_pending and session.generation == 3
    browser.post("/dashboard/sessions/alpha/stop")
    assert not Session.objects.get(name="alpha").should_run


def test_an_action_returns_to_a_local_next_page_only(browser):
    make_session("alpha")
    answer = browser.post("/dashboard/sessions/alpha/start", {"next": "/dashboard/"})
    assert answer.headers["Location"] == "/dashboard/"
    answer = browser.post("/dashboard/sessions/alpha/stop", {"next": "https://evil.example/"})
    assert answer.headers["Location"] == "/dashboard/sessions/alpha/"


def test_an_action_on_a_missing_session_says_so(browser):
    answer = browser.post("/dashboard/sessions/ghost/start", {"next": "/dashboard/"},
                          follow=True)
    assert b"Could not start ghost: Session not found" in answer.content


@pytest.mark.parametrize("method", ["get", "put"])
def test_actions_are_post_only(browser, method):
    make_session("alpha")
    assert getattr(browser, method)("/dashboard/sessions/alpha/start").status_code == 405
    assert not Session.objects.get(name="alpha").should_run


def test_an_unknown_action_is_not_found(browser):
    make_session("alpha")
    assert browser.post("/dashboard/sessions/alpha/explode").status_code == 404


def test_delete_asks_first_and_deletes_on_confirmation(browser):
    make_session("alpha")
    page = browser.get("/dashboard/sessions/alpha/delete")
    assert page.status_code == 200
    assert b"Delete session alpha?" in page.content
    assert Session.objects.filter(name="alpha").exists()

    answer = browser.post("/dashboard/sessions/alpha/delete", follow=True)
    assert answer.redirect_chain == [("/dashboard/", 302)]
    assert b"Session alpha deleted." in answer.content
    assert not Session.objects.filter(name="alpha").exists()


def test_the_list_shows_each_session_with_its_status_account_and_actions(browser):
    make_session("alpha", should_run=True, generation=1, applied_generation=1,
                 status="WORKING", me={"id": "4915112345678@c.us", "pushName": "Ada"},
                 owner="engine-7")
    make_session("beta")
    html = browser.get("/dashboard/").content.decode()
    assert 'data-badge="alpha">WORKING<' in html
    assert 'data-badge="beta">STOPPED<' in html
    assert "+4915112345678" in html and "Ada" in html
    for action in ["start", "stop", "restart", "logout"]:
        assert f'action="/dashboard/sessions/alpha/{action}"' in html
    assert 'href="/dashboard/sessions/alpha/delete"' in html
    assert 'href="/dashboard/create"' in html
    assert 'data-live="*"' in html
