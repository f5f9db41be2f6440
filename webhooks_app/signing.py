"""Signing webhook requests: WAHA's `X-Webhook-Hmac` and the Standard Webhooks headers.

Both signatures cover the exact body bytes that are sent, so callers serialise once and pass the
same bytes here and to the transport.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

STANDARD_KEY_PREFIX = "whsec_"

# Headers this module sets; a custom header with one of these names never replaces ours. The
# framing headers belong to the HTTP client: a custom Content-Length or Host would corrupt the
# request or send it to another virtual host.
RESERVED_HEADERS = frozenset({
    "content-type",
    "user-agent",
    "x-webhook-request-id",
    "x-webhook-timestamp",
    "x-webhook-hmac",
    "x-webhook-hmac-algorithm",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
})


def hmac_sha512_hex(key: str, body: bytes) -> str:
    """WAHA's signature: hex HMAC-SHA512 of the raw body, keyed with the key's UTF-8 bytes."""
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest()


def standard_webhooks_key(key: str) -> bytes:
    """The HMAC key bytes, decoded from `whsec_<base64>` as Standard Webhooks libraries do.

    A key that only looks like one (`whsec_` and then not base64) is used as plain UTF-8, the same
    as any other key, rather than failing every send.
    """
    if key.startswith(STANDARD_KEY_PREFIX):
        try:
            return base64.b64decode(key[len(STANDARD_KEY_PREFIX):], validate=True)
        except binascii.Error:
            pass
    return key.encode()


def standard_signature(key: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, the `webhook-signature` value."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_webhooks_key(key), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def request_headers(
    *,
    event_id: str,
    event_timestamp_ms: int,
    body: bytes,
    hmac_key: str | None,
    custom_headers: list[dict[str, str]] | None,
    user_agent: str,
    now: int | None = None,
) -> dict[str, str]:
    """Every header of one attempt; `now` (unix seconds) is this attempt's `webhook-timestamp`."""
    headers = {"Content-Type": "application/json", "User-Agent": user_agent}
    for header in custom_headers or []:
        if header["name"].strip().lower() not in RESERVED_HEADERS:
            headers[header["name"]] = header["value"]
    headers["X-Webhook-Request-Id"] = event_id
    headers["X-Webhook-Timestamp"] = str(event_timestamp_ms)
    if hmac_key:
        # The Standard Webhooks timestamp is the attempt's, not the event's: receivers reject
        # old timestamps to stop replays, and a retry hours later must still pass.
        timestamp = int(time.time()) if now is None else now
        headers["X-Webhook-Hmac"] = hmac_sha512_hex(hmac_key, body)
        headers["X-Webhook-Hmac-Algorithm"] = "sha512"
        headers["webhook-id"] = event_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = standard_signature(hmac_key, event_id, timestamp, body)
    return headers
