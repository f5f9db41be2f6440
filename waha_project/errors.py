"""Errors in WAHA's JSON form: {"statusCode", "message", "error"}."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger("waha.api")


class SessionNotFound(exceptions.NotFound):
    default_detail = "Session not found"


class UnprocessableEntity(exceptions.APIException):
    """Wrong state for an action, or a name already taken: WAHA answers 422."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "Unprocessable Entity"

    def __init__(self, message: str | dict[str, Any]) -> None:
        self.body = message
        super().__init__(message if isinstance(message, str) else str(message))


class EngineUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The engine did not answer in time"


def error_body(code: int, message: Any) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "error": HTTPStatus(code).phrase}


def flatten_validation(detail: Any, prefix: str = "") -> list[str]:
    """Turn DRF's nested error detail into readable strings naming the field."""
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            if key == "non_field_errors":
                name = prefix
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten_validation(value, name))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [f"{prefix}: {item}" if prefix else str(item) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if isinstance(item, dict | list) and item:
                out.extend(flatten_validation(item, f"{prefix}[{index}]"))
            elif item:
                out.append(f"{prefix}[{index}]: {item}")
        return out
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, UnprocessableEntity) and isinstance(exc.body, dict):
        return Response({"statusCode": 422, **exc.body, "message": exc.body.get("error")},
                        status=422)
    if isinstance(exc, exceptions.ValidationError):
        return Response(error_body(400, flatten_validation(exc.detail)), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body(400, [f"body: {exc.detail}"]), status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unhandled error in %s", context.get("view"))
        message = f"{type(exc).__name__}: {exc}" if settings.DEBUG else "Internal server error"
        return Response(error_body(500, message), status=500)
    detail = getattr(exc, "detail", None)
    message = str(detail) if detail is not None else HTTPStatus(response.status_code).phrase
    response.data = error_body(response.status_code, message)
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(404, f"Cannot {request.method} {request.path}"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body(500, "Internal server error"), status=500)
