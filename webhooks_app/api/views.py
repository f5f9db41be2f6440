"""Seeing and re-sending deliveries: GET /api/webhooks/deliveries[/{id}], POST .../redeliver."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from waha_project.access import Action, principal_of
from waha_project.api import E400, E401, BareListPagination, ErrorSerializer
from waha_project.permissions import Listing, OnObject

from .. import services
from ..models import Delivery, DeliveryStatus
from .filters import EVENT_MAX_LENGTH, SESSION_MAX_LENGTH, DeliveryFilter
from .serializers import WebhookDeliveryDetailSerializer, WebhookDeliverySerializer

NOT_FOUND = OpenApiResponse(ErrorSerializer, description="Delivery not found")
ID_PARAM = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Delivery id")
# The filters as they are checked: their lengths, and an empty value meaning "any".
FILTER_PARAMS = [
    OpenApiParameter("session", {"type": "string", "maxLength": SESSION_MAX_LENGTH},
                     description="Session name; empty means any"),
    OpenApiParameter("event", {"type": "string", "maxLength": EVENT_MAX_LENGTH},
                     description="Event name, e.g. message; empty means any"),
    OpenApiParameter("status", {"type": "string", "enum": [*DeliveryStatus.values, ""]},
                     description="pending, delivered or failed; empty means any"),
]


@extend_schema_view(
    list=extend_schema(summary="Webhook deliveries, newest first", tags=["webhooks"],
                       parameters=FILTER_PARAMS,
                       responses={200: WebhookDeliverySerializer(many=True), 400: E400,
                                  401: E401}),
    retrieve=extend_schema(summary="One delivery with every attempt", tags=["webhooks"],
                           parameters=[ID_PARAM],
                           responses={200: WebhookDeliveryDetailSerializer, 401: E401,
                                      404: NOT_FOUND}),
)
class DeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Delivery.objects.none()  # narrowed per principal: get_queryset
    filter_backends = [DjangoFilterBackend]
    filterset_class = DeliveryFilter
    pagination_class = BareListPagination
    lookup_value_regex = r"[0-9]+"
    access = {"list": Listing(Action.READ), "retrieve": OnObject(Action.READ),
              "redeliver": OnObject(Action.CONTROL)}

    def get_queryset(self) -> QuerySet[Delivery]:
        """The list: the deliveries of the sessions the principal may read. One delivery: of
        the sessions it sees (another's is a 404; its rule then asks for the action)."""
        principal = principal_of(self.request)
        names = (principal.sessions_with(Action.READ) if self.action == "list"
                 else principal.session_names)
        if names is None:
            return Delivery.objects.all()
        return Delivery.objects.filter(session__name__in=names)

    def session_of(self, delivery: Delivery) -> str:
        return delivery.session_name

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "retrieve":
            return WebhookDeliveryDetailSerializer
        return WebhookDeliverySerializer

    def get_object(self) -> Delivery:
        # By id alone: the list's filters do not narrow the detail routes.
        try:
            delivery = self.get_queryset().get(pk=self.kwargs["pk"])
        except Delivery.DoesNotExist:
            raise exceptions.NotFound("Delivery not found") from None
        self.check_object_permissions(self.request, delivery)
        return delivery

    @extend_schema(summary="Send a delivery again", tags=["webhooks"], parameters=[ID_PARAM],
                   request=None,
                   responses={201: WebhookDeliverySerializer, 401: E401, 404: NOT_FOUND})
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str) -> Response:
        copy = services.redeliver(self.get_object())
        return Response(WebhookDeliverySerializer(copy).data, status=status.HTTP_201_CREATED)
