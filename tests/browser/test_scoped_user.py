"""A dashboard user who is not a superuser, in a real browser: granted one session without
the `control` action, they see only that session (live), another session's page is missing,
and a Stop they do not hold is refused and changes nothing. And a superuser's Keys page
shows a new key once."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.live_server import PROJECT_ROOT, LiveServer

from .conftest import screenshot

pytestmark = pytest.mark.browser

AGENT = "agent"
AGENT_PASSWORD = "agent-browser-password-9"


def grant_in_the_server(server: LiveServer, session: str, **actions: bool) -> None:
    """A user who is not a superuser, and their grant, written to the server's database."""
    code = (
        "from django.contrib.auth.models import User\n"
        "from sessions_app.models import Session, SessionGrant\n"
        f"user = User.objects.create_user({AGENT!r}, password={AGENT_PASSWORD!r})\n"
        f"grant = SessionGrant(user=user, session=Session.objects.get(name={session!r}))\n"
        f"grant.actions = {{**grant.actions, **{actions!r}}}\n"
        "grant.save()\n"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=PROJECT_ROOT,
                   env=server.environment(), check=True, capture_output=True, timeout=60)


def log_in_as(page: Page, server: LiveServer, username: str, password: str) -> None:
    page.goto(f"{server.base_url}/dashboard/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server.base_url}/dashboard/")


def post_from_the_page(page: Page, url: str) -> int:
    """A form posted by the browser, with the page's CSRF token, as a hand-made request
    would be: the page itself offers no such button. Answers the status it got."""
    with page.expect_navigation() as navigation:
        page.evaluate("""url => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = url;
            const token = document.querySelector("input[name=csrfmiddlewaretoken]");
            form.appendChild(token.cloneNode());
            document.body.appendChild(form);
            form.submit();
        }""", url)
    response = navigation.value
    assert response is not None
    return response.status


def test_a_scoped_user_reaches_only_their_session_and_only_with_its_actions(
        page: Page, server: LiveServer, api: httpx.Client) -> None:
    for name in ("granted", "forbidden"):
        assert api.post("/api/sessions", json={"name": name}).status_code == 201
    grant_in_the_server(server, "granted", control=False)

    log_in_as(page, server, AGENT, AGENT_PASSWORD)

    # Only the granted session is listed, and its badge follows the engine live.
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(page.locator("tr[data-row]")).to_have_count(1)
    row = page.locator('tr[data-row="granted"]')
    expect(row.locator("[data-badge]")).to_have_text("WORKING", timeout=20_000)
    expect(row.get_by_role("button", name="Stop granted")).to_have_count(0)
    expect(page.get_by_role("link", name="Create a session")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Sessions", "Events", "Deliveries"])
    screenshot(page, "scoped-sessions")

    # Another session's page is missing, as a session that does not exist is.
    answer = page.goto(f"{server.base_url}/dashboard/sessions/forbidden/")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("main")).to_contain_text("There is no session named forbidden.")
    screenshot(page, "scoped-other-session")

    # Stop without the control action: refused, saying why; the session still runs.
    page.goto(f"{server.base_url}/dashboard/sessions/granted/")
    expect(page.get_by_role("heading", name=re.compile("granted"))).to_be_visible()
    status = post_from_the_page(page, "/dashboard/sessions/granted/stop")
    assert status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator("#refused-reason")).to_have_text(
        "You may not stop session granted: the 'control' action is not granted to you.")
    screenshot(page, "scoped-stop-refused")
    assert api.get("/api/sessions/granted").json()["status"] == "WORKING"

    # The keys are a superuser's: refused even when asked by address.
    answer = page.goto(f"{server.base_url}/dashboard/keys/")
    assert answer is not None and answer.status == 403


def test_a_new_key_is_shown_once_on_the_keys_page(user_page: Page, server: LiveServer,
                                                  api: httpx.Client) -> None:
    page = user_page
    assert api.post("/api/sessions", json={"name": "keyed", "start": False}).status_code == 201
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()

    page.get_by_label("Session", exact=True).select_option("keyed")
    page.get_by_label("control: start, stop, restart, logout, pairing code").uncheck()
    page.get_by_role("button", name="Create key").click()

    shown = page.locator("#created-key")
    expect(shown).to_have_text(re.compile(r"^key_[0-9a-f]{32}$"))
    key = shown.inner_text()
    screenshot(page, "keys-created")
    keyed = httpx.get(f"{server.base_url}/api/sessions/keyed", headers={"X-Api-Key": key})
    stop = httpx.post(f"{server.base_url}/api/sessions/keyed/stop", headers={"X-Api-Key": key})
    assert (keyed.status_code, stop.status_code) == (200, 403)

    page.goto(f"{server.base_url}/dashboard/keys/")  # the key is never shown again
    expect(page.locator("#created-key")).to_have_count(0)
    assert key not in page.content()
    row = page.locator("tr[data-key]").filter(has_text="keyed")
    expect(row).to_contain_text("read, send, setting, app")
    row.get_by_role("button", name=re.compile("Switch off")).click()
    expect(page.locator(".messages")).to_contain_text("switched off")
    assert httpx.get(f"{server.base_url}/api/sessions/keyed",
                     headers={"X-Api-Key": key}).status_code == 401
