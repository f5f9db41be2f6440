"""The sessions API: a few declarative lines per route; the logic is in services."""

from __future__ import annotations

import base64
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from waha_project.access import Action, principal_of
from waha_project.api import (
    E400,
    E401,
    E404,
    E422,
    E501,
    E503,
    flag_parameter,
    query_flag,
    validated,
)
from waha_project.errors import WrongState
from waha_project.permissions import ADMIN, ANYONE, Listing, OnSession, Rule

from .. import audit, pictures, qr, services
from ..engines import get_engine
from ..models import Session
from . import serializers as s

ME_OR_NULL = OpenApiResponse(
    {"allOf": [{"$ref": "#/components/schemas/Me"}], "nullable": True},
    description="The linked account, or null when the session is not linked",
)

NAME_PARAM = OpenApiParameter("name", str, OpenApiParameter.PATH,
                              description="Session name", pattern=r"^[a-zA-Z0-9_-]+$")
SESSION_PARAM = OpenApiParameter("session", str, OpenApiParameter.PATH,
                                 description="Session name", pattern=r"^[a-zA-Z0-9_-]+$")


def config_of(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body.get("config") or {})


def info(session: Session) -> dict[str, Any]:
    return s.SessionInfoSerializer(session).data


def operate(operation: str, name: str) -> Response:
    """A lifecycle operation from `services.LIFECYCLE`, answered with the session."""
    session = services.LIFECYCLE[operation].run(name)
    return Response(info(session), status=status.HTTP_201_CREATED)


def on_name(action: str) -> OnSession:
    return OnSession(action, path="name")


def on_session(action: str) -> OnSession:
    return OnSession(action, path="session")


class SessionViewSet(viewsets.ViewSet):
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
    http_method_names = ["get", "post", "put", "delete"]
    access = {
        "list": Listing(Action.READ), "create": ADMIN, "retrieve": on_name(Action.READ),
        "update": on_name(Action.SETTING), "destroy": on_name(Action.DELETE),
        "start": on_name(Action.CONTROL), "stop": on_name(Action.CONTROL),
        "restart": on_name(Action.CONTROL), "logout": on_name(Action.CONTROL),
        "me": on_name(Action.READ),
    }

    @extend_schema(
        summary="List sessions",
        parameters=[flag_parameter("all", "Include STOPPED sessions")],
        responses={200: s.SessionInfoSerializer(many=True), 400: E400, 401: E401},
    )
    def list(self, request: Request) -> Response:
        sessions = services.list_sessions(include_stopped=query_flag(request, "all"),
                                          names=principal_of(request).sessions_with(Action.READ))
        return Response(s.SessionInfoSerializer(sessions, many=True,
                                                context={"now": timezone.now()}).data)

    @extend_schema(
        summary="Create a session",
        request=s.SessionCreateSerializer,
        responses={201: s.SessionInfoSerializer, 400: E400, 401: E401, 422: E422},
    )
    def create(self, request: Request) -> Response:
        body = validated(s.SessionCreateSerializer, request.data)
        start = body.get("start")
        session = services.create_session(
            body.get("name"), config_of(body), start=True if start is None else start
        )
        audit.names_session(request, session.name)  # the name it made up, if none was given
        return Response(info(session), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a session", parameters=[NAME_PARAM],
                   responses={200: s.SessionDetailSerializer, 401: E401, 404: E404})
    def retrieve(self, request: Request, name: str) -> Response:
        session = services.get_session(name)
        detail = s.SessionDetailSerializer(session, context={"driver": get_engine().name})
        return Response(detail.data)

    @extend_schema(
        summary="Replace a session's config",
        description="The whole config is replaced; a running session restarts to apply it.",
        parameters=[NAME_PARAM],
        request=s.SessionUpdateSerializer,
        responses={200: s.SessionInfoSerializer, 400: E400, 401: E401, 404: E404},
    )
    def update(self, request: Request, name: str) -> Response:
        body = validated(s.SessionUpdateSerializer, request.data)
        return Response(info(services.update_config(name, config_of(body))))

    @extend_schema(summary="Delete a session", parameters=[NAME_PARAM],
                   responses={200: None, 400: E400, 401: E401})
    def destroy(self, request: Request, name: str) -> Response:
        # Idempotent, but a name no session can have is a mistake, not a deleted session.
        if not s.SESSION_NAME_RE.fullmatch(name):
            raise exceptions.ValidationError({"name": [s.SESSION_NAME.message]})
        services.delete_session(name)
        return Response(status=status.HTTP_200_OK)

    @extend_schema(summary="Start a session", parameters=[NAME_PARAM], request=None,
                   responses={201: s.SessionInfoSerializer, 401: E401, 404: E404})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, name: str) -> Response:
        return operate("start", name)

    @extend_schema(summary="Stop a session", parameters=[NAME_PARAM], request=None,
                   responses={201: s.SessionInfoSerializer, 401: E401, 404: E404})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, name: str) -> Response:
        return operate("stop", name)

    @extend_schema(summary="Restart a session", parameters=[NAME_PARAM], request=None,
                   responses={201: s.SessionInfoSerializer, 401: E401, 404: E404})
    @action(detail=True, methods=["post"])
    def restart(self, request: Request, name: str) -> Response:
        return operate("restart", name)

    @extend_schema(
        summary="Log a session out",
        description="Unlinks the device and wipes its auth state; a running session starts "
        "again with a fresh QR code.",
        parameters=[NAME_PARAM], request=None,
        responses={201: s.SessionInfoSerializer, 401: E401, 404: E404},
    )
    @action(detail=True, methods=["post"])
    def logout(self, request: Request, name: str) -> Response:
        return operate("logout", name)

    @extend_schema(summary="The account a session is linked to", parameters=[NAME_PARAM],
                   responses={200: ME_OR_NULL, 401: E401, 404: E404})
    @action(detail=True, methods=["get"])
    def me(self, request: Request, name: str) -> HttpResponse:
        # DRF renders None as an empty body; WAHA clients expect the JSON literal null.
        return JsonResponse(services.get_session(name).me, safe=False)


session_detail = SessionViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"},
                                        basename="session")


# --- deprecated WAHA routes ------------------------------------------------------------------
class LegacyRouteView(APIView):
    """A deprecated POST route whose path is also the detail path of a session so named.

    Django routes by path alone, so GET, PUT and DELETE go on to that session, as WAHA's
    method-aware routing does.
    """

    session_name = ""
    # GET, PUT and DELETE go on to the session's own routes, which check their own rules.
    access: dict[str, Rule] = {"get": ANYONE, "put": ANYONE, "delete": ANYONE}

    @property
    def allowed_methods(self) -> list[str]:
        """What OPTIONS and a 405 list: the route's own POST. The session so named documents
        its own methods under `/api/sessions/{name}`."""
        return ["POST", "OPTIONS"]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        return self.hand_on(request)

    @extend_schema(exclude=True)
    def put(self, request: Request) -> HttpResponse:
        return self.hand_on(request)

    @extend_schema(exclude=True)
    def delete(self, request: Request) -> HttpResponse:
        return self.hand_on(request)

    def hand_on(self, request: Request) -> HttpResponse:
        audit.handed_to(request, session_detail, self.session_name)
        return session_detail(request._request, name=self.session_name)


class LegacyStartView(LegacyRouteView):
    session_name = "start"
    # It may create the session (admin only: a session key's session exists) or replace its
    # config (the setting action, checked in the view).
    access = {**LegacyRouteView.access, "post": OnSession(Action.CONTROL, body="name")}

    @extend_schema(summary="Upsert and start a session (deprecated)", deprecated=True,
                   operation_id="sessions_legacy_start",
                   request=s.SessionStartLegacySerializer,
                   responses={201: s.SessionInfoSerializer, 400: E400, 401: E401, 422: E422})
    def post(self, request: Request) -> Response:
        body = validated(s.SessionStartLegacySerializer, request.data)
        config = body.get("config") if "config" in body else None
        if config is not None:
            principal_of(request).require(body.get("name") or "", Action.SETTING)
        session = services.upsert_and_start(body.get("name") or "", config)
        return Response(info(session), status=status.HTTP_201_CREATED)


class LegacyStopView(LegacyRouteView):
    session_name = "stop"
    # With `logout` it deletes the session: the delete action, checked in the view.
    access = {**LegacyRouteView.access, "post": OnSession(Action.CONTROL, body="name")}

    @extend_schema(summary="Stop a session, with logout: stop, log out and delete (deprecated)",
                   deprecated=True, operation_id="sessions_legacy_stop",
                   request=s.SessionStopLegacySerializer,
                   responses={201: None, 400: E400, 401: E401, 404: E404, 422: E422})
    def post(self, request: Request) -> Response:
        body = validated(s.SessionStopLegacySerializer, request.data)
        name = body.get("name") or ""
        if not name:
            raise WrongState("Session name is required")
        if body.get("logout"):
            principal_of(request).require(name, Action.DELETE)
            services.delete_session(name)
        else:
            services.stop_session(name)
        return Response(status=status.HTTP_201_CREATED)


class LegacyLogoutView(LegacyRouteView):
    session_name = "logout"
    access = {**LegacyRouteView.access, "post": OnSession(Action.DELETE, body="name")}

    @extend_schema(summary="Stop, log out and delete a session (deprecated)", deprecated=True,
                   operation_id="sessions_legacy_logout",
                   request=s.SessionLogoutLegacySerializer,
                   responses={201: None, 400: E400, 401: E401, 422: E422})
    def post(self, request: Request) -> Response:
        body = validated(s.SessionLogoutLegacySerializer, request.data)
        name = body.get("name") or ""
        if not name:
            raise WrongState("Session name is required")
        services.delete_session(name)
        return Response(status=status.HTTP_201_CREATED)


# --- authentication of a session ----------------------------------------------------------------
class QRView(APIView):
    access = {"get": on_session(Action.READ)}

    @extend_schema(
        summary="The QR code to link the session",
        description="PNG by default; `Accept: application/json` gives base64; `format=raw` "
        "gives the value. Waits up to 5 s for the session to run, then up to 10 s for a code.",
        parameters=[
            SESSION_PARAM,
            OpenApiParameter("format", str, enum=["image", "raw"], description="image or raw"),
        ],
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "application/json"): s.QRSerializer,
            (400, "application/json"): E400,
            (401, "application/json"): E401,
            (404, "application/json"): E404,
            (422, "application/json"): OpenApiResponse(s.QRStatusErrorSerializer),
        },
    )
    def get(self, request: Request, session: str) -> HttpResponse:
        fmt = request.query_params.get("format", "image")
        if fmt not in {"image", "raw"}:
            raise exceptions.ValidationError({"format": ["must be image or raw"]})
        current = services.wait_for_qr(session)
        if fmt == "raw":
            return Response({"value": current.qr_value})
        png = qr.png(current.qr_value)
        if "application/json" in request.headers.get("Accept", ""):
            return Response({"mimetype": "image/png",
                             "data": base64.b64encode(png).decode("ascii")})
        return HttpResponse(png, content_type="image/png")


class RequestCodeView(APIView):
    access = {"post": on_session(Action.CONTROL)}

    @extend_schema(
        summary="Request a pairing code for a phone number",
        parameters=[SESSION_PARAM],
        request=s.RequestCodeSerializer,
        responses={201: s.CodeSerializer, 400: E400, 401: E401, 404: E404, 422: E422,
                   503: E503},
    )
    def post(self, request: Request, session: str) -> Response:
        body = validated(s.RequestCodeSerializer, request.data)
        code = services.request_code(session, body["phoneNumber"])
        return Response({"code": code}, status=status.HTTP_201_CREATED)


# --- the profile of the session's account -------------------------------------------------------
PROFILE_ERRORS = {401: E401, 404: E404, 422: E422, 501: E501, 503: E503}
DONE = {"success": True}


class ProfileView(APIView):
    access = {"get": on_session(Action.READ)}

    @extend_schema(summary="The profile of the session's account", parameters=[SESSION_PARAM],
                   responses={200: s.ProfileSerializer, **PROFILE_ERRORS})
    def get(self, request: Request, session: str) -> Response:
        return Response(s.ProfileSerializer(services.profile(session, "get_profile")).data)


class ProfileNameView(APIView):
    access = {"put": on_session(Action.SEND)}

    @extend_schema(summary="Set the profile name", parameters=[SESSION_PARAM],
                   request=s.ProfileNameSerializer,
                   responses={201: s.ResultSerializer, 400: E400, **PROFILE_ERRORS})
    def put(self, request: Request, session: str) -> Response:
        body = validated(s.ProfileNameSerializer, request.data)
        services.profile(session, "set_profile_name", name=body["name"])
        return Response(DONE, status=status.HTTP_201_CREATED)


class ProfileStatusView(APIView):
    access = {"put": on_session(Action.SEND)}

    @extend_schema(summary="Set the profile status (About)", parameters=[SESSION_PARAM],
                   request=s.ProfileStatusSerializer,
                   responses={201: s.ResultSerializer, 400: E400, **PROFILE_ERRORS})
    def put(self, request: Request, session: str) -> Response:
        body = validated(s.ProfileStatusSerializer, request.data)
        services.profile(session, "set_profile_status", status=body["status"])
        return Response(DONE, status=status.HTTP_201_CREATED)


class ProfilePictureView(APIView):
    access = {"put": on_session(Action.SEND), "delete": on_session(Action.SEND)}

    @extend_schema(
        summary="Set the profile picture",
        description="`file`: `{mimetype, data}` (base64) or `{url}`; a JPEG, PNG or WebP image "
        f"of at most {pictures.MAX_BYTES} bytes, cropped to its centre square and sent as a "
        f"JPEG of at most {pictures.SIDE} pixels a side.",
        parameters=[SESSION_PARAM], request=s.ProfilePictureSerializer,
        responses={201: s.ResultSerializer, 400: E400, **PROFILE_ERRORS})
    def put(self, request: Request, session: str) -> Response:
        services.working_session(session)  # 404 or 422 before any picture is fetched
        body = validated(s.ProfilePictureSerializer, request.data)
        services.profile(session, "set_profile_picture", picture=body["file"])
        return Response(DONE, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Delete the profile picture", parameters=[SESSION_PARAM],
                   responses={201: s.ResultSerializer, **PROFILE_ERRORS})
    def delete(self, request: Request, session: str) -> Response:
        services.profile(session, "delete_profile_picture")
        return Response(DONE, status=status.HTTP_201_CREATED)
