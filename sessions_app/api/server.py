"""Server routes: ping, health, version and status."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..engines import get_engine
from ..models import EngineProcess
from .views import E401

STARTED_AT = time.time()


class PingView(APIView):
    @extend_schema(summary="Ping", auth=[],
                   responses={200: inline_serializer("Pong", {"message": serializers.CharField()})})
    def get(self, request: Request) -> Response:
        return Response({"message": "pong"})


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "up", "vendor": connection.vendor}


async def _layer_round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("waha.health.")
    await layer.send(channel, {"type": "health.ping"})
    await asyncio.wait_for(layer.receive(channel), 2)


def check_channel_layer() -> dict[str, Any]:
    async_to_sync(_layer_round_trip)()
    return {"status": "up", "backend": settings.CHANNEL_LAYERS["default"]["BACKEND"]}


def check_engines() -> dict[str, Any]:
    horizon = timezone.now() - timedelta(seconds=max(settings.LEASE_SECONDS, 3 *
                                                     settings.RECONCILE_SECONDS))
    live = list(EngineProcess.objects.filter(heartbeat_at__gte=horizon)
                .values_list("worker_id", flat=True))
    if not live:
        raise RuntimeError("no engine process has sent a heartbeat recently")
    return {"status": "up", "workers": live}


CHECKS = {"database": check_database, "channel_layer": check_channel_layer,
          "engines": check_engines}


class HealthView(APIView):
    @extend_schema(
        summary="Health of the database, the channel layer and the engines", auth=[],
        responses={200: inline_serializer("Health", {
            "status": serializers.ChoiceField(choices=["ok", "error"]),
            "info": serializers.DictField(), "error": serializers.DictField(),
            "details": serializers.DictField()}),
            503: inline_serializer("HealthError", {
                "status": serializers.ChoiceField(choices=["ok", "error"]),
                "info": serializers.DictField(), "error": serializers.DictField(),
                "details": serializers.DictField()})},
    )
    def get(self, request: Request) -> Response:
        up: dict[str, Any] = {}
        down: dict[str, Any] = {}
        for name, check in CHECKS.items():
            try:
                up[name] = check()
            except Exception as exc:
                down[name] = {"status": "down", "message": str(exc) or type(exc).__name__}
        body = {"status": "error" if down else "ok", "info": up, "error": down,
                "details": {**up, **down}}
        return Response(body, status=503 if down else 200)


class VersionView(APIView):
    @extend_schema(summary="Server version", responses={200: inline_serializer("Version", {
        "version": serializers.CharField(), "engine": serializers.CharField(),
        "tier": serializers.CharField(), "browser": serializers.CharField(allow_null=True),
        "platform": serializers.CharField()}), 401: E401})
    def get(self, request: Request) -> Response:
        return Response({"version": settings.WAHA_VERSION, "engine": "GOWS",
                         "tier": settings.WAHA_TIER, "browser": None, "platform": "linux/x64"})


class StatusView(APIView):
    @extend_schema(summary="Server status", responses={200: inline_serializer("ServerStatus", {
        "startTimestamp": serializers.IntegerField(), "uptime": serializers.IntegerField(),
        "worker": inline_serializer("Worker", {"id": serializers.CharField()}),
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
