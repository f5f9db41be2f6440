"""API pieces every app's views share: strict fields, the base serializer that drops (or, in
strict mode, refuses) unknown fields, `validated`, and the error answers of the schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class StrictBooleanField(serializers.BooleanField):
    """Only JSON true/false: "yes" or 1 are refused instead of guessed at."""

    default_error_messages = {"invalid": "must be a boolean (true or false)"}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictCharField(serializers.CharField):
    """Only JSON strings: numbers are not silently turned into text."""

    default_error_messages = {"invalid": "must be a string"}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "must be a whole number"}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class WahaSerializer(serializers.Serializer):
    """Accepts WAHA's shapes: unknown fields are dropped, or refused under strict mode.

    `accepted_fields` are fields of WAHA's schema we take and ignore.
    """

    accepted_fields: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["must be an object"]})
        if settings.HTTP_STRICT_MODE:
            unknown = sorted(set(data) - set(self.fields) - set(self.accepted_fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["unknown field (WAHA_HTTP_STRICT_MODE is on)"] for name in unknown}
                )
        return super().to_internal_value(data)

    def create(self, validated_data: Any) -> Any:  # pragma: no cover - not a model serializer
        raise NotImplementedError

    def update(self, instance: Any, validated_data: Any) -> Any:  # pragma: no cover
        raise NotImplementedError


def validated(serializer_class: type[WahaSerializer], data: Any) -> dict[str, Any]:
    """The request body (or query) checked field by field; a 400 naming the field otherwise."""
    if data is None or data == b"":
        data = {}
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ErrorSerializer(serializers.Serializer):
    """WAHA's error shape (`waha_project.errors.error_body`)."""

    statusCode = serializers.IntegerField()
    message = serializers.JSONField()
    error = serializers.CharField()


E400 = OpenApiResponse(ErrorSerializer, description="Invalid input; message names the field")
E401 = OpenApiResponse(ErrorSerializer, description="Missing or wrong API key")
E404 = OpenApiResponse(ErrorSerializer, description="Session not found")
E422 = OpenApiResponse(ErrorSerializer, description="Wrong state for this action")
E503 = OpenApiResponse(ErrorSerializer, description="The engine did not answer in time")
