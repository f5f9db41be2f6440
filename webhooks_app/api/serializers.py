"""A webhook as `config.webhooks[]` and `WHATSAPP_HOOK_*` give it, validated field by field."""

from __future__ import annotations

import re

from rest_framework import serializers

from waha_project.api import StrictCharField, StrictIntegerField, WahaSerializer

from ..models import RetryPolicy
from ..signing import RESERVED_HEADERS
from ..subscriptions import ALL, EventName
from ..transport import TargetPolicy, check_url_literal

HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
MAX_RETRY_ATTEMPTS = 100
MAX_RETRY_DELAY_SECONDS = 86_400


class HmacSerializer(WahaSerializer):
    key = StrictCharField(required=False, allow_null=True, allow_blank=False, max_length=1024)


class RetriesSerializer(WahaSerializer):
    policy = serializers.ChoiceField(choices=RetryPolicy.choices, required=False, allow_null=True)
    delaySeconds = StrictIntegerField(required=False, allow_null=True, min_value=0,
                                      max_value=MAX_RETRY_DELAY_SECONDS)
    attempts = StrictIntegerField(required=False, allow_null=True, min_value=0,
                                  max_value=MAX_RETRY_ATTEMPTS)


class CustomHeaderSerializer(WahaSerializer):
    name = StrictCharField(max_length=256)
    value = StrictCharField(allow_blank=True, max_length=8192, trim_whitespace=False)

    def validate_name(self, value: str) -> str:
        if not HEADER_NAME_RE.match(value):
            raise serializers.ValidationError(f"'{value}' is not a valid header name")
        if value.lower() in RESERVED_HEADERS:
            raise serializers.ValidationError(
                f"'{value}' is set by the server and cannot be overridden"
            )
        return value

    def validate_value(self, value: str) -> str:
        if "\r" in value or "\n" in value or "\x00" in value:
            raise serializers.ValidationError("must not contain CR, LF or NUL characters")
        if not value.isascii():
            # HTTP header values are sent as ASCII; anything else could never be delivered.
            raise serializers.ValidationError("must contain ASCII characters only")
        return value


class WebhookSerializer(WahaSerializer):
    url = serializers.URLField(max_length=2048)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=[*EventName.values, ALL]),
        allow_empty=False, max_length=64,
    )
    hmac = HmacSerializer(required=False, allow_null=True)
    retries = RetriesSerializer(required=False, allow_null=True)
    customHeaders = serializers.ListField(child=CustomHeaderSerializer(), required=False,
                                         allow_null=True, max_length=64)

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("must be an http or https URL")
        refused = check_url_literal(value, TargetPolicy.from_settings())
        if refused:
            raise serializers.ValidationError(f"this address is never contacted: {refused}")
        return value
