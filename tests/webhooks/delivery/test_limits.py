"""What the sender refuses to wait for, keep or contact: a slow receiver, an endless body, and
targets on private or metadata addresses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sessions_app.models import Session
from tests.support.receiver import Receiver, Reply
from waha_project.embedded import EmbeddedWorker
from webhooks_app import services
from webhooks_app.models import Delivery, DeliveryAttempt, Webhook

from .helpers import delivery_of, hook, raise_event, session_with, settled, until

pytestmark = pytest.mark.django_db(transaction=True)

NO_RETRIES = {"policy": "constant", "delaySeconds": 0, "attempts": 0}


def test_a_receiver_slower_than_the_timeout_records_an_error(
        receiver: Receiver, worker: EmbeddedWorker, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.reply_with(Reply(200, delay=3))
    session = session_with("alpha", hook(receiver.url(), retries=NO_RETRIES))

    delivery = delivery_of(raise_event(session))

    until(settled(delivery), message="the delivery to settle")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, None)
    assert "timed out after 0.5s" in delivery.last_error
    [row] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert row.status_code is None
    assert "timed out after 0.5s" in row.error
    assert receiver.count == 1


def test_a_slow_receiver_is_retried_and_the_next_attempt_can_succeed(
        receiver: Receiver, worker: EmbeddedWorker, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.reply_with(Reply(200, delay=3))
    session = session_with("alpha", hook(receiver.url(), retries={
        "policy": "constant", "delaySeconds": 0, "attempts": 1}))

    delivery = delivery_of(raise_event(session))

    until(settled(delivery), message="the delivery to settle")
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [(row.status_code, bool(row.error))
            for row in DeliveryAttempt.objects.filter(delivery=delivery)] == [
        (None, True), (200, False)]


def test_an_endless_body_is_cut_at_twenty_thousand_bytes(
        receiver: Receiver, worker: EmbeddedWorker) -> None:
    receiver.reply_with(Reply(200, body=b"z" * 1000, endless=True))
    session = session_with("alpha", hook(receiver.url(), retries=NO_RETRIES))

    delivery = delivery_of(raise_event(session))

    until(settled(delivery), message="the delivery to settle")
    assert delivery.status == "delivered"
    [row] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert row.status_code == 200
    assert row.response_body == "z" * 20_000


def test_with_private_networks_blocked_the_loopback_receiver_gets_nothing(
        receiver: Receiver, worker: EmbeddedWorker, settings: Any) -> None:
    session = session_with("alpha", hook(receiver.url(), retries=NO_RETRIES),
                           hook(receiver.url(host="localhost"), retries=NO_RETRIES))
    settings.WEBHOOK_BLOCK_PRIVATE_NETWORKS = True

    envelope = raise_event(session)

    by_address, by_name = (delivery_of_url(envelope, receiver.url()),
                           delivery_of_url(envelope, receiver.url(host="localhost")))
    for delivery in (by_address, by_name):
        until(settled(delivery), message="the delivery to settle")
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "failed", 1, None)
        [row] = DeliveryAttempt.objects.filter(delivery=delivery)
        assert row.error.startswith("refused: ")
        assert "loopback" in row.error
    assert receiver.count == 0


def delivery_of_url(envelope: dict[str, Any], url: str) -> Delivery:
    return Delivery.objects.get(event_id=envelope["id"], url=url)


async def test_with_private_networks_blocked_a_loopback_literal_is_refused_at_create_time(
        api: httpx.AsyncClient, receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_BLOCK_PRIVATE_NETWORKS = True

    response = await api.post("/api/sessions", json={
        "name": "alpha", "start": False,
        "config": {"webhooks": [{"url": receiver.url(), "events": ["message"]}]},
    })

    assert response.status_code == 400
    assert ("config.webhooks[0].url: this address is never contacted: 127.0.0.1 is a loopback"
            in " ".join(response.json()["message"]))
    assert not await Session.objects.filter(name="alpha").aexists()


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://0.0.0.0:8080/",
    "http://[::ffff:169.254.169.254]/",
])
async def test_a_metadata_or_unspecified_address_in_the_config_is_refused_at_create_time(
        api: httpx.AsyncClient, url: str) -> None:
    response = await api.post("/api/sessions", json={
        "name": "alpha", "start": False,
        "config": {"webhooks": [{"url": url, "events": ["message"]}]},
    })

    assert response.status_code == 400
    assert ("config.webhooks[0].url: this address is never contacted"
            in " ".join(response.json()["message"]))
    assert not await Session.objects.filter(name="alpha").aexists()
    assert not await Webhook.objects.aexists()


async def test_a_refused_address_on_update_keeps_the_old_webhooks(
        api: httpx.AsyncClient) -> None:
    good = {"url": "https://hooks.example.com/in", "events": ["message"]}
    await api.post("/api/sessions", json={"name": "alpha", "start": False,
                                          "config": {"webhooks": [good]}})

    response = await api.put("/api/sessions/alpha", json={"config": {"webhooks": [
        good, {"url": "http://169.254.169.254/", "events": ["*"]}]}})

    assert response.status_code == 400
    assert "config.webhooks[1].url" in " ".join(response.json()["message"])
    assert [hook.url async for hook in Webhook.objects.all()] == [good["url"]]


@pytest.mark.parametrize("status", [200, 500])
def test_a_response_body_with_nul_bytes_is_kept_and_the_attempt_recorded(
        receiver: Receiver, status: int) -> None:
    receiver.reply_with(Reply(status, body=b"before\x00after\xff"))
    session = session_with("alpha", hook(receiver.url(), retries=NO_RETRIES))
    delivery = delivery_of(raise_event(session))

    attempted = services.attempt(delivery.pk)

    assert attempted is not None and attempted.attempts == 1
    assert attempted.status == ("delivered" if status == 200 else "failed")
    [row] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert row.response_body == "before\ufffdafter\ufffd"
    assert services.sweep() == 0
    assert receiver.count == 1
