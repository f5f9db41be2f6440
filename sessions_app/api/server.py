"""Server routes of the API: version and status."""

from __future__ import annotations

import time

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from waha_project.api import E401

from ..engines import get_engine
from ..events import environment
from ..models import EngineProcess

STARTED_AT = time.time()
WORKER = inline_serializer("Worker", {"id": serializers.CharField()})


class VersionView(APIView):
    @extend_schema(summary="Server version", responses={200: inline_serializer("Version", {
        "version": serializers.CharField(), "engine": serializers.CharField(),
        "tier": serializers.CharField(), "browser": serializers.CharField(allow_null=True),
        "platform": serializers.CharField(),
        "worker": WORKER}),
        401: E401})
    def get(self, request: Request) -> Response:
        return Response(environment())


class StatusView(APIView):
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
