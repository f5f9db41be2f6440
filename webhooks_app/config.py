"""The global webhook from the WHATSAPP_HOOK_* variables, validated like config.webhooks."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from waha_project.errors import flatten_validation

from .api.serializers import WebhookSerializer

FIELD_VARIABLES = {
    "url": "WHATSAPP_HOOK_URL",
    "events": "WHATSAPP_HOOK_EVENTS",
    "hmac": "WHATSAPP_HOOK_HMAC_KEY",
    "retries": "WHATSAPP_HOOK_RETRIES_*",
    "retries.policy": "WHATSAPP_HOOK_RETRIES_POLICY",
    "retries.delaySeconds": "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS",
    "retries.attempts": "WHATSAPP_HOOK_RETRIES_ATTEMPTS",
    "customHeaders": "WHATSAPP_HOOK_CUSTOM_HEADERS",
}


def global_webhook() -> dict[str, Any] | None:
    """The validated global webhook, or None when WHATSAPP_HOOK_URL is not set."""
    return _parse(tuple(sorted(settings.GLOBAL_WEBHOOK_ENV.items())))


@lru_cache(maxsize=8)
def _parse(items: tuple[tuple[str, str], ...]) -> dict[str, Any] | None:
    env = {key: value.strip() for key, value in items}
    if not env.get("WHATSAPP_HOOK_URL"):
        return None
    raw: dict[str, Any] = {
        "url": env["WHATSAPP_HOOK_URL"],
        "events": [e.strip() for e in (env.get("WHATSAPP_HOOK_EVENTS") or "*").split(",")
                   if e.strip()],
    }
    if env.get("WHATSAPP_HOOK_HMAC_KEY"):
        raw["hmac"] = {"key": env["WHATSAPP_HOOK_HMAC_KEY"]}
    retries: dict[str, Any] = {}
    if env.get("WHATSAPP_HOOK_RETRIES_POLICY"):
        retries["policy"] = env["WHATSAPP_HOOK_RETRIES_POLICY"]
    for key, var in (("delaySeconds", "WHATSAPP_HOOK_RETRIES_DELAY_SECONDS"),
                     ("attempts", "WHATSAPP_HOOK_RETRIES_ATTEMPTS")):
        if env.get(var):
            try:
                retries[key] = int(env[var])
            except ValueError:
                raise ImproperlyConfigured(
                    f"{var}: expected a whole number, got {env[var]!r}"
                ) from None
    if retries:
        raw["retries"] = retries
    if env.get("WHATSAPP_HOOK_CUSTOM_HEADERS"):
        raw["customHeaders"] = _headers(env["WHATSAPP_HOOK_CUSTOM_HEADERS"])

    serializer = WebhookSerializer(data=raw)
    if not serializer.is_valid():
        problems = flatten_validation(serializer.errors)
        named = [_name_variable(problem) for problem in problems]
        raise ImproperlyConfigured("; ".join(named))
    return dict(serializer.validated_data)


def _headers(raw: str) -> list[dict[str, str]]:
    headers = []
    for pair in raw.split(";"):
        if not pair.strip():
            continue
        name, sep, value = pair.partition(":")
        if not sep:
            raise ImproperlyConfigured(
                f"WHATSAPP_HOOK_CUSTOM_HEADERS: {pair!r} is not Name:value (use A:1;B:2)"
            )
        headers.append({"name": name.strip(), "value": value.strip()})
    return headers


def _name_variable(problem: str) -> str:
    field = problem.split(":", 1)[0].split("[", 1)[0]
    for key in sorted(FIELD_VARIABLES, key=len, reverse=True):
        if field == key or field.startswith(key + "."):
            return f"{FIELD_VARIABLES[key]}: {problem}"
    return f"WHATSAPP_HOOK_*: {problem}"
