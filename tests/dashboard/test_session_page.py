"""The session page: QR image, timeline, me, last error and the pairing-code form."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import httpx
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from sessions_app import services
from sessions_app.models import SessionStatusChange

from ..conftest import wait_status
from .conftest import make_session


def scanning(name: str = "alpha", qr: str = "2@abc,def,0", seconds: float = 20):
    return make_session(name, should_run=True, generation=1, applied_generation=1,
                        status="SCAN_QR_CODE", qr_value=qr,
                        qr_expires_at=timezone.now() + timedelta(seconds=seconds))


def test_a_scanning_session_shows_its_qr_as_a_png_data_url_with_a_countdown(browser):
    scanning(seconds=15)
    html = browser.get("/dashboard/sessions/alpha/").content.decode()
    image = re.search(r'<img id="qr-image" src="data:image/png;base64,([^"]+)"', html)
    assert image
    assert base64.b64decode(image.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    countdown = re.search(r'data-expires-in="([\d.]+)"', html)
    assert countdown and 13 < float(countdown.group(1)) <= 15
    assert "Expires in 15 s" in html or "Expires in 14 s" in html


def test_a_working_session_shows_no_qr_but_its_account(browser):
    make_session("alpha", should_run=True, generation=1, applied_generation=1,
                 status="WORKING", me={"id": "123456789@c.us", "pushName": "Ada",
                                       "jid": "123456789:7@s.whatsapp.net"})
    html = browser.get("/dashboard/sessions/alpha/").content.decode()
    assert '<figure id="qr-box" class="qr" data-session="alpha" hidden>' in html
    assert "Linked: no QR code needed." in html
    assert "+123456789" in html and "Ada" in html and "123456789:7@s.whatsapp.net" in html


def test_the_timeline_is_newest_first_with_reasons_and_the_last_error_shows(browser):
    session = make_session("alpha", status="FAILED", last_error="Could not reach WhatsApp")
    now = timezone.now()
    for offset, status, reason in [(3, "STARTING", ""), (2, "SCAN_QR_CODE", ""),
                                   (1, "FAILED", "QR code was not scanned in time")]:
        SessionStatusChange.objects.create(session=session, status=status, reason=reason,
                                           timestamp=now - timedelta(seconds=offset))
    html = browser.get("/dashboard/sessions/alpha/").content.decode()
    timeline = re.search(r'<ol id="timeline".*?</ol>', html, re.S).group(0)
    assert re.findall(r'class="badge badge-\w+">(\w+)<', timeline) == [
        "FAILED", "SCAN_QR_CODE", "STARTING"]
    assert "QR code was not scanned in time" in timeline
    assert "Could not reach WhatsApp" in html


def test_a_webhook_url_is_shown_and_linked_with_its_password_masked(browser):
    services.create_session("alpha", {"webhooks": [
        {"url": "https://bob:url-secret@hooks.example.com/in", "events": ["*"]}]}, start=False)

    html = browser.get("/dashboard/sessions/alpha/").content.decode()

    assert "url-secret" not in html and "url%2Dsecret" not in html
    assert ">https://bob:••••••@hooks.example.com/in</a>" in html
    assert "&amp;url=https%3A//bob%3A%E2%80%A2" in html


def test_an_unknown_session_page_is_not_found(browser):
    answer = browser.get("/dashboard/sessions/ghost/")
    assert answer.status_code == 404
    assert b"There is no session named ghost." in answer.content


def test_a_bad_phone_number_is_shown_beside_the_field(browser):
    scanning()
    answer = browser.post("/dashboard/sessions/alpha/request-code", {"phone_number": "0123"})
    assert answer.status_code == 400
    html = answer.content.decode()
    assert re.search(r'id="id_phone_number".*?<ul class="errorlist" id="id_phone_number_error">'
                     r"<li>must be in international form", html, re.S)


def test_a_pairing_code_needs_a_session_waiting_for_a_scan(browser):
    make_session("alpha", should_run=True, generation=1, applied_generation=1,
                 status="WORKING")
    answer = browser.post("/dashboard/sessions/alpha/request-code",
                          {"phone_number": "12132132130"})
    assert answer.status_code == 422
    assert ("Can request code only in SCAN_QR_CODE status. The current status is WORKING"
            in answer.content.decode())


def test_a_session_no_engine_runs_says_so_beside_the_field(browser):
    scanning()  # no owner: no engine to ask
    answer = browser.post("/dashboard/sessions/alpha/request-code",
                          {"phone_number": "+12132132130"})
    assert answer.status_code == 422
    assert "No engine runs this session right now" in answer.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_the_engine_answers_a_pairing_code_on_the_page(runtime, api: httpx.AsyncClient):
    await database_sync_to_async(services.create_session)("alpha", {}, start=True)
    await wait_status(api, "alpha", "SCAN_QR_CODE")

    def logged_in_cookie() -> str:
        user = User.objects.create_superuser("operator", password="irrelevant-password-1")
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    api.cookies.set("sessionid", await database_sync_to_async(logged_in_cookie)())
    # Through the real ASGI application, on this test's event loop, like uvicorn serves it,
    # CSRF checks included.
    page = await api.get("/dashboard/sessions/alpha/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = await api.post("/dashboard/sessions/alpha/request-code",
                            data={"phone_number": "12132132130", "csrfmiddlewaretoken": token})
    assert answer.status_code == 200, answer.text
    code = re.search(r'<strong id="pairing-code">([A-Z]{4}-[A-Z]{4})</strong>', answer.text)
    assert code, answer.text
