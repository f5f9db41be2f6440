"""Request and answer shapes of the sessions API (API.md), validated field by field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import empty

from waha_project.api import (
    FullMatch,
    OptionalCharField,
    StrictBooleanField,
    StrictCharField,
    WahaSerializer,
    WireNames,
)
from waha_project.timestamps import ms
from webhooks_app.api.serializers import WebhookSerializer

from .. import pictures
from ..engines import ENGINE_LABEL
from ..models import Listed, Session, SessionStatus, Shown

SESSION_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]*$")
SESSION_NAME = FullMatch(SESSION_NAME_RE,
                         "may contain only letters, digits, '_' and '-' (^[a-zA-Z0-9_-]*$)")
PHONE_NUMBER_RE = re.compile(r"^\+?[1-9][0-9]{6,14}$")
PROXY_SCHEMES = ("http", "https", "socks5")
# The parts of a proxy address, written so the whole is a pattern the schema can carry: a port
# from 1 to 65535, and an IPv6 literal that is one (its eight forms of `::` shortening).
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = (rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}"
         rf"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
         rf"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
         rf"|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:))")
PROXY_SERVER_RE = re.compile(rf"^(?:(?:https?|socks5)://)?(?:\[{_IPV6}\]|[A-Za-z0-9.-]+):{_PORT}/?$")
# Metadata is copied into every event and every answer: a few ids and labels, not documents.
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 100
METADATA_MAX_VALUE_LENGTH = 1000


class ClientSerializer(WahaSerializer):
    deviceName = StrictCharField(required=False, allow_null=True, max_length=64)
    browserName = StrictCharField(required=False, allow_null=True, max_length=64)


class IgnoreSerializer(WahaSerializer):
    status = StrictBooleanField(required=False, allow_null=True)
    groups = StrictBooleanField(required=False, allow_null=True)
    channels = StrictBooleanField(required=False, allow_null=True)
    broadcast = StrictBooleanField(required=False, allow_null=True)


class ProxyServer(FullMatch):
    """`host:port`, or `http://`, `https://` or `socks5://` before it; the wrong scheme and
    credentials inside (they belong in `username` and `password`) are named."""

    def __call__(self, value: Any) -> None:
        scheme, separator, address = str(value).partition("://")
        if separator and scheme not in PROXY_SCHEMES:
            raise DjangoValidationError("the scheme must be http, https or socks5")
        if "@" in (address if separator else scheme):
            raise DjangoValidationError(
                "must not hold credentials: put them in username and password"
            )
        super().__call__(value)


class ProxySerializer(WahaSerializer):
    # Not trimmed: the schema's pattern is exactly what is accepted.
    server = StrictCharField(
        max_length=512, trim_whitespace=False,
        validators=[ProxyServer(PROXY_SERVER_RE,
                                "must be host:port, e.g. proxy.example.com:3128")],
        help_text="host:port, or http://, https:// or socks5:// and host:port",
    )
    username = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=256)
    password = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=256)


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


@extend_schema_field({
    "type": "object", "maxProperties": METADATA_MAX_KEYS,
    "additionalProperties": {"type": "string", "maxLength": METADATA_MAX_VALUE_LENGTH},
    "description": f"At most {METADATA_MAX_KEYS} keys of at most {METADATA_MAX_KEY_LENGTH} "
                   f"characters; values are strings of at most {METADATA_MAX_VALUE_LENGTH}",
})
class MetadataField(serializers.DictField):
    """String keys and values, bounded. The keys are checked before the values, so an answer
    never lists thousands of errors nor echoes a huge key whole."""

    child = StrictCharField(allow_blank=True, max_length=METADATA_MAX_VALUE_LENGTH)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            if len(data) > METADATA_MAX_KEYS:
                raise serializers.ValidationError(f"at most {METADATA_MAX_KEYS} keys")
            for key in data:
                if len(key) > METADATA_MAX_KEY_LENGTH:
                    raise serializers.ValidationError(
                        f"key '{key[:32]}…' is longer than {METADATA_MAX_KEY_LENGTH} characters"
                    )
        return dict(super().to_internal_value(data))


class SessionConfigSerializer(WahaSerializer):
    accepted_fields = ("webjs", "apps")

    debug = StrictBooleanField(required=False, allow_null=True)
    client = ClientSerializer(required=False, allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)
    webhooks = serializers.ListField(child=WebhookSerializer(), required=False, allow_null=True,
                                     max_length=32)
    ignore = IgnoreSerializer(required=False, allow_null=True)
    proxy = ProxySerializer(required=False, allow_null=True)
    noweb = NowebSerializer(required=False, allow_null=True)
    gows = GowsSerializer(required=False, allow_null=True)



class PhoneNumber(FullMatch):
    """A phone number in international form: digits, a leading + allowed, no leading 0; each
    way of failing named."""

    def __call__(self, value: Any) -> None:
        digits = str(value).removeprefix("+")
        if not digits.isdigit() or not digits.isascii():
            raise DjangoValidationError("must contain digits only, e.g. 12132132130")
        if digits.startswith("0"):
            raise DjangoValidationError(
                "must be in international form with the country code, without a leading 0"
            )
        if not 7 <= len(digits) <= 15:
            raise DjangoValidationError("must be 7 to 15 digits long")
        super().__call__(value)  # the documented pattern has the last word


class LegacyNameField(StrictCharField):
    """`name` of WAHA's deprecated routes: required, as the schema says; a missing, null or
    empty one is WAHA's 422 "Session name is required", which the views answer."""

    def __init__(self) -> None:
        super().__init__(max_length=54, trim_whitespace=False, validators=[SESSION_NAME])

    def run_validation(self, data: Any = empty) -> Any:
        if data is empty or data is None or data == "":
            return ""
        return super().run_validation(data)


class SessionCreateSerializer(WahaSerializer):
    # Not trimmed: " alpha" is refused like WAHA does, not silently renamed.
    name = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=54,
                           trim_whitespace=False, validators=[SESSION_NAME])
    config = SessionConfigSerializer(required=False, allow_null=True)
    start = StrictBooleanField(required=False, allow_null=True)


class SessionUpdateSerializer(WahaSerializer):
    """PUT replaces the whole config, so `config` must be given: a body without it (`{}`, a
    misspelt key) would wipe webhooks, metadata and proxy by mistake. `null` clears on purpose."""

    accepted_fields = ("name", "start", "stop")

    config = SessionConfigSerializer(
        allow_null=True,
        error_messages={"required": "required: the whole config is replaced (null clears it)"},
    )

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(data, Mapping) and "config" not in data and isinstance(exc.detail, dict):
                # A misspelt config is the likely cause: name what came instead.
                for name in self.unknown_fields(data):
                    exc.detail.setdefault(name, [ErrorDetail("unknown field")])
            raise


class SessionStartLegacySerializer(WahaSerializer):
    name = LegacyNameField()
    config = SessionConfigSerializer(required=False, allow_null=True)


class SessionStopLegacySerializer(WahaSerializer):
    name = LegacyNameField()
    logout = StrictBooleanField(required=False, allow_null=True)


class SessionLogoutLegacySerializer(WahaSerializer):
    name = LegacyNameField()


class RequestCodeSerializer(WahaSerializer):
    # Not trimmed: the schema's pattern is exactly what is accepted.
    phoneNumber = StrictCharField(max_length=32, trim_whitespace=False,
                                  validators=[PhoneNumber(PHONE_NUMBER_RE)],
                                  help_text="International form, digits only: 12132132130")
    method = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=16)

    def validate_phoneNumber(self, value: str) -> str:
        return value.removeprefix("+")


# --- answers ---------------------------------------------------------------------------------
class MeSerializer(serializers.Serializer):
    id = serializers.CharField()
    pushName = serializers.CharField(allow_null=True, required=False)
    lid = serializers.CharField(allow_null=True, required=False)
    jid = serializers.CharField(allow_null=True, required=False)


def _stopped(session: Session) -> bool:
    return session.display_status == SessionStatus.STOPPED


class TimestampsSerializer(serializers.Serializer):
    activity = serializers.SerializerMethodField()

    def get_activity(self, session: Session) -> int | None:
        return None if _stopped(session) else ms(session.status_changed_at)


class EngineInfoSerializer(serializers.Serializer):
    """The engine that runs the session, and what it last saw."""

    engine = serializers.SerializerMethodField()
    driver = serializers.SerializerMethodField()  # the context's "driver": get_engine().name
    worker = OptionalCharField(source="owner")
    state = serializers.CharField(source="status")
    lastError = OptionalCharField(source="last_error")

    def get_engine(self, session: Session) -> str:
        return ENGINE_LABEL

    def get_driver(self, session: Session) -> str:
        return self.context["driver"]


def echoed_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A session's config as answers show it: null when empty, and a `noweb` block with WAHA's
    defaults filled in (`markOnline` true; a store's `enabled` and `fullSync` false), which
    WAHA's clients require. The row keeps the config as it was sent."""
    if not config:
        return None
    noweb = config.get("noweb")
    if not isinstance(noweb, dict):
        return config
    filled = dict(noweb)
    if filled.get("markOnline") is None:
        filled["markOnline"] = True
    store = filled.get("store")
    if isinstance(store, dict):
        filled["store"] = {**store, "enabled": bool(store.get("enabled")),
                           "fullSync": bool(store.get("fullSync"))}
    return {**config, "noweb": filled}


def assigned_worker(session: Shown, now: datetime | None = None) -> str | None:
    """The engine process that owns the session, while its lease is live."""
    return session.owner if session.lease_is_live(now) else None


class ConfigField(serializers.JSONField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value: Any) -> Any:
        return echoed_config(value)


# The statuses as plain strings, for the comparisons every row of a long list makes.
STOPPED, WORKING = SessionStatus.STOPPED.value, SessionStatus.WORKING.value


def session_info(session: Session | Listed, now: datetime | None = None) -> dict[str, Any]:
    """A session as WAHA answers it: what `SessionInfoSerializer`'s fields render, written out.
    The list answers thousands of sessions, and DRF's field-by-field path costs ten times as
    much. A list's rows are seen at one moment (`now`)."""
    status = session.display_status
    stopped = status == STOPPED
    return {
        "name": session.name,
        "status": status,
        "config": echoed_config(session.config),
        "me": None if stopped else session.me,
        "assignedWorker": assigned_worker(session, now),
        "presence": "online" if status == WORKING else None,
        "timestamps": {"activity": None if stopped else ms(session.status_changed_at)},
    }


class SessionInfoListSerializer(serializers.ListSerializer):
    """Many sessions, each by `session_info`, all at the context's `now`."""

    def to_representation(self, data: Any) -> list[Any]:
        now = self.context.get("now") or timezone.now()
        return [session_info(session, now) for session in data]


class SessionInfoSerializer(serializers.Serializer):
    """A session as WAHA answers it; a stopped one shows no account, presence or activity.

    The fields below are its schema; `to_representation` is `session_info`.
    `render_by_fields` is DRF's field-by-field path, which tests/api/test_answer_schemas.py
    holds equal to it."""

    name = serializers.CharField()
    status = serializers.ChoiceField(choices=SessionStatus.choices, source="display_status")
    config = ConfigField()
    me = serializers.SerializerMethodField()
    assignedWorker = serializers.SerializerMethodField(
        help_text="The id of the engine process that runs the session, or null")
    presence = serializers.SerializerMethodField()
    timestamps = TimestampsSerializer(source="*")

    class Meta:
        list_serializer_class = SessionInfoListSerializer

    @extend_schema_field(MeSerializer(allow_null=True))
    def get_me(self, session: Session) -> dict[str, Any] | None:
        return None if _stopped(session) else session.me

    def get_assignedWorker(self, session: Session) -> str | None:
        return assigned_worker(session)

    def get_presence(self, session: Session) -> str | None:
        return "online" if session.display_status == SessionStatus.WORKING else None

    def to_representation(self, session: Session | Listed) -> dict[str, Any]:
        return session_info(session, self.context.get("now"))

    def render_by_fields(self, session: Session) -> dict[str, Any]:
        return dict(super().to_representation(session))


class SessionDetailSerializer(SessionInfoSerializer):
    """A session as WAHA answers it, with the engine that runs it."""

    engine = EngineInfoSerializer(source="*")

    def to_representation(self, session: Session | Listed) -> dict[str, Any]:
        """Written out as the info is (reaching `self.fields` copies every declared field).
        One session's answer: its row, never a list's plain values."""
        assert isinstance(session, Session)
        return {**super().to_representation(session), "engine": {
            "engine": ENGINE_LABEL,
            "driver": self.context["driver"],
            "worker": str(session.owner) if session.owner else None,
            "state": str(session.status),
            "lastError": str(session.last_error) if session.last_error else None,
        }}


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


# --- the profile of a session's account ---------------------------------------------------------
# WhatsApp's own limits: a name of at most 25 characters, an About text of at most 139.
PROFILE_NAME_MAX = 25
PROFILE_STATUS_MAX = 139


class ProfileNameSerializer(WahaSerializer):
    name = StrictCharField(max_length=PROFILE_NAME_MAX)


class ProfileStatusSerializer(WahaSerializer):
    status = StrictCharField(max_length=PROFILE_STATUS_MAX)


class PictureFileSerializer(WireNames, WahaSerializer):
    """WAHA's file: `{mimetype, data}` (base64) or `{url}` (mimetype optional); checked and made
    the JPEG WhatsApp takes by `sessions_app.pictures`, so `validated_data` is that JPEG."""

    mimetype = serializers.ChoiceField(choices=sorted(pictures.TYPES), required=False,
                                       allow_null=True)
    filename = StrictCharField(required=False, allow_null=True, allow_blank=True,
                               max_length=255)
    data_ = StrictCharField(required=False, allow_null=True, trim_whitespace=False)
    url = serializers.URLField(required=False, allow_null=True, max_length=2048)

    def validate_url(self, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("must be an http or https URL")
        return value

    def validate(self, attrs: dict[str, Any]) -> Any:
        data, url = attrs.get("data"), attrs.get("url")
        if (data is None) == (url is None):
            raise serializers.ValidationError("give either data (base64) or url")
        if data is not None and attrs.get("mimetype") is None:
            raise serializers.ValidationError({"mimetype": ["is required with data"]})
        try:
            return pictures.prepared(attrs)
        except pictures.PictureRejected as exc:
            raise serializers.ValidationError({exc.field: [exc.reason]}) from None


class ProfilePictureSerializer(WahaSerializer):
    file = PictureFileSerializer()


class ProfileSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The account, e.g. 11111111111@c.us")
    name = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="The About text")
    picture = serializers.CharField(allow_null=True, help_text="A URL, or null")


class ResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
