"""`GET /api/audit`: the audit log (admin keys only), newest first, narrowed by session, actor,
operation and a time range; paged with limit/offset. What is recorded: `sessions_app/audit.py`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from waha_project.api import E400, E401, BareListPagination, MillisecondsField
from waha_project.permissions import ADMIN
from waha_project.timestamps import MAX_MS, from_ms

from ..models import ActorKind, AuditEntry

SESSION_MAX_LENGTH = AuditEntry._meta.get_field("session").max_length
ACTOR_MAX_LENGTH = AuditEntry._meta.get_field("actor_id").max_length
OPERATION_MAX_LENGTH = AuditEntry._meta.get_field("operation").max_length


class AuditActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ActorKind.choices, source="actor_kind",
                                   help_text="key: a stored key; user: a dashboard or admin "
                                             "user; env: WAHA_API_KEY")
    id = serializers.CharField(source="actor_id",
                               help_text="The key's id (key_id_…), the username, or WAHA_API_KEY")


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    timestamp = MillisecondsField(help_text="When, in milliseconds since the epoch")
    actor = AuditActorSerializer(source="*")
    operation = serializers.CharField(help_text="e.g. session-create, session-stop, "
                                                "dashboard:stop")
    session = serializers.CharField(help_text="The session the request was about; empty if none")
    status = serializers.IntegerField(help_text="The HTTP status code answered")
    summary = serializers.CharField(help_text="Method and path, e.g. POST /api/sessions/a/stop")


# --- filters ---------------------------------------------------------------------------------
# The words of the rest of the API (DRF's), not Django forms' own.
def _too_long(limit: int | None) -> dict[str, str]:
    return {"max_length": f"Ensure this field has no more than {limit} characters."}


MS_MESSAGES = {"invalid": "A valid integer is required.",
               "min_value": "Ensure this value is greater than or equal to %(limit_value)s.",
               "max_value": "Ensure this value is less than or equal to %(limit_value)s."}


class MillisecondsFilter(filters.Filter):
    """A moment given as milliseconds since the epoch."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, min_value=0, max_value=MAX_MS, error_messages=MS_MESSAGES,
                         **kwargs)

    def filter(self, qs: QuerySet[Any], value: int | None) -> QuerySet[Any]:
        return super().filter(qs, None if value is None else from_ms(value))


class AuditEntryFilter(filters.FilterSet):
    """Exact values; an empty one (`?session=`) means the filter is not given."""

    session = filters.CharFilter(max_length=SESSION_MAX_LENGTH,
                                 error_messages=_too_long(SESSION_MAX_LENGTH))
    actor = filters.CharFilter(field_name="actor_id", max_length=ACTOR_MAX_LENGTH,
                               error_messages=_too_long(ACTOR_MAX_LENGTH))
    operation = filters.CharFilter(max_length=OPERATION_MAX_LENGTH,
                                   error_messages=_too_long(OPERATION_MAX_LENGTH))
    since = MillisecondsFilter(field_name="timestamp", lookup_expr="gte")
    until = MillisecondsFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ["session", "actor", "operation", "since", "until"]


FILTER_PARAMS = [
    OpenApiParameter("session", {"type": "string", "maxLength": SESSION_MAX_LENGTH},
                     description="Session name, exactly; empty means any"),
    OpenApiParameter("actor", {"type": "string", "maxLength": ACTOR_MAX_LENGTH},
                     description="Actor id (a key id, a username or WAHA_API_KEY), exactly; "
                                 "empty means any"),
    OpenApiParameter("operation", {"type": "string", "maxLength": OPERATION_MAX_LENGTH},
                     description="Operation, exactly (e.g. session-stop); empty means any"),
    OpenApiParameter("since", {"type": "integer", "minimum": 0, "maximum": MAX_MS},
                     description="Rows at or after this moment (ms since the epoch)"),
    OpenApiParameter("until", {"type": "integer", "minimum": 0, "maximum": MAX_MS},
                     description="Rows before this moment (ms since the epoch)"),
]


@extend_schema_view(
    list=extend_schema(summary="The audit log, newest first", tags=["audit"],
                       description="Every state-changing request (API, dashboard, admin), "
                                   "refusals included. Admin keys only.",
                       parameters=FILTER_PARAMS,
                       responses={200: AuditEntrySerializer(many=True), 400: E400, 401: E401}),
)
class AuditViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = AuditEntry.objects.all()  # newest first: the model's ordering
    serializer_class = AuditEntrySerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = AuditEntryFilter
    pagination_class = BareListPagination
    access = {"list": ADMIN}
