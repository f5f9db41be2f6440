"""`/ping` and `/health`: the platform's checks (database, Redis, channel layer, Celery workers)
and those the apps register (the engines, from sessions_app)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from redis.backoff import NoBackoff
from redis.retry import Retry
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .celery import IN_PROCESS_WORKERS, worker_is_running
from .celery import app as celery_app
from .permissions import ANYONE


class PingView(APIView):
    access = {"get": ANYONE}  # no key needed unless the operator keys it

    @extend_schema(summary="Ping", auth=[],
                   responses={200: inline_serializer("Pong", {"message": serializers.CharField()})})
    def get(self, request: Request) -> Response:
        return Response({"message": "pong"})


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "up", "vendor": connection.vendor}


# Every check that crosses the network has its own deadline: /health answers within a few
# seconds even when Redis or the broker does not.
REDIS_TIMEOUT_SECONDS = 2.0
LAYER_TIMEOUT_SECONDS = 2.0
WORKER_PING_SECONDS = 1.0


async def _layer_round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def send_and_receive() -> None:
        channel = await layer.new_channel("waha.health.")
        await layer.send(channel, {"type": "health.ping"})
        await layer.receive(channel)

    try:
        await asyncio.wait_for(send_and_receive(), LAYER_TIMEOUT_SECONDS)
    except TimeoutError:
        raise RuntimeError(f"no round trip within {LAYER_TIMEOUT_SECONDS:g} s") from None


def check_channel_layer() -> dict[str, Any]:
    async_to_sync(_layer_round_trip)()
    return {"status": "up", "backend": settings.CHANNEL_LAYERS["default"]["BACKEND"]}


def check_redis() -> dict[str, Any]:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 0),
    )
    try:
        client.ping()
    finally:
        client.close()
    return {"status": "up"}


def in_process_broker() -> bool:
    return bool(settings.CELERY_BROKER_URL.startswith("memory://"))


def check_workers() -> dict[str, Any]:
    """Scaled: Celery workers answer a ping over the broker. Embedded: the worker of this
    process runs."""
    if in_process_broker():
        workers = list(IN_PROCESS_WORKERS)
        if not any(worker_is_running(worker) for worker in workers):
            raise RuntimeError("the Celery worker of this process is not running")
        return {"status": "up", "workers": sorted(w.hostname for w in workers)}
    replies = celery_app.control.ping(timeout=WORKER_PING_SECONDS)
    names = sorted(name for reply in replies for name in reply)
    if not names:
        raise RuntimeError(f"no Celery worker answered a ping within {WORKER_PING_SECONDS:g} s")
    return {"status": "up", "workers": names}


Check = Callable[[], dict[str, Any]]
# Checks the apps add (AppConfig.ready), after the platform's own.
REGISTERED: list[tuple[str, Check, tuple[str, ...]]] = []


def register(name: str, check: Check, needs: tuple[str, ...] = ()) -> None:
    """Add an app's check to /health: it returns details when up, raises when down."""
    if all(name != known for known, _, _ in REGISTERED):
        REGISTERED.append((name, check, needs))


def checks() -> list[tuple[str, Check, tuple[str, ...]]]:
    """(name, check, the checks it needs up): a check whose need is down is not tried, so a
    dead Redis costs one timeout, not one per check that goes through it."""
    scaled = bool(settings.REDIS_URL)
    needs_redis = ("redis",) if scaled else ()
    listed: list[tuple[str, Check, tuple[str, ...]]] = [("database", check_database, ())]
    if scaled:
        listed.append(("redis", check_redis, ()))
    listed.append(("channel_layer", check_channel_layer, needs_redis))
    # Embedded without a worker in this process (`serve --no-worker`): nothing to check.
    if not in_process_broker() or IN_PROCESS_WORKERS:
        listed.append(("workers", check_workers, needs_redis))
    listed.extend(REGISTERED)
    return listed


class HealthView(APIView):
    access = {"get": ANYONE}

    @extend_schema(
        summary="Health of the database, Redis, the channel layer, the Celery workers and the "
                "engines", auth=[],
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
        for name, check, needs in checks():
            failed = [need for need in needs if need in down]
            if failed:
                down[name] = {"status": "down",
                              "message": f"not checked: {', '.join(failed)} is down"}
                continue
            try:
                up[name] = check()
            except Exception as exc:
                down[name] = {"status": "down", "message": str(exc) or type(exc).__name__}
        body = {"status": "error" if down else "ok", "info": up, "error": down,
                "details": {**up, **down}}
        return Response(body, status=503 if down else 200)
