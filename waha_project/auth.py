"""The API key: how it is configured, checked in constant time, and required by path; the
principal of every keyed request."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from .access import ENV_ADMIN, Principal

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


def presented_key(request: HttpRequest) -> str | None:
    return (request.headers.get("X-Api-Key")
            or key_from_authorization(request.headers.get("Authorization"))
            or request.GET.get("x-api-key"))


def env_principal(candidate: str | None) -> Principal | None:
    api_key: ApiKey = settings.API_KEY
    return ENV_ADMIN if api_key.matches(candidate) else None


# How a presented key becomes a principal: the `WAHA_API_KEY` alone, until an app that stores
# keys plugs in its own resolver (sessions_app, from its `ready()`).
_resolver: Callable[[str | None], Principal | None] = env_principal


def use_key_resolver(resolver: Callable[[str | None], Principal | None]) -> None:
    global _resolver
    _resolver = resolver


def principal_for_key(candidate: str | None) -> Principal | None:
    return _resolver(candidate)


def refusal(status: int, message: str) -> HttpResponse:
    body = {"statusCode": status, "message": message, "error": HTTPStatus(status).phrase}
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


class ApiKeyMiddleware:
    """Finds the principal of every keyed path (`request.principal`), or answers 401."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if path_needs_key(request.path):
            principal = principal_for_key(presented_key(request))
            if principal is None:
                return refusal(401, "Unauthorized")
            if request.path.strip("/") == "metrics" and not principal.is_admin:
                return refusal(403, "An admin key is required for this route")
            request.principal = principal  # type: ignore[attr-defined]
        return self.get_response(request)
