"""The global webhook from WHATSAPP_HOOK_*: parsed, validated, and named when wrong."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from webhooks_app.config import global_webhook

BASE = {
    "WHATSAPP_HOOK_URL": "", "WHATSAPP_HOOK_EVENTS": "", "WHATSAPP_HOOK_HMAC_KEY": "",
    "WHATSAPP_HOOK_RETRIES_POLICY": "", "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS": "",
    "WHATSAPP_HOOK_RETRIES_ATTEMPTS": "", "WHATSAPP_HOOK_CUSTOM_HEADERS": "",
}


def with_env(settings, **values):
    settings.GLOBAL_WEBHOOK_ENV = {**BASE, **values}


def test_no_url_means_no_global_webhook(settings):
    with_env(settings)
    assert global_webhook() is None


def test_every_variable_becomes_part_of_the_webhook(settings):
    with_env(settings, WHATSAPP_HOOK_URL="https://hooks.example.com/in",
             WHATSAPP_HOOK_EVENTS="message, session.status",
             WHATSAPP_HOOK_HMAC_KEY="k3y", WHATSAPP_HOOK_RETRIES_POLICY="linear",
             WHATSAPP_HOOK_RETRIES_DELAY_SECONDS="4", WHATSAPP_HOOK_RETRIES_ATTEMPTS="3",
             WHATSAPP_HOOK_CUSTOM_HEADERS="X-A:1;X-B: two")

    hook = global_webhook()

    assert hook == {
        "url": "https://hooks.example.com/in",
        "events": ["message", "session.status"],
        "hmac": {"key": "k3y"},
        "retries": {"policy": "linear", "delaySeconds": 4, "attempts": 3},
        "customHeaders": [{"name": "X-A", "value": "1"}, {"name": "X-B", "value": "two"}],
    }


def test_events_default_to_all(settings):
    with_env(settings, WHATSAPP_HOOK_URL="https://hooks.example.com/in")
    assert global_webhook()["events"] == ["*"]


@pytest.mark.parametrize(("values", "variable"), [
    ({"WHATSAPP_HOOK_URL": "ftp://x"}, "WHATSAPP_HOOK_URL"),
    ({"WHATSAPP_HOOK_EVENTS": "message,nope"}, "WHATSAPP_HOOK_EVENTS"),
    ({"WHATSAPP_HOOK_RETRIES_POLICY": "sometimes"}, "WHATSAPP_HOOK_RETRIES_POLICY"),
    ({"WHATSAPP_HOOK_RETRIES_ATTEMPTS": "many"}, "WHATSAPP_HOOK_RETRIES_ATTEMPTS"),
    ({"WHATSAPP_HOOK_RETRIES_DELAY_SECONDS": "-1"}, "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS"),
    ({"WHATSAPP_HOOK_CUSTOM_HEADERS": "NoColon"}, "WHATSAPP_HOOK_CUSTOM_HEADERS"),
    ({"WHATSAPP_HOOK_CUSTOM_HEADERS": "X-Webhook-Hmac:forged"}, "WHATSAPP_HOOK_CUSTOM_HEADERS"),
])
def test_a_bad_value_names_its_variable(settings, values, variable):
    with_env(settings, **{"WHATSAPP_HOOK_URL": "https://hooks.example.com/in", **values})
    with pytest.raises(ImproperlyConfigured, match=variable):
        global_webhook()
