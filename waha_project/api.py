"""API pieces every app's views share: strict fields, the base serializer that drops (or, in
strict mode, refuses) unknown fields, `validated`, the fields and the paginator answers are
rendered with, and the error answers of the schema."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from drf_spectacular import openapi as spectacular
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .parsers import json_object
from .permissions import rule_for
from .timestamps import ms

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000  # far past any table, and limit + offset still fits a 64-bit integer


class FullMatch(RegexValidator):
    """A value matching a regular expression as a whole, the way a JSON Schema `pattern` of
    `^...$` reads it (Django's own validator searches, and its `$` lets a trailing newline
    through). drf-spectacular writes the pattern into the schema, so clients see the format."""

    def __call__(self, value: Any) -> None:
        if not cast("re.Pattern[str]", self.regex).fullmatch(str(value)):
            raise DjangoValidationError(self.message, code=self.code, params={"value": value})


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
            unknown = self.unknown_fields(data)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["unknown field (WAHA_HTTP_STRICT_MODE is on)"] for name in unknown}
                )
        return super().to_internal_value(data)

    def unknown_fields(self, data: Mapping[str, Any]) -> list[str]:
        return sorted(set(data) - set(self.fields) - set(self.accepted_fields))

    def create(self, validated_data: Any) -> Any:  # pragma: no cover - not a model serializer
        raise NotImplementedError

    def update(self, instance: Any, validated_data: Any) -> Any:  # pragma: no cover
        raise NotImplementedError


FLAG_VALUES = {"true": True, "1": True, "false": False, "0": False}


def query_flag(request: Request, name: str, default: bool = False) -> bool:
    """A true/false query parameter (true, 1, false or 0); anything else is a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = FLAG_VALUES.get(str(raw).lower())
    if value is None:
        raise serializers.ValidationError({name: ["must be true, false, 1 or 0"]})
    return value


def flag_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, str, enum=list(FLAG_VALUES), description=description)


# The code of a serializer's error about fields the schema allows that cannot be carried out
# together, or with what is stored (a key for a session that does not exist): a 422, not a 400.
UNPROCESSABLE = "unprocessable"


class Unprocessable(serializers.ValidationError):
    """A body the schema allows that cannot be carried out: a 422 naming the fields."""

    status_code = 422


def error_codes(detail: Any) -> Iterator[str | None]:
    if isinstance(detail, Mapping):
        for value in detail.values():
            yield from error_codes(value)
    elif isinstance(detail, list):
        for value in detail:
            yield from error_codes(value)
    else:
        yield getattr(detail, "code", None)


def validated(serializer_class: type[WahaSerializer], data: Any) -> dict[str, Any]:
    """The request body (or query) checked field by field; a 400 naming the field otherwise,
    or a 422 when every error is one of fields the schema allows (`UNPROCESSABLE`).

    A body is a JSON object (`parsers.json_object`).
    """
    serializer = serializer_class(data=json_object(data))
    if not serializer.is_valid():
        errors = serializer.errors
        if all(code == UNPROCESSABLE for code in error_codes(errors)):
            raise Unprocessable(errors)
        raise serializers.ValidationError(errors)
    return dict(serializer.validated_data)


# --- answers -------------------------------------------------------------------------------------
class EmptyAsNull(serializers.Field):
    """Answers an empty value ("" or {}) as null: WAHA writes an unset field as null."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return super().to_representation(value) if value else None


class OptionalCharField(EmptyAsNull, serializers.CharField):
    pass


class OptionalJSONField(EmptyAsNull, serializers.JSONField):
    pass


@extend_schema_field(OpenApiTypes.INT)
class MillisecondsField(serializers.Field):
    """A moment as milliseconds since the epoch."""

    def to_representation(self, value: datetime) -> int | None:
        return ms(value)


class WireNames(serializers.Serializer):
    """A field declared with a trailing underscore is named without it on the wire: `from`
    and `global` are Python keywords, `source` a Field attribute."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name.removesuffix("_"): field for name, field in super().get_fields().items()}


class LimitOffsetQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET)


class BareListPagination(LimitOffsetPagination):
    """`limit`/`offset` paging answered as the page alone: WAHA's clients expect a JSON array,
    not `{count, results}`. A value out of bounds is a 400 naming it, never quietly the default
    (an empty one means not given, as it does for django-filter's filters)."""

    default_limit = DEFAULT_LIMIT

    def paginate_queryset(self, queryset: QuerySet[Any] | Sequence[Any], request: Request,
                          view: APIView | None = None) -> list[Any]:
        page = LimitOffsetQuerySerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        self.request = request
        self.limit = page.validated_data.get("limit", self.default_limit)
        self.offset = page.validated_data.get("offset", 0)
        return list(queryset[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data: Any) -> Response:
        return Response(data)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return schema

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        # allowEmptyValue: `?limit=` is taken as not given, and the schema says so.
        return [
            {"name": "limit", "in": "query", "required": False, "allowEmptyValue": True,
             "description": f"How many to answer, 1 to {MAX_LIMIT}; {DEFAULT_LIMIT} by default",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
            {"name": "offset", "in": "query", "required": False, "allowEmptyValue": True,
             "description": "How many to skip",
             "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
        ]


class ErrorSerializer(serializers.Serializer):
    """WAHA's error shape (`waha_project.errors.error_body`)."""

    statusCode = serializers.IntegerField()
    message = serializers.JSONField()
    error = serializers.CharField()


class AutoSchema(spectacular.AutoSchema):
    """drf-spectacular's, with the refusals of each route's access rule in its answers (a 403
    for a missing action or admin key, a 404 for a session the key does not reach), so the
    schema says what a key that is not an admin's may get."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        bodies: dict[str, Any] = super()._get_response_bodies(direction)
        rule = rule_for(self.view, self.method)
        for status, description in rule.refusals if rule is not None else ():
            bodies.setdefault(str(status), self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=description), str(status),
                direction=direction))
        return bodies


E400 = OpenApiResponse(ErrorSerializer, description="Invalid input; message names the field")
E401 = OpenApiResponse(ErrorSerializer, description="Missing or wrong API key")
E404 = OpenApiResponse(ErrorSerializer, description="Session not found")
E422 = OpenApiResponse(ErrorSerializer, description="Wrong state for this action")
E501 = OpenApiResponse(ErrorSerializer, description="The engine cannot do this; message names it")
E503 = OpenApiResponse(ErrorSerializer, description="The engine did not answer in time")
