"""Errors in WAHA's JSON form: {"statusCode", "message", "error"}."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .access import Refused

log = logging.getLogger("waha.api")


# --- domain errors: what went wrong, in the product's words; the handler below picks the code
class DomainError(Exception):
    """A failure the caller can act on. Services raise these; they know nothing of HTTP."""

    default_message = "The request cannot be carried out"

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None
                 ) -> None:
        self.message = message or self.default_message
        # Extra fields of the answer (WAHA's QR error names the session, status and expected).
        self.details = details or {}
        super().__init__(self.message)


class NotFound(DomainError):
    default_message = "Not found"


class WrongState(DomainError):
    """Wrong state for an action, or a name already taken: WAHA answers 422."""

    default_message = "Unprocessable Entity"


class Unavailable(DomainError):
    """Something the request needs (an engine, the channel layer) did not answer."""

    default_message = "Service unavailable"


class Unsupported(DomainError):
    """The request is valid but what should carry it out (an engine) cannot do it."""

    default_message = "Not implemented"


# One table from a kind of domain error to its HTTP answer.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    WrongState: status.HTTP_422_UNPROCESSABLE_ENTITY,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    Unsupported: status.HTTP_501_NOT_IMPLEMENTED,
}


def status_of(error: DomainError) -> int:
    for kind in type(error).__mro__:
        if kind in DOMAIN_STATUS:
            return DOMAIN_STATUS[kind]
    return status.HTTP_422_UNPROCESSABLE_ENTITY


def error_body(code: int, message: Any) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "error": HTTPStatus(code).phrase}


def walk_validation(detail: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """DRF's nested error detail as (path, message) pairs, the path naming the value the way
    a client wrote it (`config.webhooks[0].url`); "" is the request as a whole."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                name = prefix
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            yield from walk_validation(value, name)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            for item in detail:
                yield prefix, str(item)
            return
        # A list serializer's errors: one entry per item, empty for the items that were fine.
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):
                if item:
                    yield from walk_validation(item, f"{prefix}[{index}]")
            elif item:
                yield f"{prefix}[{index}]", str(item)
    else:
        yield prefix, str(detail)


def flatten_validation(detail: Any) -> list[str]:
    """Readable strings naming the field: `config.webhooks[0].url: Enter a valid URL.`"""
    return [f"{path}: {message}" if path else message
            for path, message in walk_validation(detail)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        code = status_of(exc)
        if exc.details:
            return Response({"statusCode": code, **exc.details, "message": exc.message},
                            status=code)
        return Response(error_body(code, exc.message), status=code)
    if isinstance(exc, Refused):
        return Response(error_body(exc.status, exc.message), status=exc.status)
    if isinstance(exc, exceptions.ValidationError):  # 400, or 422 (`api.Unprocessable`)
        code = exc.status_code
        return Response(error_body(code, flatten_validation(exc.detail)), status=code)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body(400, [f"body: {exc.detail}"]), status=400)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = f"Request body too large: at most {limit} bytes (WAHA_HTTP_MAX_BODY_BYTES)"
        return Response(error_body(413, message), status=413)
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
