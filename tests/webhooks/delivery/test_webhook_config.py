"""config.webhooks: custom headers are checked before anything is stored, Webhook rows follow
every PUT, and an event raised before a change still goes where it was meant to."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async

from sessions_app.models import Session
from tests.conftest import wait_for
from tests.support.receiver import Receiver
from webhooks_app.models import Delivery, Webhook

from .conftest import StartWorker
from .helpers import raise_event

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = {"url": "https://hooks.example.com/in", "events": ["message"]}


def with_header(name: str, value: str) -> dict[str, Any]:
    return {"webhooks": [{**HOOK, "customHeaders": [{"name": name, "value": value}]}]}


BAD_HEADERS = [
    (with_header("X-Tenant", "acme\r\nX-Injected: 1"),
     "config.webhooks[0].customHeaders[0].value: must not contain CR, LF or NUL characters"),
    (with_header("X-Tenant", "acme\n"),
     "config.webhooks[0].customHeaders[0].value: must not contain CR, LF or NUL characters"),
    (with_header("X-Tenant", "a\rb"),
     "config.webhooks[0].customHeaders[0].value: must not contain CR, LF or NUL characters"),
    (with_header("X-Webhook-Hmac", "forged"),
     "config.webhooks[0].customHeaders[0].name: 'X-Webhook-Hmac' is set by the server"),
    (with_header("x-webhook-request-id", "evt_forged"),
     "config.webhooks[0].customHeaders[0].name: 'x-webhook-request-id' is set by the server"),
    (with_header("webhook-signature", "v1,forged"),
     "config.webhooks[0].customHeaders[0].name: 'webhook-signature' is set by the server"),
    (with_header("Webhook-Timestamp", "0"),
     "config.webhooks[0].customHeaders[0].name: 'Webhook-Timestamp' is set by the server"),
    (with_header("Host", "internal.example"),
     "config.webhooks[0].customHeaders[0].name: 'Host' is set by the server"),
    (with_header("X-Bad\r\nName", "1"),
     "config.webhooks[0].customHeaders[0].name: 'X-Bad\r\nName' is not a valid header name"),
]


def message_of(response: httpx.Response) -> str:
    return " | ".join(response.json()["message"])


@pytest.mark.parametrize(("config", "message"), BAD_HEADERS,
                         ids=[message.split(": ")[1][:30] for _, message in BAD_HEADERS])
async def test_a_bad_custom_header_on_create_is_400_and_stores_nothing(
        api: httpx.AsyncClient, config: dict[str, Any], message: str) -> None:
    response = await api.post("/api/sessions",
                              json={"name": "alpha", "start": False, "config": config})

    assert response.status_code == 400
    assert message in message_of(response)
    assert not await Session.objects.filter(name="alpha").aexists()
    assert not await Webhook.objects.aexists()


@pytest.mark.parametrize(("config", "message"), BAD_HEADERS[:1] + BAD_HEADERS[3:4])
async def test_a_bad_custom_header_on_update_is_400_and_keeps_the_webhooks(
        api: httpx.AsyncClient, config: dict[str, Any], message: str) -> None:
    await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                          "config": {"webhooks": [HOOK]}})

    response = await api.put("/api/sessions/alpha", json={"config": config})

    assert response.status_code == 400
    assert message in message_of(response)
    assert [(h.position, h.url, h.custom_headers) async for h in Webhook.objects.all()] == [
        (0, HOOK["url"], [])]


async def webhook_rows(name: str) -> list[tuple[int, str, list[str], str, str, int, int]]:
    return [(h.position, h.url, h.events, h.hmac_key, h.retry_policy, h.retry_delay_seconds,
             h.retry_attempts)
            async for h in Webhook.objects.filter(session__name=name).order_by("position")]


async def test_webhook_rows_follow_the_config_on_create_and_on_every_put(
        api: httpx.AsyncClient) -> None:
    first = [
        {"url": "https://a.example.com/", "events": ["message"], "hmac": {"key": "ka"}},
        {"url": "https://b.example.com/", "events": ["*"],
         "retries": {"policy": "linear", "delaySeconds": 4, "attempts": 2}},
    ]
    await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                          "config": {"webhooks": first}})
    assert await webhook_rows("alpha") == [
        (0, "https://a.example.com/", ["message"], "ka", "constant", 2, 15),
        (1, "https://b.example.com/", ["*"], "", "linear", 4, 2),
    ]

    second = [
        {"url": "https://c.example.com/", "events": ["session.status"],
         "customHeaders": [{"name": "X-Tenant", "value": "acme"}]},
        {"url": "https://b.example.com/", "events": ["message.any"]},
        {"url": "https://d.example.com/", "events": ["engine.event"],
         "retries": {"policy": "exponential"}},
    ]
    response = await api.put("/api/sessions/alpha", json={"config": {"webhooks": second}})
    assert response.status_code == 200
    assert await webhook_rows("alpha") == [
        (0, "https://c.example.com/", ["session.status"], "", "constant", 2, 15),
        (1, "https://b.example.com/", ["message.any"], "", "constant", 2, 15),
        (2, "https://d.example.com/", ["engine.event"], "", "exponential", 2, 15),
    ]
    tenant = await Webhook.objects.aget(session__name="alpha", position=0)
    assert tenant.custom_headers == [{"name": "X-Tenant", "value": "acme"}]

    response = await api.put("/api/sessions/alpha", json={"config": {"metadata": {"k": "v"}}})
    assert response.status_code == 200
    assert await webhook_rows("alpha") == []


async def test_a_pending_delivery_for_a_removed_webhook_is_still_delivered(
        api: httpx.AsyncClient, receiver: Receiver, start_worker: StartWorker) -> None:
    await api.post("/api/sessions", json={"name": "alpha", "start": False, "config": {
        "webhooks": [{"url": receiver.url("/old"), "events": ["message"],
                      "hmac": {"key": "old-key"},
                      "customHeaders": [{"name": "X-Tenant", "value": "acme"}]}]}})
    envelope = await sync_to_async(raise_event)(await Session.objects.aget(name="alpha"))

    response = await api.put("/api/sessions/alpha", json={"config": {"webhooks": [
        {"url": receiver.url("/new"), "events": ["message"]}]}})
    assert response.status_code == 200
    start_worker()  # the event's message has waited in the broker through the change

    await wait_for(lambda: Delivery.objects.filter(status="delivered").aexists(),
                   message="the old event to be delivered")
    [request] = receiver.requests
    assert request.path == "/old"
    assert request.headers["X-Webhook-Request-Id"] == envelope["id"]
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers["X-Webhook-Hmac-Algorithm"] == "sha512"
    delivery = await Delivery.objects.aget(event_id=envelope["id"])
    assert (delivery.url, delivery.webhook_id) == (receiver.url("/old"), None)
    assert [h.url async for h in Webhook.objects.all()] == [receiver.url("/new")]


async def test_a_custom_header_value_that_cannot_be_sent_is_refused_at_config_time(
        api: httpx.AsyncClient, receiver: Receiver) -> None:
    response = await api.post("/api/sessions", json={"name": "alpha", "start": False, "config": {
        "webhooks": [{"url": receiver.url(), "events": ["message"],
                      "customHeaders": [{"name": "X-Tenant", "value": "café"}]}]}})
    # Refused up front: a header value that cannot be sent would fail every attempt.
    assert response.status_code == 400
    assert "config.webhooks[0].customHeaders[0].value" in message_of(response)
    assert not await Session.objects.filter(name="alpha").aexists()
    assert receiver.count == 0
