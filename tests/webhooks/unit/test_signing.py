"""Signatures are checked the way a receiver checks them: recomputed from the bytes it got."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from time_machine import TimeMachineFixture

from tests.support.receiver import Receiver
from webhooks_app import signing, transport

CHECK_KEY = "my-secret-key"
CHECK_BODY = b'{"event":"message","session":"default","engine":"WEBJS"}'

# Published by Standard Webhooks (and svix) for their reference libraries.
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STANDARD_TIMESTAMP = 1614265330
STANDARD_BODY = b'{"test": 2432232314}'
STANDARD_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def receiver_verifies_standard(secret: str, headers: dict[str, str], body: bytes, now: int,
                               tolerance: int = 300) -> bool:
    """A receiver's Standard Webhooks check, written from the specification, not our code."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") \
        else secret.encode()
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def headers_for(body: bytes, key: str | None = "k3y", now: int = 1_700_000_000,
                custom: list[dict[str, str]] | None = None) -> dict[str, str]:
    return signing.request_headers(
        event_id="evt_01jabcdefghjkmnpqrstvwxyz0", event_timestamp_ms=1_741_249_702_485,
        body=body, hmac_key=key, custom_headers=custom, user_agent="WAHA-Django/0.1.0", now=now)


def test_the_hmac_matches_the_published_check_vector() -> None:
    digest = signing.hmac_sha512_hex(CHECK_KEY, CHECK_BODY)

    assert digest.startswith("208f8a55dde9e055")
    assert digest.endswith("76153fa89")
    assert len(digest) == 128


def test_the_standard_signature_matches_the_published_test_vector() -> None:
    signature = signing.standard_signature(
        STANDARD_SECRET, STANDARD_ID, STANDARD_TIMESTAMP, STANDARD_BODY)

    assert signature == STANDARD_SIGNATURE


def test_a_whsec_key_is_decoded_and_any_other_key_is_its_utf8_bytes() -> None:
    raw = b"\x00\xffbinary secret"

    assert signing.standard_webhooks_key("whsec_" + base64.b64encode(raw).decode()) == raw
    assert signing.standard_webhooks_key("plain-ключ") == "plain-ключ".encode()
    assert signing.standard_webhooks_key("whsec_not base64!") == b"whsec_not base64!"


def test_a_receiver_verifies_both_signatures_from_the_body_it_got() -> None:
    body = json.dumps({"event": "message", "payload": {"body": "héllo"}}).encode()

    headers = headers_for(body, key="k3y", now=1_700_000_000)

    expected_hmac = hmac.new(b"k3y", body, hashlib.sha512).hexdigest()
    assert hmac.compare_digest(headers["X-Webhook-Hmac"], expected_hmac)
    assert headers["X-Webhook-Hmac-Algorithm"] == "sha512"
    assert receiver_verifies_standard("k3y", headers, body, now=1_700_000_010)
    assert not receiver_verifies_standard("k3y", headers, body + b" ", now=1_700_000_010)
    assert not receiver_verifies_standard("other", headers, body, now=1_700_000_010)


def test_a_whsec_key_signs_with_its_decoded_bytes() -> None:
    headers = headers_for(STANDARD_BODY, key=STANDARD_SECRET, now=STANDARD_TIMESTAMP)

    assert receiver_verifies_standard(STANDARD_SECRET, headers, STANDARD_BODY,
                                      now=STANDARD_TIMESTAMP)
    assert headers["X-Webhook-Hmac"] == signing.hmac_sha512_hex(STANDARD_SECRET, STANDARD_BODY)


def test_an_old_attempt_timestamp_fails_the_replay_window() -> None:
    headers = headers_for(b"{}", now=1_700_000_000)

    assert not receiver_verifies_standard("k3y", headers, b"{}", now=1_700_000_000 + 3600)


def test_the_ids_are_the_event_id_and_the_timestamps_differ_in_meaning() -> None:
    headers = headers_for(b"{}", now=1_700_000_123)

    assert headers["X-Webhook-Request-Id"] == "evt_01jabcdefghjkmnpqrstvwxyz0"
    assert headers["webhook-id"] == "evt_01jabcdefghjkmnpqrstvwxyz0"
    assert headers["X-Webhook-Timestamp"] == "1741249702485"  # the event, in ms
    assert headers["webhook-timestamp"] == "1700000123"  # this attempt, in seconds


def test_a_retry_keeps_the_ids_and_signs_its_own_timestamp() -> None:
    first = headers_for(b"{}", now=1_700_000_000)
    retry = headers_for(b"{}", now=1_700_000_060)

    assert retry["X-Webhook-Request-Id"] == first["X-Webhook-Request-Id"]
    assert retry["webhook-id"] == first["webhook-id"]
    assert retry["webhook-signature"] != first["webhook-signature"]
    assert receiver_verifies_standard("k3y", retry, b"{}", now=1_700_000_060)


def test_without_a_key_nothing_is_signed() -> None:
    headers = headers_for(b"{}", key=None)

    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "WAHA-Django/0.1.0",
        "X-Webhook-Request-Id": "evt_01jabcdefghjkmnpqrstvwxyz0",
        "X-Webhook-Timestamp": "1741249702485",
    }


def test_without_now_the_attempt_timestamp_is_the_current_time(
        time_machine: TimeMachineFixture) -> None:
    time_machine.move_to("2025-03-06 08:28:22+00:00", tick=False)

    headers = signing.request_headers(
        event_id="evt_1", event_timestamp_ms=1, body=b"{}", hmac_key="k3y",
        custom_headers=None, user_agent="ua")

    assert headers["webhook-timestamp"] == "1741249702"


def test_custom_headers_come_in_order_and_never_replace_ours() -> None:
    custom = [
        {"name": "X-Tenant", "value": "a"},
        {"name": "x-webhook-hmac", "value": "forged"},
        {"name": "Webhook-Signature", "value": "v1,forged"},
        {"name": "Content-Type", "value": "text/plain"},
        {"name": "Content-Length", "value": "1"},
        {"name": "Authorization", "value": "Bearer t"},
    ]

    headers = headers_for(b"{}", key="k3y", custom=custom)

    assert list(headers)[:4] == ["Content-Type", "User-Agent", "X-Tenant", "Authorization"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Webhook-Hmac"] == signing.hmac_sha512_hex("k3y", b"{}")
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["webhook-signature"] != "v1,forged"
    assert "Content-Length" not in headers
    assert {name.lower() for name in headers} >= {"x-tenant", "authorization"}


def test_signatures_survive_the_trip_to_a_real_receiver(receiver: Receiver) -> None:
    body = json.dumps({"event": "message", "payload": {"body": "ünïcödé"}},
                      ensure_ascii=False).encode()
    headers = signing.request_headers(
        event_id="evt_1", event_timestamp_ms=1, body=body, hmac_key=STANDARD_SECRET,
        custom_headers=[{"name": "X-Tenant", "value": "a"}], user_agent="ua", now=1_700_000_000)

    result = transport.send(receiver.url(), body, headers, timeout=5,
                            policy=transport.TargetPolicy())

    assert result.ok, result.error
    [got] = receiver.wait_for(1)
    received = dict(got.headers)
    assert got.body == body
    assert got.headers["x-tenant"] == "a"
    assert got.headers["X-Webhook-Hmac"] == hmac.new(
        STANDARD_SECRET.encode(), got.body, hashlib.sha512).hexdigest()
    assert receiver_verifies_standard(STANDARD_SECRET, received, got.body, now=1_700_000_000)
