"""Seeing and re-sending deliveries: GET /api/webhooks/deliveries[/{id}], POST .../redeliver."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from waha_project.api import E400, E401, ErrorSerializer, StrictCharField, WahaSerializer, validated
from waha_project.timestamps import ms

from .. import services
from ..models import Delivery, DeliveryAttempt, DeliveryStatus

NOT_FOUND = OpenApiResponse(ErrorSerializer, description="Delivery not found")


class DeliveryQuerySerializer(WahaSerializer):
    session = StrictCharField(required=False, max_length=54)
    event = StrictCharField(required=False, max_length=64)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=1_000_000_000)


def delivery_info(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "session": delivery.session_name,
        "event": delivery.event,
        "eventId": delivery.event_id,
        "url": delivery.url,
        "webhook": None if delivery.is_global else delivery.webhook_id,
        "global": delivery.is_global,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error or None,
        "createdAt": ms(delivery.created_at),
        "nextAttemptAt": ms(delivery.next_attempt_at),
        "finishedAt": ms(delivery.finished_at),
    }


def attempt_info(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "timestamp": ms(attempt.started_at),
        "statusCode": attempt.status_code,
        "durationMs": attempt.duration_ms,
        "responseBody": attempt.response_body,
        "error": attempt.error or None,
    }


DELIVERY_FIELDS: dict[str, serializers.Field] = {
    "id": serializers.IntegerField(),
    "session": serializers.CharField(),
    "event": serializers.CharField(),
    "eventId": serializers.CharField(),
    "url": serializers.CharField(),
    "webhook": serializers.IntegerField(allow_null=True),
    "global": serializers.BooleanField(),
    "status": serializers.ChoiceField(choices=DeliveryStatus.choices),
    "attempts": serializers.IntegerField(),
    "lastStatusCode": serializers.IntegerField(allow_null=True),
    "lastError": serializers.CharField(allow_null=True),
    "createdAt": serializers.IntegerField(),
    "nextAttemptAt": serializers.IntegerField(allow_null=True),
    "finishedAt": serializers.IntegerField(allow_null=True),
}
DeliverySerializer = inline_serializer("WebhookDelivery", DELIVERY_FIELDS)
ATTEMPT_FIELDS: dict[str, serializers.Field] = {
    "number": serializers.IntegerField(),
    "timestamp": serializers.IntegerField(),
    "statusCode": serializers.IntegerField(allow_null=True),
    "durationMs": serializers.IntegerField(),
    "responseBody": serializers.CharField(),
    "error": serializers.CharField(allow_null=True),
}
DeliveryDetailSerializer = inline_serializer("WebhookDeliveryDetail", {
    **DELIVERY_FIELDS,
    "payload": serializers.JSONField(),
    "attemptList": inline_serializer("WebhookDeliveryAttempt", ATTEMPT_FIELDS, many=True),
})
ID_PARAM = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Delivery id")


class DeliveryViewSet(viewsets.ViewSet):
    lookup_value_regex = r"[0-9]+"

    @extend_schema(summary="Webhook deliveries, newest first", tags=["webhooks"],
                   parameters=[DeliveryQuerySerializer],
                   responses={200: inline_serializer("WebhookDelivery", DELIVERY_FIELDS,
                                                       many=True),
                              400: E400, 401: E401})
    def list(self, request: Request) -> Response:
        query = validated(DeliveryQuerySerializer, request.query_params.dict())
        rows = Delivery.objects.all()
        if query.get("session"):
            rows = rows.filter(session_name=query["session"])
        if query.get("event"):
            rows = rows.filter(event=query["event"])
        if query.get("status"):
            rows = rows.filter(status=query["status"])
        offset = query.get("offset") or 0
        limit = query.get("limit") or 100
        return Response([delivery_info(d) for d in rows[offset:offset + limit]])

    @extend_schema(summary="One delivery with every attempt", tags=["webhooks"],
                   parameters=[ID_PARAM],
                   responses={200: DeliveryDetailSerializer, 401: E401, 404: NOT_FOUND})
    def retrieve(self, request: Request, pk: str) -> Response:
        delivery = _get(pk)
        attempts = [attempt_info(a) for a in delivery.attempt_rows.all()]
        return Response({**delivery_info(delivery), "payload": json.loads(delivery.body),
                         "attemptList": attempts})

    @extend_schema(summary="Send a delivery again", tags=["webhooks"], parameters=[ID_PARAM],
                   request=None, responses={201: DeliverySerializer, 401: E401, 404: NOT_FOUND})
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str) -> Response:
        copy = services.redeliver(_get(pk))
        return Response(delivery_info(copy), status=status.HTTP_201_CREATED)


def _get(pk: str) -> Delivery:
    try:
        return Delivery.objects.get(pk=int(pk))
    except (Delivery.DoesNotExist, ValueError):
        raise exceptions.NotFound("Delivery not found") from None
