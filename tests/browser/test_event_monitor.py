"""The event monitor (live envelopes, filter, pause) and the deliveries page (attempts, send
again), in a real browser against the running server."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.live_server import LiveServer
from tests.support.receiver import Receiver

from .conftest import screenshot

pytestmark = pytest.mark.browser


def wait_working(api: httpx.Client, name: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while api.get(f"/api/sessions/{name}").json()["status"] != "WORKING":
        assert time.monotonic() < deadline, f"{name} never reached WORKING"
        time.sleep(0.1)


def send_text(api: httpx.Client, session: str, text: str) -> None:
    answer = api.post("/api/sendText", json={"session": session, "chatId": "4912345@c.us",
                                             "text": text})
    assert answer.status_code == 201, answer.text


def test_the_monitor_shows_live_envelopes_filters_and_pauses(user_page: Page,
                                                             server: LiveServer,
                                                             api: httpx.Client) -> None:
    page = user_page
    page.goto(f"{server.base_url}/dashboard/events/")
    expect(page.locator("#live-state")).to_have_text("Live")
    assert api.post("/api/sessions", json={"name": "watched"}).status_code == 201

    items = page.locator("#event-log li.event")
    expect(items.first).to_be_visible(timeout=10_000)
    envelope = json.loads(items.last.locator("pre").inner_text())
    assert envelope["event"] == "session.status"
    assert envelope["session"] == "watched"
    assert envelope["id"].startswith("evt_")
    wait_working(api, "watched")
    send_text(api, "watched", "hello from the test")
    expect(page.locator("#event-log li.event[data-event='message.any']")).to_have_count(1)
    screenshot(page, "events-all")

    page.get_by_label("Event", exact=True).select_option("message.any")
    expect(page.locator("#event-log li.event:visible")).to_have_count(1)
    visible = json.loads(page.locator("#event-log li.event:visible pre").inner_text())
    assert visible["payload"]["body"] == "hello from the test"
    expect(page.locator("#event-count")).to_have_text("1 event shown (message.any)")

    pause = page.locator("#pause")
    expect(pause).to_have_text("Pause")
    pause.click()
    expect(pause).to_have_attribute("aria-pressed", "true")
    send_text(api, "watched", "held while paused")
    expect(pause).to_have_text("Resume (1 new)")
    expect(page.locator("#event-log li.event:visible")).to_have_count(1)
    screenshot(page, "events-paused")
    pause.click()
    expect(pause).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#event-log li.event:visible")).to_have_count(2)
    newest = json.loads(page.locator("#event-log li.event:visible pre").first.inner_text())
    assert newest["payload"]["body"] == "held while paused"


def test_one_session_s_monitor_leaves_others_out(user_page: Page, server: LiveServer,
                                                 api: httpx.Client) -> None:
    page = user_page
    for name in ("mine", "theirs"):
        assert api.post("/api/sessions", json={"name": name, "start": False}).status_code == 201
    page.goto(f"{server.base_url}/dashboard/events/")
    page.get_by_label("Session", exact=True).select_option("mine")  # submits the form by itself
    expect(page).to_have_url(re.compile(r"session=mine"))
    expect(page.locator("#live-state")).to_have_text("Live")
    api.post("/api/sessions/theirs/start")
    api.post("/api/sessions/mine/start")
    expect(page.locator("#event-log li.event").first).to_be_visible(timeout=10_000)
    time.sleep(0.5)
    sessions = {json.loads(text)["session"]
                for text in page.locator("#event-log li.event pre").all_inner_texts()}
    assert sessions == {"mine"}
    screenshot(page, "events-one-session")


def test_deliveries_show_attempts_and_send_again(user_page: Page, server: LiveServer,
                                                 api: httpx.Client, receiver: Receiver) -> None:
    page = user_page
    url = receiver.url("/deliveries")
    created = api.post("/api/sessions", json={"name": "hooked", "config": {
        "webhooks": [{"url": url, "events": ["session.status"]}]}})
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 10
    while sum(r.path == "/deliveries" for r in receiver.requests) < 2:
        assert time.monotonic() < deadline, "the webhook got nothing"
        time.sleep(0.1)

    page.goto(f"{server.base_url}/dashboard/sessions/hooked/")
    page.get_by_role("link", name=url).click()
    expect(page.get_by_role("heading", name="Webhook deliveries")).to_be_visible()
    summary = page.locator("table.compact").first
    expect(summary).to_contain_text("session.status")
    # Newer deliveries may still be on their way: look at one already delivered.
    first = page.locator("li.delivery").filter(
        has=page.locator(".badge", has_text="delivered")).first
    expect(first).to_be_visible()
    expect(first.locator("tbody tr").first).to_contain_text("200")
    expect(first.locator("tbody tr").first).to_contain_text(re.compile(r"\d+ ms"))
    screenshot(page, "deliveries")

    event_id = first.locator("p.mono").inner_text().split(" ")[0]

    def received() -> int:
        return sum(r.headers.get("X-Webhook-Request-Id") == event_id
                   for r in receiver.requests)

    assert received() == 1
    first.get_by_role("button", name=re.compile(r"Send delivery \d+ again")).click()
    expect(page.locator(".messages")).to_contain_text(re.compile(r"sent again as delivery #\d+"))
    # The same event again (same id, so the receiver can dedupe it).
    deadline = time.monotonic() + 10
    while received() < 2:
        assert time.monotonic() < deadline, "the delivery was not sent again"
        time.sleep(0.05)
    expect(page).to_have_url(re.compile(r"/dashboard/deliveries/\?session=hooked"))
