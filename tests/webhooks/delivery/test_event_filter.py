"""Which webhooks an event goes to: named events, "*" (all but engine.event), the global
webhook from WHATSAPP_HOOK_*, and nobody at all."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.receiver import Receiver
from waha_project.embedded import EmbeddedWorker
from webhooks_app.models import Delivery, Webhook

from .helpers import hook, raise_event, session_with

pytestmark = pytest.mark.django_db(transaction=True)

NO_GLOBAL = {
    "WHATSAPP_HOOK_URL": "", "WHATSAPP_HOOK_EVENTS": "", "WHATSAPP_HOOK_HMAC_KEY": "",
    "WHATSAPP_HOOK_RETRIES_POLICY": "", "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS": "",
    "WHATSAPP_HOOK_RETRIES_ATTEMPTS": "", "WHATSAPP_HOOK_CUSTOM_HEADERS": "",
}


@pytest.fixture(autouse=True)
def no_global_webhook(settings: Any) -> Any:
    """Whatever the environment of the machine running the tests holds."""
    settings.GLOBAL_WEBHOOK_ENV = dict(NO_GLOBAL)
    return settings


@pytest.mark.parametrize(("events", "event", "delivered"), [
    (["message"], "message", True),
    (["message"], "message.any", False),
    (["message", "message.ack"], "message.ack", True),
    (["*"], "message", True),
    (["*"], "session.status", True),
    (["*"], "group.v2.join", True),
    (["*"], "engine.event", False),
    (["engine.event"], "engine.event", True),
    (["*", "engine.event"], "engine.event", True),
    (["session.status"], "engine.event", False),
])
def test_a_webhook_gets_the_events_it_names(receiver: Receiver, events: list[str], event: str,
                                            delivered: bool) -> None:
    session = session_with("alpha", hook(receiver.url(), events))

    envelope = raise_event(session, event)

    rows = list(Delivery.objects.filter(event_id=envelope["id"]))
    assert len(rows) == (1 if delivered else 0)
    if delivered:
        [row] = rows
        assert (row.event, row.session_name, row.url) == (event, "alpha", receiver.url())
        assert json.loads(row.body) == envelope


def test_each_matching_webhook_gets_its_own_delivery(receiver: Receiver) -> None:
    session = session_with("alpha", hook(receiver.url("/a"), ["message"]),
                           hook(receiver.url("/b"), ["message.any"]),
                           hook(receiver.url("/c"), ["*"]))

    envelope = raise_event(session, "message")

    rows = Delivery.objects.filter(event_id=envelope["id"]).order_by("url")
    assert [row.url for row in rows] == [receiver.url("/a"), receiver.url("/c")]
    hooks = Webhook.objects.filter(session=session)
    assert {row.webhook_id for row in rows} == {hooks.get(position=0).pk,
                                                 hooks.get(position=2).pk}


def test_a_session_without_webhooks_and_no_global_one_writes_no_delivery() -> None:
    session = session_with("alpha")

    raise_event(session, "message")
    raise_event(session, "session.status")

    assert not Delivery.objects.exists()


def test_the_global_webhook_is_added_to_every_session(
        receiver: Receiver, worker: EmbeddedWorker, no_global_webhook: Any) -> None:
    no_global_webhook.GLOBAL_WEBHOOK_ENV = {
        **NO_GLOBAL, "WHATSAPP_HOOK_URL": receiver.url("/global"),
        "WHATSAPP_HOOK_EVENTS": "message,session.status", "WHATSAPP_HOOK_HMAC_KEY": "g-key",
        "WHATSAPP_HOOK_RETRIES_POLICY": "linear", "WHATSAPP_HOOK_RETRIES_ATTEMPTS": "2",
        "WHATSAPP_HOOK_CUSTOM_HEADERS": "X-Source:global;X-Team: ops",
    }
    plain = session_with("plain")
    hooked = session_with("hooked", hook(receiver.url("/own"), ["message"]))

    first = raise_event(plain, "message")
    second = raise_event(hooked, "message")
    ignored = raise_event(plain, "message.any")

    requests = receiver.wait_for(3)
    by_path: dict[str, list[str]] = {}
    for request in requests:
        by_path.setdefault(request.path, []).append(request.headers["X-Webhook-Request-Id"])
    assert sorted(by_path["/global"]) == sorted([first["id"], second["id"]])
    assert by_path["/own"] == [second["id"]]
    global_rows = Delivery.objects.filter(is_global=True)
    assert {row.session_name for row in global_rows} == {"plain", "hooked"}
    assert all(row.webhook_id is None for row in global_rows)
    assert {(row.retry_policy, row.retry_attempts) for row in global_rows} == {("linear", 2)}
    assert not Delivery.objects.filter(event_id=ignored["id"]).exists()
    for request in requests:
        if request.path == "/global":
            assert request.headers["X-Source"] == "global"
            assert request.headers["X-Team"] == "ops"
            assert request.headers["X-Webhook-Hmac-Algorithm"] == "sha512"
        else:
            assert "X-Source" not in request.headers
            assert "X-Webhook-Hmac" not in request.headers


def test_the_global_webhook_gets_everything_but_engine_events_by_default(
        receiver: Receiver, no_global_webhook: Any) -> None:
    no_global_webhook.GLOBAL_WEBHOOK_ENV = {**NO_GLOBAL, "WHATSAPP_HOOK_URL": receiver.url()}
    session = session_with("alpha")

    raise_event(session, "call.received")
    raise_event(session, "engine.event")

    assert list(Delivery.objects.values_list("event", "is_global")) == [("call.received", True)]
