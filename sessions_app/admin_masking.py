"""What the admin may show of a session config: secrets replaced by a mask, never echoed.

The API answers with the config as given (its caller owns the secrets); the admin is read by
support staff, so HMAC keys, proxy passwords and custom header values are masked here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from webhooks_app.models import Webhook

MASK = "••••••"


def mask(value: object) -> str:
    """The mask for a set secret, a dash for an unset one: staff can tell which is which."""
    return MASK if value else "-"


def masked_headers(headers: object) -> list[Any]:
    """`[{name, value}]` with the values masked: a header often carries a token."""
    if not isinstance(headers, list):
        return []
    return [
        {**header, "value": MASK} if isinstance(header, dict) and "value" in header else header
        for header in headers
    ]


def header_names(headers: object) -> str:
    """The names of `[{name, value}]` custom headers, for a column that shows no value."""
    if not isinstance(headers, list):
        return "-"
    names = [str(header.get("name", "?")) for header in headers if isinstance(header, dict)]
    return ", ".join(names) or "-"


def retries_summary(attempts: int, policy: str, delay_seconds: int) -> str:
    return f"{attempts} retries, {policy}, {delay_seconds} s"


def masked_config(config: object) -> Any:
    """A copy of a session config with `webhooks[].hmac.key`, `webhooks[].customHeaders[].value`
    and `proxy.password` masked. Anything not shaped as expected is kept as it is."""
    if not isinstance(config, dict):
        return config
    result = copy.deepcopy(config)
    for webhook in result.get("webhooks") or []:
        if not isinstance(webhook, dict):
            continue
        hmac = webhook.get("hmac")
        if isinstance(hmac, dict) and hmac.get("key"):
            hmac["key"] = MASK
        if webhook.get("customHeaders"):
            webhook["customHeaders"] = masked_headers(webhook["customHeaders"])
    proxy = result.get("proxy")
    if isinstance(proxy, dict) and proxy.get("password"):
        proxy["password"] = MASK
    return result


def pretty_json(value: object) -> SafeString:
    """Indented JSON in a <pre>, HTML-escaped."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    return format_html('<pre style="margin: 0; white-space: pre-wrap">{}</pre>', text)


class WebhookColumns:
    """Admin columns of a Webhook with its secrets masked: shared by its admin and inline."""

    @admin.display(description="HMAC key")
    def hmac(self, webhook: Webhook) -> str:
        return mask(webhook.hmac_key)

    @admin.display(description="retries")
    def retries(self, webhook: Webhook) -> str:
        return retries_summary(webhook.retry_attempts, webhook.retry_policy,
                               webhook.retry_delay_seconds)

    @admin.display(description="custom headers (values masked)")
    def custom_header_names(self, webhook: Webhook) -> str:
        return header_names(webhook.custom_headers)


class ReadOnlyInline(admin.TabularInline):
    """Rows shown beside their parent, never added, changed or deleted from the admin."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
