"""A webhook as `config.webhooks[]` and `WHATSAPP_HOOK_*` give it, validated field by field;
a delivery and its attempts as the API answers them."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from waha_project.api import (
    FullMatch,
    MillisecondsField,
    OptionalCharField,
    StrictCharField,
    StrictIntegerField,
    WahaSerializer,
    WireNames,
)

from ..models import Delivery, DeliveryAttempt, RetryPolicy
from ..signing import RESERVED_HEADERS
from ..subscriptions import ALL, EventName
from ..transport import TargetPolicy, check_url_literal

HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
HEADER_VALUE_RE = re.compile(r"^[\x01-\x09\x0b\x0c\x0e-\x7f]*$")
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


class HeaderValue(FullMatch):
    """ASCII without CR, LF or NUL, each way of failing named: HTTP sends header values as
    ASCII, and a line break would end the header."""

    def __call__(self, value: Any) -> None:
        if "\r" in value or "\n" in value or "\x00" in value:
            raise DjangoValidationError("must not contain CR, LF or NUL characters")
        if not value.isascii():
            raise DjangoValidationError("must contain ASCII characters only")
        super().__call__(value)


class CustomHeaderSerializer(WahaSerializer):
    name = StrictCharField(
        max_length=256, trim_whitespace=False,
        validators=[FullMatch(HEADER_NAME_RE, "'%(value)s' is not a valid header name")],
    )
    value = StrictCharField(allow_blank=True, max_length=8192, trim_whitespace=False,
                            validators=[HeaderValue(HEADER_VALUE_RE)])

    def validate_name(self, value: str) -> str:
        if value.lower() in RESERVED_HEADERS:
            raise serializers.ValidationError(
                f"'{value}' is set by the server and cannot be overridden"
            )
        return value


class WebhookSerializer(WahaSerializer):
    url = serializers.URLField(max_length=2048)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=[*EventName.values, ALL]),
        allow_empty=False, min_length=1, max_length=64,
    )
    hmac = HmacSerializer(required=False, allow_null=True)
    retries = RetriesSerializer(required=False, allow_null=True)
    customHeaders = serializers.ListField(child=CustomHeaderSerializer(), required=False,
                                         allow_null=True, max_length=64)

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("must be an http or https URL")
        try:
            port = urlsplit(value).port
        except ValueError:  # past 65535
            port = 0
        if port is not None and not 0 < port < 65536:
            raise serializers.ValidationError("the port must be between 1 and 65535")
        refused = check_url_literal(value, TargetPolicy.from_settings())
        if refused:
            raise serializers.ValidationError(f"this address is never contacted: {refused}")
        return value


# --- answers -------------------------------------------------------------------------------------
class WebhookDeliverySerializer(WireNames, serializers.ModelSerializer):
    """One event to one webhook URL, and how sending it went."""

    session = serializers.CharField(source="session_name")
    eventId = serializers.CharField(source="event_id")
    url = serializers.CharField(
        source="display_url",
        help_text="The webhook URL, its password masked (it is sent to in full).")
    # Null for a global delivery (it has no webhook row) and once its webhook is deleted.
    webhook = serializers.IntegerField(source="webhook_id", allow_null=True)
    global_ = serializers.BooleanField(source="is_global")
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastError = OptionalCharField(source="last_error")
    createdAt = MillisecondsField(source="created_at")
    nextAttemptAt = MillisecondsField(source="next_attempt_at", allow_null=True)
    waitingUntil = MillisecondsField(
        source="waiting_until", allow_null=True,
        help_text="Set while the delivery waits for its receiver's circuit breaker: after "
                  "WAHA_WEBHOOK_BREAKER_FAILURES failures in a row, a receiver's deliveries "
                  "wait this long (ms since the epoch) before one probe attempt; waiting is not "
                  "an attempt and uses no retry. Null otherwise.")
    finishedAt = MillisecondsField(source="finished_at", allow_null=True)

    class Meta:
        model = Delivery
        fields = ["id", "session", "event", "eventId", "url", "webhook", "global_", "status",
                  "attempts", "lastStatusCode", "lastError", "createdAt", "nextAttemptAt",
                  "waitingUntil", "finishedAt"]
        read_only_fields = fields


class WebhookDeliveryAttemptSerializer(serializers.ModelSerializer):
    """One request of a delivery and its answer."""

    timestamp = MillisecondsField(source="started_at")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms")
    responseBody = serializers.CharField(source="response_body")
    error = OptionalCharField()

    class Meta:
        model = DeliveryAttempt
        fields = ["number", "timestamp", "statusCode", "durationMs", "responseBody", "error"]
        read_only_fields = fields


class EnvelopeField(serializers.JSONField):
    """The envelope as stored (JSON text), answered as the JSON it holds."""

    def to_representation(self, value: Any) -> Any:
        return json.loads(value)


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    """A delivery with the envelope it sends and every attempt so far."""

    payload = EnvelopeField(source="body")
    attemptList = WebhookDeliveryAttemptSerializer(source="attempt_rows", many=True)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "payload", "attemptList"]
        read_only_fields = fields
