"""The API key: how it is configured, checked in constant time, and required by path."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

WEAK_KEYS = {"", "admin", "waha", "123", "321"}


@dataclass(frozen=True)
class ApiKey:
    """A key stored as its SHA-512 digest; `generated` holds the plain key to print once."""

    sha512: bytes | None
    generated: str | None = None

    @property
    def required(self) -> bool:
        return self.sha512 is not None

    def matches(self, candidate: str | None) -> bool:
        if self.sha512 is None:
            return True
        if not candidate:
            return False
        digest = hashlib.sha512(candidate.encode()).digest()
        return hmac.compare_digest(digest, self.sha512)


def resolve_api_key(raw: str, *, no_api_key: bool) -> ApiKey:
    if no_api_key:
        return ApiKey(sha512=None)
    if raw.lower().startswith("sha512:"):
        hexdigest = raw[len("sha512:"):]
        try:
            digest = bytes.fromhex(hexdigest)
        except ValueError:
            raise ImproperlyConfigured("WAHA_API_KEY: sha512: must be followed by hex") from None
        if len(digest) != 64:
            raise ImproperlyConfigured("WAHA_API_KEY: a SHA-512 digest is 128 hex characters")
        return ApiKey(sha512=digest)
    if raw.strip().lower() in WEAK_KEYS:
        plain = secrets.token_hex(16)
        return ApiKey(sha512=hashlib.sha512(plain.encode()).digest(), generated=plain)
    return ApiKey(sha512=hashlib.sha512(raw.encode()).digest())


def key_from_authorization(header: str | None) -> str | None:
    """The key of `Authorization: Bearer <key>` (what Prometheus's `authorization:` sends)."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def path_needs_key(path: str) -> bool:
    stripped = path.strip("/")
    # The schema describes the API and holds no data; Swagger UI at / loads it before any key.
    if stripped in settings.API_KEY_EXCLUDE_PATHS or stripped == "api/schema":
        return False
    return (stripped == "api" or stripped.startswith("api/") or stripped == "ws"
            or stripped == "metrics")


def request_has_key(request: HttpRequest) -> bool:
    api_key: ApiKey = settings.API_KEY
    candidate = (request.headers.get("X-Api-Key")
                 or key_from_authorization(request.headers.get("Authorization"))
                 or request.GET.get("x-api-key"))
    return api_key.matches(candidate)


class ApiKeyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if path_needs_key(request.path) and not request_has_key(request):
            body = {"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"}
            return HttpResponse(json.dumps(body), status=401, content_type="application/json")
        return self.get_response(request)
