"""Every page passes a basic accessibility check and works at phone width (390x844)."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.live_server import LiveServer

from .a11y import focus_problems, problems
from .conftest import PHONE, log_in, screenshot

pytestmark = pytest.mark.browser

PAGES = {
    "sessions": "/dashboard/",
    "create": "/dashboard/create",
    "session": "/dashboard/sessions/a11y/",
    "edit": "/dashboard/sessions/a11y/edit",
    "delete": "/dashboard/sessions/a11y/delete",
    "events": "/dashboard/events/",
    "deliveries": "/dashboard/deliveries/",
    "keys": "/dashboard/keys/",
}


@pytest.fixture(scope="module")
def a11y_session(api: httpx.Client) -> str:
    """A session waiting for a scan: the session page then shows a QR code and the form."""
    answer = api.post("/api/sessions", json={
        "name": "a11y", "config": {"webhooks": [{"url": "http://127.0.0.1:9/hook",
                                                 "events": ["session.status"]}]}})
    assert answer.status_code == 201, answer.text
    return "a11y"


def scanning_again(api: httpx.Client, name: str) -> None:
    """The fake engine pairs by itself after 6 s: log out for a fresh QR code."""
    assert api.post(f"/api/sessions/{name}/logout").status_code == 201
    deadline = time.monotonic() + 10
    while api.get(f"/api/sessions/{name}").json()["status"] != "SCAN_QR_CODE":
        assert time.monotonic() < deadline, "no QR code again"
        time.sleep(0.1)


def test_the_login_page_passes_the_check(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.base_url}/dashboard/login/")
    assert problems(page) == []
    checked, missing = focus_problems(page, presses=8)
    assert checked >= 4 and missing == []
    screenshot(page, "a11y-login")


@pytest.mark.parametrize("name", list(PAGES))
def test_each_dashboard_page_passes_the_check(user_page: Page, server: LiveServer,
                                              api: httpx.Client, a11y_session: str,
                                              name: str) -> None:
    page = user_page
    if name == "session":
        scanning_again(api, a11y_session)
    page.goto(server.base_url + PAGES[name])
    expect(page.locator("main h1")).to_be_visible()
    if name == "session":
        expect(page.locator("#qr-image")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("navigation", name="Main").count() == 1
    assert problems(page) == []
    checked, missing = focus_problems(page)
    assert checked >= 8, "too few focusable elements reached with Tab"
    assert missing == [], f"focus without a visible outline: {missing}"
    screenshot(page, f"a11y-{name}")


def test_form_errors_keep_the_page_accessible(user_page: Page, server: LiveServer) -> None:
    page = user_page
    page.goto(f"{server.base_url}/dashboard/create")
    page.get_by_label("URL", exact=True).fill("not a url")
    page.get_by_role("button", name="Create session").click()
    expect(page.locator("#id_webhooks-0-url_error")).to_be_visible()
    assert problems(page) == []
    screenshot(page, "a11y-form-errors")


def test_the_skip_link_shows_when_focused_and_jumps_to_the_content(user_page: Page,
                                                                   server: LiveServer) -> None:
    page = user_page
    page.goto(f"{server.base_url}/dashboard/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["y"] >= 0
    screenshot(page, "a11y-skip-link", full_page=False)
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


@pytest.mark.parametrize("name", ["sessions", "session", "create", "events", "deliveries",
                                  "keys"])
def test_pages_fit_a_phone_screen(chromium: Browser, server: LiveServer, api: httpx.Client,
                                  a11y_session: str, name: str) -> None:
    if name == "session":
        scanning_again(api, a11y_session)
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2,  # type: ignore[arg-type]
                                   is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        log_in(page, server)
        page.goto(server.base_url + PAGES[name])
        expect(page.locator("main h1")).to_be_visible()
        if name == "session":
            expect(page.locator("#qr-image")).to_be_visible()
            box = page.locator("#qr-image").bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} scrolls sideways: {width}px wide"
        assert problems(page) == []
        screenshot(page, f"phone-{name}")
    finally:
        context.close()
