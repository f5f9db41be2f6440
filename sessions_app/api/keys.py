"""`/api/keys`: WAHA's API keys (admin keys only). A key is shown whole once, in the create
answer; it is kept as a digest, and listed by id with its first and last characters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from waha_project.access import DEFAULT_ACTIONS, Action
from waha_project.api import (
    E400,
    E401,
    UNPROCESSABLE,
    ErrorSerializer,
    StrictBooleanField,
    StrictCharField,
    WahaSerializer,
    validated,
)
from waha_project.errors import NotFound
from waha_project.permissions import ADMIN

from .. import access
from ..models import ApiKey, Session

KEY_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="Key not found")
SESSION_CONFLICT = OpenApiResponse(
    ErrorSerializer, description="A session that does not exist, none for a key that is not an "
    "admin key, or one for an admin key; message names the field")
ID_PARAM = OpenApiParameter("id", str, OpenApiParameter.PATH, description="Key id (key_id_…)")


@extend_schema_field({
    "type": "object",
    "additionalProperties": False,  # refused whatever the strict mode: see below
    "properties": {action.value: {"type": "boolean", "description": action.label}
                   for action in Action},
})
class ActionsSerializer(WahaSerializer):
    """The actions (scopes): each true or false, WAHA's default when left out. A name that is
    not an action is refused whatever the strict mode: a misspelt scope must not pass as a
    default."""

    read = StrictBooleanField(required=False, help_text=Action.READ.label)
    send = StrictBooleanField(required=False, help_text=Action.SEND.label)
    control = StrictBooleanField(required=False, help_text=Action.CONTROL.label)
    setting = StrictBooleanField(required=False, help_text=Action.SETTING.label)
    app = StrictBooleanField(required=False, help_text=Action.APP.label)
    delete = StrictBooleanField(required=False, help_text=Action.DELETE.label)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = self.unknown_fields(data)
            if unknown:
                raise serializers.ValidationError(
                    {name: [f"is not an action; the actions are {', '.join(Action.values)}"]
                     for name in unknown})
        return super().to_internal_value(data)


class ApiKeyRequestSerializer(WahaSerializer):
    """WAHA's ApiKeyRequest: an admin key (no session), or a key of one existing session with
    its actions."""

    isAdmin = StrictBooleanField()
    # WAHA's clients send a session with every key; an admin key's is empty or null.
    session = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=54)
    isActive = StrictBooleanField(required=False)
    actions = ActionsSerializer(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # What the schema cannot say (a session with one flag, none with the other; a session
        # that exists): 422s naming the field.
        if attrs["isAdmin"] and attrs.get("session"):
            raise serializers.ValidationError(
                {"session": ["must be empty for an admin key: an admin key reaches every "
                             "session"]}, code=UNPROCESSABLE)
        if not attrs["isAdmin"] and not attrs.get("session"):
            raise serializers.ValidationError(
                {"session": ["is required for a key that is not an admin key"]},
                code=UNPROCESSABLE)
        if not attrs["isAdmin"] and not Session.objects.filter(name=attrs["session"]).exists():
            raise serializers.ValidationError(
                {"session": [f"there is no session named '{attrs['session']}'"]},
                code=UNPROCESSABLE)
        return attrs


class ApiKeySerializer(serializers.Serializer):
    """ApiKeyDTO; `key` is whole only in the create answer, masked elsewhere."""

    id = serializers.CharField()
    key = serializers.CharField(source="masked")
    isActive = serializers.BooleanField(source="is_active")
    isAdmin = serializers.BooleanField(source="is_admin")
    session = serializers.CharField(source="session.name", allow_null=True, default=None)
    actions = serializers.DictField(child=serializers.BooleanField())


def answer(key: ApiKey, plain: str | None = None) -> dict[str, Any]:
    data = dict(ApiKeySerializer(key).data)
    if plain is not None:
        data["key"] = plain
    return data


def fields_of(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "is_admin": body["isAdmin"],
        "session": None if body["isAdmin"] else body["session"],
        "is_active": body.get("isActive", True),
        "actions": {**DEFAULT_ACTIONS, **dict(body.get("actions") or {})},
    }


class ApiKeyViewSet(viewsets.ViewSet):
    lookup_field = "id"
    lookup_value_regex = r"[^/]+"
    http_method_names = ["get", "post", "put", "delete"]
    access = {"list": ADMIN, "create": ADMIN, "update": ADMIN, "destroy": ADMIN}

    @extend_schema(summary="API keys (masked)", tags=["keys"],
                   responses={200: ApiKeySerializer(many=True), 401: E401})
    def list(self, request: Request) -> Response:
        keys = ApiKey.objects.select_related("session")
        return Response([answer(key) for key in keys])

    @extend_schema(summary="Create an API key", tags=["keys"],
                   description="The answer holds the whole key, the only time it is shown.",
                   request=ApiKeyRequestSerializer,
                   responses={201: ApiKeySerializer, 400: E400, 401: E401,
                              422: SESSION_CONFLICT})
    def create(self, request: Request) -> Response:
        body = validated(ApiKeyRequestSerializer, request.data)
        key, plain = access.create_key(**fields_of(body))
        return Response(answer(key, plain), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Replace an API key's settings", tags=["keys"],
                   parameters=[ID_PARAM], request=ApiKeyRequestSerializer,
                   responses={200: ApiKeySerializer, 400: E400, 401: E401, 422: SESSION_CONFLICT,
                              404: KEY_NOT_FOUND})
    def update(self, request: Request, id: str) -> Response:
        key = found(id)
        body = validated(ApiKeyRequestSerializer, request.data)
        return Response(answer(access.update_key(key, **fields_of(body))))

    @extend_schema(summary="Delete an API key", tags=["keys"], parameters=[ID_PARAM],
                   responses={200: None, 401: E401, 404: KEY_NOT_FOUND})
    def destroy(self, request: Request, id: str) -> Response:
        found(id).delete()
        return Response(status=status.HTTP_200_OK)


def found(key_id: str) -> ApiKey:
    try:
        return ApiKey.objects.select_related("session").get(id=key_id)
    except ApiKey.DoesNotExist:
        raise NotFound("Key not found") from None
