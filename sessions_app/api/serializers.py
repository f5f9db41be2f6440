"""Request and answer shapes of the sessions API (API.md), validated field by field."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from waha_project.api import (
    StrictBooleanField,
    StrictCharField,
    WahaSerializer,
)
from waha_project.timestamps import ms
from webhooks_app.api.serializers import WebhookSerializer

from ..engines import ENGINE_LABEL
from ..models import Session, SessionStatus

SESSION_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]*$")
HOST_PORT_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^\s:@/]+(?::[^\s@/]*)?@)?"
                          r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})/?$")


class ClientSerializer(WahaSerializer):
    deviceName = StrictCharField(required=False, allow_null=True, max_length=64)
    browserName = StrictCharField(required=False, allow_null=True, max_length=64)


class IgnoreSerializer(WahaSerializer):
    status = StrictBooleanField(required=False, allow_null=True)
    groups = StrictBooleanField(required=False, allow_null=True)
    channels = StrictBooleanField(required=False, allow_null=True)
    broadcast = StrictBooleanField(required=False, allow_null=True)


class ProxySerializer(WahaSerializer):
    server = StrictCharField(max_length=512)
    username = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=256)
    password = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=256)

    def validate_server(self, value: str) -> str:
        match = HOST_PORT_RE.match(value.strip())
        if not match or not 0 < int(match.group(1)) < 65536:
            raise serializers.ValidationError("must be host:port, e.g. proxy.example.com:3128")
        return value.strip()


class StoreSerializer(WahaSerializer):
    enabled = StrictBooleanField(required=False, allow_null=True)
    fullSync = StrictBooleanField(required=False, allow_null=True)


class NowebSerializer(WahaSerializer):
    store = StoreSerializer(required=False, allow_null=True)
    markOnline = StrictBooleanField(required=False, allow_null=True)


class GowsStorageSerializer(WahaSerializer):
    messages = StrictBooleanField(required=False, allow_null=True)
    groups = StrictBooleanField(required=False, allow_null=True)
    chats = StrictBooleanField(required=False, allow_null=True)
    labels = StrictBooleanField(required=False, allow_null=True)
    contacts = StrictBooleanField(required=False, allow_null=True)


class GowsSerializer(WahaSerializer):
    storage = GowsStorageSerializer(required=False, allow_null=True)


class SessionConfigSerializer(WahaSerializer):
    accepted_fields = ("webjs", "apps")

    debug = StrictBooleanField(required=False, allow_null=True)
    client = ClientSerializer(required=False, allow_null=True)
    metadata = serializers.DictField(child=StrictCharField(allow_blank=True, max_length=4096),
                                     required=False, allow_null=True)
    webhooks = serializers.ListField(child=WebhookSerializer(), required=False, allow_null=True,
                                     max_length=32)
    ignore = IgnoreSerializer(required=False, allow_null=True)
    proxy = ProxySerializer(required=False, allow_null=True)
    noweb = NowebSerializer(required=False, allow_null=True)
    gows = GowsSerializer(required=False, allow_null=True)

    def validate_metadata(self, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > 64:
            raise serializers.ValidationError("at most 64 keys")
        return value


def validate_session_name(value: str) -> None:
    if value and not SESSION_NAME_RE.fullmatch(value):
        raise serializers.ValidationError(
            "may contain only letters, digits, '_' and '-' (^[a-zA-Z0-9_-]*$)"
        )


class SessionCreateSerializer(WahaSerializer):
    # Not trimmed: " alpha" is refused like WAHA does, not silently renamed.
    name = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=54,
                           trim_whitespace=False, validators=[validate_session_name])
    config = SessionConfigSerializer(required=False, allow_null=True)
    start = StrictBooleanField(required=False, allow_null=True)


class SessionUpdateSerializer(WahaSerializer):
    accepted_fields = ("name", "start", "stop")

    config = SessionConfigSerializer(required=False, allow_null=True)


class SessionStartLegacySerializer(WahaSerializer):
    name = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=54,
                           trim_whitespace=False, validators=[validate_session_name])
    config = SessionConfigSerializer(required=False, allow_null=True)


class SessionStopLegacySerializer(WahaSerializer):
    name = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=54)
    logout = StrictBooleanField(required=False, allow_null=True)


class SessionLogoutLegacySerializer(WahaSerializer):
    name = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=54)


class RequestCodeSerializer(WahaSerializer):
    phoneNumber = StrictCharField(max_length=32)
    method = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=16)

    def validate_phoneNumber(self, value: str) -> str:
        digits = value.strip()
        if digits.startswith("+"):
            digits = digits[1:]
        if not digits.isdigit() or not digits.isascii():
            raise serializers.ValidationError("must contain digits only, e.g. 12132132130")
        if digits.startswith("0"):
            raise serializers.ValidationError(
                "must be in international form with the country code, without a leading 0"
            )
        if not 7 <= len(digits) <= 15:
            raise serializers.ValidationError("must be 7 to 15 digits long")
        return digits


# --- answers ---------------------------------------------------------------------------------
class MeSerializer(serializers.Serializer):
    id = serializers.CharField()
    pushName = serializers.CharField(allow_null=True, required=False)
    lid = serializers.CharField(allow_null=True, required=False)
    jid = serializers.CharField(allow_null=True, required=False)


class TimestampsSerializer(serializers.Serializer):
    activity = serializers.IntegerField(allow_null=True)


class EngineInfoSerializer(serializers.Serializer):
    engine = serializers.CharField()
    driver = serializers.CharField()
    worker = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    lastError = serializers.CharField(allow_null=True)


def session_info(session: Session, *, with_engine: bool = False,
                 driver: str = "") -> dict[str, Any]:
    status = session.display_status
    stopped = status == SessionStatus.STOPPED
    info: dict[str, Any] = {
        "name": session.name,
        "status": status,
        "config": session.config or None,
        "me": None if stopped else session.me,
        "presence": "online" if status == SessionStatus.WORKING else None,
        "timestamps": {"activity": None if stopped else ms(session.status_changed_at)},
    }
    if with_engine:
        info["engine"] = {
            "engine": ENGINE_LABEL,
            "driver": driver,
            "worker": session.owner or None,
            "state": session.status,
            "lastError": session.last_error or None,
        }
    return info


class SessionInfoSerializer(serializers.Serializer):
    """Documents SessionInfo; answers are built by `session_info`."""

    name = serializers.CharField()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    config = serializers.JSONField(allow_null=True)
    me = MeSerializer(allow_null=True)
    presence = serializers.CharField(allow_null=True)
    timestamps = TimestampsSerializer()


class SessionDetailSerializer(SessionInfoSerializer):
    engine = EngineInfoSerializer()


class QRStatusErrorSerializer(serializers.Serializer):
    statusCode = serializers.IntegerField()
    error = serializers.CharField()
    message = serializers.CharField()
    session = serializers.CharField()
    status = serializers.CharField()
    expected = serializers.ListField(child=serializers.CharField())


QRSerializer = inline_serializer("QRCode", {
    "mimetype": serializers.CharField(required=False, help_text="image/png"),
    "data": serializers.CharField(required=False, help_text="base64 PNG"),
    "value": serializers.CharField(required=False, help_text="the raw QR value (format=raw)"),
})


class CodeSerializer(serializers.Serializer):
    code = serializers.CharField()
