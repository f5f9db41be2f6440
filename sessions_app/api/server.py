"""Server routes of the API: version, status, environment and stop."""

from __future__ import annotations

import time

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from waha_project import process
from waha_project.api import (
    E400,
    E401,
    StrictBooleanField,
    WahaSerializer,
    flag_parameter,
    query_flag,
    validated,
)
from waha_project.permissions import ADMIN, ANYONE

from ..engines import get_engine
from ..events import environment
from ..models import EngineProcess

STARTED_AT = time.time()
WORKER = inline_serializer("Worker", {"id": serializers.CharField()})


class VersionView(APIView):
    access = {"get": ANYONE}  # clients check what they talk to; it names no session

    @extend_schema(summary="Server version", responses={200: inline_serializer("Version", {
        "version": serializers.CharField(), "engine": serializers.CharField(),
        "tier": serializers.CharField(), "browser": serializers.CharField(allow_null=True),
        "platform": serializers.CharField(),
        "worker": WORKER}),
        401: E401})
    def get(self, request: Request) -> Response:
        return Response(environment())


class StatusView(APIView):
    access = {"get": ADMIN}  # the engine processes: hosts and pids

    @extend_schema(summary="Server status", responses={200: inline_serializer("ServerStatus", {
        "startTimestamp": serializers.IntegerField(), "uptime": serializers.IntegerField(),
        "worker": WORKER,
        "engines": serializers.ListField(child=serializers.DictField())}), 401: E401})
    def get(self, request: Request) -> Response:
        now = time.time()
        engines = [
            {"id": p.worker_id, "engine": p.engine, "hostname": p.hostname, "pid": p.pid,
             "heartbeat": int(p.heartbeat_at.timestamp() * 1000)}
            for p in EngineProcess.objects.all()
        ]
        return Response({
            "startTimestamp": int(STARTED_AT * 1000),
            "uptime": int((now - STARTED_AT) * 1000),
            "worker": {"id": settings.WORKER_ID, "engine": get_engine().name},
            "engines": engines,
        })


class EnvironmentView(APIView):
    access = {"get": ADMIN}

    @extend_schema(
        summary="The server's environment",
        description="Only WAHA_*, WHATSAPP_* and DEBUG unless `all=true`; every secret "
        "(keys, passwords, tokens, the password of a URL) is masked.",
        parameters=[flag_parameter("all", "Every variable of the process")],
        responses={200: OpenApiResponse({"type": "object",
                                         "additionalProperties": {"type": "string"}},
                                        description="Variable name to (masked) value"),
                   400: E400, 401: E401},
    )
    def get(self, request: Request) -> Response:
        return Response(process.shown_environment(every=query_flag(request, "all")))


class StopSerializer(WahaSerializer):
    force = StrictBooleanField(required=False, allow_null=True)


class StopView(APIView):
    access = {"post": ADMIN}

    @extend_schema(
        summary="Stop (and let the supervisor restart) the server",
        description="A graceful stop, as SIGTERM: running sessions are handed back with what "
        "the user wanted kept, so they run again after the restart. `force`: stop at once.",
        request=StopSerializer,
        responses={201: inline_serializer("StopResponse", {"stopping": serializers.BooleanField()}),
                   400: E400, 401: E401},
    )
    def post(self, request: Request) -> Response:
        body = validated(StopSerializer, request.data)
        process.stop_soon(force=bool(body.get("force")))
        return Response({"stopping": True}, status=status.HTTP_201_CREATED)
