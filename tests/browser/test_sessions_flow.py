"""A session's life in the dashboard, in a real browser: log in, create it with a webhook,
watch the QR code appear and rotate and the badge turn WORKING without a reload, ask for a
pairing code, stop and delete; and a form error shown beside its field."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.live_server import LiveServer
from tests.support.receiver import Receiver

from .conftest import screenshot

pytestmark = pytest.mark.browser

QR_IMAGE = "#qr-image"


def qr_source(page: Page) -> str:
    return page.locator(QR_IMAGE).get_attribute("src") or ""


def test_log_in_through_the_form(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.base_url}/dashboard/deliveries/")
    expect(page).to_have_url(re.compile(r"/dashboard/login/\?next=/dashboard/deliveries/"))
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
    screenshot(page, "login-refused")

    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("browser-test-password-7")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.base_url}/dashboard/deliveries/")
    expect(page.get_by_role("heading", name="Webhook deliveries")).to_be_visible()
    page.get_by_role("link", name="Sessions", exact=True).click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    expect(page.locator("#live-state")).to_have_text("Live")
    screenshot(page, "sessions-after-login")


def test_a_new_session_with_a_webhook_shows_its_qr_rotating_then_turns_working(
    user_page: Page, server: LiveServer, receiver: Receiver
) -> None:
    page = user_page
    page.get_by_role("link", name="Create a session").click()
    page.get_by_label("Name", exact=True).fill("flow")
    page.get_by_label("Key 1").fill("user.id")
    page.get_by_label("Value 1").fill("123")
    page.get_by_label("URL", exact=True).fill(receiver.url("/flow"))
    page.get_by_label("HMAC key").fill("flow-hmac-secret")
    page.get_by_role("button", name="Create session").click()
    expect(page).to_have_url(f"{server.base_url}/dashboard/sessions/flow/")
    expect(page.locator(".messages")).to_contain_text("Session flow created.")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # The first QR code appears by itself...
    image = page.locator(QR_IMAGE)
    expect(image).to_be_visible(timeout=10_000)
    expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(page.locator("#qr-countdown")).to_have_text(re.compile(r"Expires in \d s"))
    first = qr_source(page)
    screenshot(page, "session-qr-first")

    # ...is replaced at the next rotation, 3 s later, without a reload...
    page.wait_for_function(
        "first => document.querySelector('#qr-image').getAttribute('src') !== first",
        arg=first, timeout=10_000)
    assert qr_source(page).startswith("data:image/png;base64,")
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "session-qr-rotated")

    # ...and the fake engine pairs by itself: the badge turns WORKING, the QR goes away.
    badge = page.locator('h1 [data-badge="flow"]')
    expect(badge).to_have_text("WORKING", timeout=15_000)
    expect(badge).to_have_class(re.compile(r"badge-working"))
    expect(page.locator("#qr-box")).to_be_hidden()
    expect(page.locator("#qr-none")).to_have_text("Linked: no QR code needed.")
    expect(page.locator('[data-me="phone"]')).to_have_text(re.compile(r"^\+\d{11}$"))
    expect(page.locator("#timeline li").first).to_contain_text("WORKING")
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "session-working")

    # The webhook got the status events, signed; the page never shows the key.
    requests = receiver.wait_for(3, timeout=10)
    assert all("X-Webhook-Hmac" in request.headers for request in requests)
    page.get_by_role("link", name="Edit config").click()
    assert "flow-hmac-secret" not in page.content()
    expect(page.get_by_label("HMAC key")).to_have_attribute(
        "placeholder", "Saved; leave blank to keep it")


def test_a_pairing_code_for_another_session(user_page: Page, server: LiveServer,
                                            api: httpx.Client) -> None:
    page = user_page
    created = api.post("/api/sessions", json={"name": "coder"})
    assert created.status_code == 201, created.text
    page.goto(f"{server.base_url}/dashboard/sessions/coder/")
    expect(page.locator(QR_IMAGE)).to_be_visible(timeout=10_000)

    page.get_by_label("Phone number").fill("+12132132130")
    page.get_by_role("button", name="Get a pairing code").click()
    code = page.locator("#pairing-code")
    expect(code).to_have_text(re.compile(r"^[A-Z]{4}-[A-Z]{4}$"), timeout=15_000)
    screenshot(page, "session-pairing-code")

    # The phone "enters" it (the fake engine pairs by itself): linked to that number.
    expect(page.locator('h1 [data-badge="coder"]')).to_have_text("WORKING", timeout=15_000)
    expect(page.locator('[data-me="phone"]')).to_have_text("+12132132130")


def test_stop_then_delete_with_a_confirmation(user_page: Page, server: LiveServer,
                                              api: httpx.Client) -> None:
    page = user_page
    assert api.post("/api/sessions", json={"name": "doomed"}).status_code == 201
    page.goto(f"{server.base_url}/dashboard/")
    row = page.locator('tr[data-row="doomed"]')
    expect(row.locator("[data-badge]")).to_have_text(re.compile("STARTING|SCAN_QR_CODE|WORKING"))

    row.get_by_role("button", name="Stop doomed").click()
    expect(page.locator(".messages")).to_contain_text("Session doomed stopped.")
    expect(page.locator('tr[data-row="doomed"] [data-badge]')).to_have_text("STOPPED")
    assert api.get("/api/sessions/doomed").json()["status"] == "STOPPED"
    screenshot(page, "sessions-stopped")

    page.locator('tr[data-row="doomed"]').get_by_role("link", name="Delete doomed").click()
    expect(page.get_by_role("heading", name="Delete session doomed?")).to_be_visible()
    screenshot(page, "session-delete-confirm")
    page.get_by_role("button", name="Delete doomed").click()
    expect(page).to_have_url(f"{server.base_url}/dashboard/")
    expect(page.locator(".messages")).to_contain_text("Session doomed deleted.")
    expect(page.locator('tr[data-row="doomed"]')).to_have_count(0)
    assert api.get("/api/sessions/doomed").status_code == 404
    screenshot(page, "sessions-deleted")


def test_a_bad_webhook_url_is_shown_beside_its_field(user_page: Page,
                                                     server: LiveServer) -> None:
    page = user_page
    page.goto(f"{server.base_url}/dashboard/create")
    page.get_by_label("Name", exact=True).fill("badhook")
    url = page.get_by_label("URL", exact=True)
    url.fill("ftp://files.example.com/hook")
    page.get_by_role("button", name="Create session").click()

    url = page.get_by_label("URL", exact=True)
    error = page.locator("#id_webhooks-0-url_error")
    expect(error).to_have_text("must be an http or https URL")
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(url).to_have_attribute("aria-describedby", re.compile(r"id_webhooks-0-url_error"))
    expect(url).to_have_value("ftp://files.example.com/hook")
    # Beside: right under the input, in the same field container.
    field_box, error_box = url.bounding_box(), error.bounding_box()
    assert field_box and error_box
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 30
    assert abs(error_box["x"] - field_box["x"]) < 5
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("config.webhooks[0].url: must be an http or https URL")
    screenshot(page, "form-error-beside-field")

    summary.get_by_role("link").click()
    expect(url).to_be_focused()
