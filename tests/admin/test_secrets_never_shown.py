"""No secret (HMAC key, proxy password, custom header value, URL password, QR value) reaches
any admin page."""

from __future__ import annotations

import pytest
from django.test import Client

from sessions_app.admin import masked_config
from sessions_app.models import EngineProcess, Session
from waha_project.admin import MASK
from webhooks_app.models import Delivery, Webhook

from .helpers import (
    HMAC_KEY,
    HOOK_URL_SHOWN,
    PROXY_PASSWORD,
    SECRETS,
    URL_PASSWORD,
    admin_url,
    make_delivery,
    make_engine_process,
    scanning_session,
    secret_config,
    working_session,
)

pytestmark = pytest.mark.django_db


def assert_no_secret(html: str, url: str) -> None:
    for secret in SECRETS:
        assert secret not in html, f"{secret!r} shown on {url}"


def test_no_page_shows_a_secret(admin_client: Client) -> None:
    working = working_session("alpha")
    scanning = scanning_session("beta")
    delivery = make_delivery(working)
    make_engine_process()
    # History entries exist once an action ran, so the history pages have something to show.
    admin_client.post(admin_url(Session, "changelist"),
                      {"action": "restart_sessions", "_selected_action": [scanning.pk]})
    admin_client.post(admin_url(Delivery, "changelist"),
                      {"action": "send_again", "_selected_action": [delivery.pk]})
    urls = [admin_url(Session, "changelist"), admin_url(Webhook, "changelist"),
            admin_url(Delivery, "changelist"), admin_url(EngineProcess, "changelist"),
            admin_url(Session, "changelist") + "?q=acme",
            admin_url(Session, "changelist") + "?status=SCAN_QR_CODE"]
    for session in (working, scanning):
        urls += [admin_url(Session, view, session.pk) for view in ("change", "history", "delete")]
        urls += [admin_url(Webhook, view, hook.pk) for hook in session.webhooks.all()
                 for view in ("change", "history")]
    for row in Delivery.objects.all():
        urls += [admin_url(Delivery, view, row.pk) for view in ("change", "history")]

    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_no_secret(response.content.decode(), url)


def test_the_logout_confirmation_shows_no_secret(admin_client: Client) -> None:
    session = scanning_session()

    response = admin_client.post(admin_url(Session, "changelist"),
                                 {"action": "logout_sessions", "_selected_action": [session.pk]})

    assert response.status_code == 200
    assert_no_secret(response.content.decode(), "logout confirmation")


def test_the_config_is_shown_masked(admin_client: Client) -> None:
    session = working_session()

    html = admin_client.get(admin_url(Session, "change", session.pk)).content.decode()

    assert html.count(MASK) >= 3  # HMAC key, proxy password, custom header value
    assert "proxy.example.com:3128" in html and "Acme Ltd" in html


def test_masking_keeps_the_shape_and_leaves_the_stored_config_alone() -> None:
    config = secret_config()

    shown = masked_config(config)

    assert shown["webhooks"][0]["url"] == HOOK_URL_SHOWN
    assert shown["webhooks"][0]["hmac"] == {"key": MASK}
    assert shown["webhooks"][0]["customHeaders"] == [{"name": "Authorization", "value": MASK}]
    assert shown["proxy"] == {"server": "proxy.example.com:3128", "username": "bob",
                              "password": MASK}
    assert config["webhooks"][0]["hmac"]["key"] == HMAC_KEY
    assert config["proxy"]["password"] == PROXY_PASSWORD


def test_masking_tolerates_configs_of_other_shapes() -> None:
    assert masked_config({}) == {}
    assert masked_config({"webhooks": None, "proxy": None}) == {"webhooks": None, "proxy": None}
    assert masked_config({"webhooks": ["odd"], "proxy": {"server": "p:1"}}) == {
        "webhooks": ["odd"], "proxy": {"server": "p:1"}}
    assert masked_config({"webhooks": [{"url": "https://x", "hmac": {"key": None}}]}) == {
        "webhooks": [{"url": "https://x", "hmac": {"key": None}}]}


def test_a_search_cannot_probe_for_a_secret(admin_client: Client) -> None:
    working_session()

    for term in (HMAC_KEY, PROXY_PASSWORD, "super-secret"):
        response = admin_client.get(admin_url(Session, "changelist"), {"q": term})
        assert list(response.context["cl"].result_list) == [], term


def test_a_webhook_search_cannot_probe_for_a_url_password(admin_client: Client) -> None:
    working_session()

    def found(term: str) -> list[Webhook]:
        response = admin_client.get(admin_url(Webhook, "changelist"), {"q": term})
        return list(response.context["cl"].result_list)

    assert found(URL_PASSWORD) == [] and found("url-pass") == []
    assert len(found("hooks.example.com/whatsapp")) == 1
    assert len(found("hook-user")) == 1
    assert len(found("alpha")) == 1  # the session's name
