"""Browser tests: real headless Chromium (Debian's, driven by Playwright) against the product
started as `manage.py serve` on the fake engine, with short QR timings and self-pairing.

Chromium comes from the system (`scripts/test` installs Debian's package when missing);
Playwright never downloads a browser here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.support.live_server import PROJECT_ROOT, LiveServer
from tests.support.receiver import Receiver

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
USERNAME = "operator"
PASSWORD = "browser-test-password-7"
# QR codes rotate every 3 s; the fake engine pairs by itself 6 s after the first one.
SERVER_ENV = {
    "WAHA_FAKE_PAIR_AFTER_SECONDS": "6",
    "WAHA_QR_FIRST_SECONDS": "3",
    "WAHA_QR_NEXT_SECONDS": "3",
    "WAHA_QR_CODES": "6",
    "WAHA_DASHBOARD_USERNAME": USERNAME,
    "WAHA_DASHBOARD_PASSWORD": PASSWORD,
}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("browser") / "data", env=SERVER_ENV)
    try:
        live.start()
        yield live
    finally:
        live.kill()


@pytest.fixture(scope="session")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Chromium is missing: scripts/test installs it"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


class Problems:
    """JavaScript errors and Content-Security-Policy violations seen by a page."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.seen.append(f"pageerror: {error}"))
        page.on("console", lambda message: self.seen.append(f"console: {message.text}")
                if "Content Security Policy" in message.text else None)


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A fresh page, not logged in; fails the test on any JavaScript error or CSP violation."""
    problems = Problems()
    fresh = context.new_page()
    problems.watch(fresh)
    yield fresh
    assert problems.seen == []


@pytest.fixture
def user_page(page: Page, server: LiveServer) -> Page:
    log_in(page, server)
    return page


def log_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.base_url}/dashboard/")
    page.wait_for_url(re.compile(r"/dashboard/login/\?next="))
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server.base_url}/dashboard/")


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
