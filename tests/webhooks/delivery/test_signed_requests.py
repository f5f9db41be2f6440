"""What a receiver gets, checked the way a receiver would check it: every header, both
signatures recomputed from the exact bytes received, and the envelope in the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from django.conf import settings

from sessions_app.engines.fake import FakeEngine
from sessions_app.runtime import EngineRuntime
from tests.conftest import wait_for, wait_status
from tests.support.receiver import Receiver, Recorded
from waha_project.embedded import EmbeddedWorker

from .helpers import hook, raise_event, session_with

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "my-secret-key"


# --- a receiver's own checks, written from API.md and the Standard Webhooks spec ----------------
def waha_hmac(key: str, body: bytes) -> str:
    return hmac.new(key.encode("utf-8"), body, hashlib.sha512).hexdigest()


def standard_key(key: str) -> bytes:
    if key.startswith("whsec_"):
        return base64.b64decode(key.removeprefix("whsec_"))
    return key.encode("utf-8")


def standard_signature(key: bytes, request: Recorded) -> str:
    signed = (f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}."
              .encode() + request.body)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(request: Recorded, key: str) -> dict[str, Any]:
    """Every check a careful receiver makes; returns the envelope."""
    envelope = json.loads(request.body)
    headers = request.headers
    assert request.method == "POST"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"WAHA-Django/{settings.WAHA_VERSION}"
    assert headers["X-Webhook-Request-Id"] == envelope["id"] == headers["webhook-id"]
    assert headers["X-Webhook-Timestamp"] == str(envelope["timestamp"])
    assert headers["X-Webhook-Hmac-Algorithm"] == "sha512"
    assert hmac.compare_digest(headers["X-Webhook-Hmac"], waha_hmac(key, request.body))
    assert hmac.compare_digest(headers["webhook-signature"],
                               standard_signature(standard_key(key), request))
    # Standard Webhooks receivers refuse a timestamp outside a few minutes (replay protection).
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300
    return envelope


def test_the_receivers_own_hmac_matches_the_published_check_vector() -> None:
    digest = waha_hmac(KEY, b'{"event":"message","session":"default","engine":"WEBJS"}')
    assert digest.startswith("208f8a55dde9e055") and digest.endswith("76153fa89")


# --- end to end: a session on the fake engine, its status events, a real worker -----------------
@pytest.fixture(autouse=True)
def codes_outlive_the_test(fast_qr: Any) -> None:
    """Nothing here is about QR expiry: a slow machine must not see the session fail unscanned."""
    fast_qr.QR_FIRST_SECONDS = 30


async def test_session_status_events_arrive_signed_with_every_header(
        receiver: Receiver, worker: EmbeddedWorker, api: httpx.AsyncClient,
        runtime: EngineRuntime, engine: FakeEngine) -> None:
    response = await api.post("/api/sessions", json={"name": "alpha", "config": {
        "metadata": {"user.id": "42"},
        "webhooks": [{
            "url": receiver.url(), "events": ["session.status"], "hmac": {"key": KEY},
            "customHeaders": [{"name": "X-Tenant", "value": "acme"}],
        }],
    }})
    assert response.status_code == 201
    await wait_status(api, "alpha", "SCAN_QR_CODE")
    engine.pair("alpha")
    await wait_status(api, "alpha", "WORKING")

    def working_arrived() -> bool:
        return any(json.loads(r.body)["payload"]["status"] == "WORKING"
                   for r in receiver.requests)

    async def arrived() -> bool:
        return working_arrived()

    await wait_for(arrived, message="the WORKING event at the receiver")

    envelopes = [verify(request, KEY) for request in receiver.requests]
    assert all(request.headers["X-Tenant"] == "acme" for request in receiver.requests)
    assert all(request.path == "/hook" for request in receiver.requests)
    assert len({envelope["id"] for envelope in envelopes}) == len(envelopes)
    working = next(e for e in envelopes if e["payload"]["status"] == "WORKING")
    assert working["event"] == "session.status"
    assert working["session"] == "alpha"
    assert working["metadata"] == {"user.id": "42"}
    assert working["engine"] == "GOWS"
    assert working["payload"]["name"] == "alpha"
    assert working["payload"]["statuses"][-1]["status"] == "WORKING"
    assert [s["status"] for s in working["payload"]["statuses"]] == [
        "STARTING", "SCAN_QR_CODE", "WORKING"]


def test_a_whsec_key_signs_the_standard_signature_with_its_decoded_bytes(
        receiver: Receiver, worker: EmbeddedWorker) -> None:
    key = "whsec_" + base64.b64encode(b"twenty-four random bytes").decode()
    session = session_with("alpha", hook(receiver.url(), hmac={"key": key}))

    envelope = raise_event(session, "message", {"body": "ünïcödé"})

    [request] = receiver.wait_for(1)
    assert verify(request, key) == envelope
    # Signed with the decoded bytes: a receiver keyed with the literal text would reject it.
    assert request.headers["webhook-signature"] != standard_signature(key.encode(), request)
    assert request.body.decode("utf-8") == json.dumps(envelope, separators=(",", ":"),
                                                      ensure_ascii=False)


def test_without_a_key_nothing_is_signed_but_the_ids_are_there(
        receiver: Receiver, worker: EmbeddedWorker) -> None:
    session = session_with("alpha", hook(receiver.url()))

    envelope = raise_event(session)

    [request] = receiver.wait_for(1)
    assert request.headers["X-Webhook-Request-Id"] == envelope["id"]
    assert request.headers["X-Webhook-Timestamp"] == str(envelope["timestamp"])
    assert not {"x-webhook-hmac", "x-webhook-hmac-algorithm", "webhook-id",
                "webhook-timestamp", "webhook-signature"} & set(request.headers)
    assert json.loads(request.body) == envelope
