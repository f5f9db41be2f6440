"""The first dashboard user: from the environment, or with a generated password printed once."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from sessions_app.dashboard.first_run import ensure_dashboard_user
from tests.support.live_server import LiveServer


def test_it_creates_the_user_from_the_environment_without_printing_the_password(db, settings):
    settings.DASHBOARD_USERNAME = "boss"
    settings.DASHBOARD_PASSWORD = "env-password-long-enough"
    out = io.StringIO()

    ensure_dashboard_user(out)

    user = User.objects.get()
    assert user.username == "boss"
    assert user.is_superuser and user.is_staff
    assert authenticate(username="boss", password="env-password-long-enough") == user
    assert "env-password-long-enough" not in out.getvalue()
    assert "WAHA_DASHBOARD_PASSWORD" in out.getvalue()


def test_without_a_password_it_prints_a_generated_one_once(db, settings):
    settings.DASHBOARD_USERNAME = "admin"
    settings.DASHBOARD_PASSWORD = ""
    first, second = io.StringIO(), io.StringIO()

    ensure_dashboard_user(first)
    ensure_dashboard_user(second)

    match = re.search(r"user 'admin' created with a generated password .*?: (\S+)\n",
                      first.getvalue())
    assert match, first.getvalue()
    assert len(match.group(1)) >= 20
    assert authenticate(username="admin", password=match.group(1)) is not None
    assert second.getvalue() == ""
    assert User.objects.count() == 1


def test_it_leaves_existing_users_alone(db, settings):
    User.objects.create_user("someone", password="whatever-password-1")
    settings.DASHBOARD_PASSWORD = "another-password-123"
    out = io.StringIO()

    assert ensure_dashboard_user(out) is None

    assert list(User.objects.values_list("username", flat=True)) == ["someone"]
    assert out.getvalue() == ""


def test_a_too_short_environment_password_stops_start_up_naming_the_variable(db, settings):
    settings.DASHBOARD_PASSWORD = "short"

    with pytest.raises(ImproperlyConfigured, match="WAHA_DASHBOARD_PASSWORD"):
        ensure_dashboard_user(io.StringIO())
    assert not User.objects.exists()


def test_serve_prints_a_generated_password_once_and_it_logs_in(tmp_path):
    """The real command: a first start prints the password, a restart does not."""
    server = LiveServer(tmp_path / "data", env={"WAHA_DASHBOARD_USERNAME": "chief"})
    try:
        server.start()
        match = re.search(r"user 'chief' created with a generated password .*?: (\S+)",
                          server.output())
        assert match, server.output()
        with httpx.Client(base_url=server.base_url, timeout=10) as web:
            assert log_in(web, "chief", match.group(1)).headers["location"] == "/dashboard/"
            assert web.get("/dashboard/").status_code == 200
        assert server.terminate() == 0
        server.start()
        assert server.output().count("generated password") == 1
        assert server.output().count("WAHA listening") == 2
    finally:
        server.kill()


def log_in(web: httpx.Client, username: str, password: str) -> httpx.Response:
    page = web.get("/dashboard/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text
    answer = web.post("/dashboard/login/", data={
        "csrfmiddlewaretoken": token.group(1), "username": username, "password": password,
    })
    assert answer.status_code == 302, answer.text
    return answer
