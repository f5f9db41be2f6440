"""The dashboard is behind Django's login (sessions + CSRF); the API key is never involved."""

from __future__ import annotations

import pytest
from django.test import Client

from sessions_app.models import Session

from ..conftest import API_KEY
from .conftest import PASSWORD, form_data, make_session

PAGES = ["/dashboard/", "/dashboard/create", "/dashboard/events/", "/dashboard/deliveries/",
         "/dashboard/sessions/alpha/", "/dashboard/sessions/alpha/edit",
         "/dashboard/sessions/alpha/delete"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_anonymous_visitors_to_the_login_form(db, path):
    make_session("alpha")
    answer = Client().get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/dashboard/login/?next={path}"


@pytest.mark.parametrize("action", ["start", "stop", "restart", "logout", "delete"])
def test_actions_by_anonymous_visitors_change_nothing(db, action):
    make_session("alpha", should_run=True, generation=1)
    answer = Client().post(f"/dashboard/sessions/alpha/{action}")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/dashboard/login/")
    session = Session.objects.get(name="alpha")
    assert session.should_run and session.generation == 1


def test_the_api_key_does_not_open_the_dashboard(db):
    answer = Client().get("/dashboard/", headers={"X-Api-Key": API_KEY})
    assert answer.status_code == 302


def test_logging_in_with_the_form_opens_the_dashboard(user):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/dashboard/login/")
    token = page.cookies["csrftoken"].value
    answer = client.post("/dashboard/login/?next=/dashboard/events/", {
        "username": "operator", "password": PASSWORD, "csrfmiddlewaretoken": token,
        "next": "/dashboard/events/",
    })
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard/events/"
    assert client.get("/dashboard/").status_code == 200


def test_a_wrong_password_is_refused_on_the_form(user):
    answer = Client().post("/dashboard/login/", {"username": "operator", "password": "nope"})
    assert answer.status_code == 200
    assert b"Please enter a correct username and password" in answer.content


def test_a_post_without_the_csrf_token_is_refused(strict_browser):
    make_session("alpha")
    assert strict_browser.post("/dashboard/sessions/alpha/start").status_code == 403
    assert strict_browser.post("/dashboard/create", form_data(name="beta")).status_code == 403
    assert not Session.objects.get(name="alpha").should_run
    assert not Session.objects.filter(name="beta").exists()


def test_a_post_with_the_csrf_token_goes_through(strict_browser):
    make_session("alpha")
    page = strict_browser.get("/dashboard/")
    token = page.context["csrf_token"]
    answer = strict_browser.post("/dashboard/sessions/alpha/start",
                                 {"csrfmiddlewaretoken": str(token)})
    assert answer.status_code == 302
    assert Session.objects.get(name="alpha").should_run


def test_logout_is_a_post_and_ends_the_login(browser):
    assert browser.get("/dashboard/logout/").status_code == 405
    assert browser.post("/dashboard/logout/").status_code == 302
    assert browser.get("/dashboard/").status_code == 302


def test_pages_carry_a_strict_content_security_policy_and_no_api_key(browser, settings):
    make_session("alpha")
    anonymous = Client()
    for client, path in [(browser, "/dashboard/"), (browser, "/dashboard/sessions/alpha/"),
                         (browser, "/dashboard/create"), (anonymous, "/dashboard/login/")]:
        answer = client.get(path)
        assert answer.status_code == 200
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert API_KEY.encode() not in answer.content
        assert b"x-api-key" not in answer.content.lower()
