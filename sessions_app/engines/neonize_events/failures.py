"""Connection-ending events (logged out, banned, replaced, outdated, refused) → a reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from neonize.events import (
    ClientOutdatedEv,
    ConnectFailureEv,
    LoggedOutEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import ConnectFailureReason, TemporaryBan

# Written to follow "Logged out: " or "Connection failed: ".
_FAILURE_TEXTS = {
    ConnectFailureReason.GENERIC: "connection failed",
    ConnectFailureReason.LOGGED_OUT: "logged out from the phone",
    ConnectFailureReason.TEMP_BANNED: "temporarily banned by WhatsApp",
    ConnectFailureReason.MAIN_DEVICE_GONE: "the phone's WhatsApp account is gone",
    ConnectFailureReason.UNKNOWN_LOGOUT: "logged out for an unknown reason",
    ConnectFailureReason.CLIENT_OUTDATED: "this WhatsApp client version is outdated",
    ConnectFailureReason.BAD_USER_AGENT: "WhatsApp refused the client's user agent",
    ConnectFailureReason.INTERNAL_SERVER_ERROR: "WhatsApp had an internal server error",
    ConnectFailureReason.EXPERIMENTAL: "WhatsApp refused an experimental client",
    ConnectFailureReason.SERVICE_UNAVAILABLE: "WhatsApp is unavailable",
}
_LOGOUT_REASONS = (ConnectFailureReason.LOGGED_OUT, ConnectFailureReason.UNKNOWN_LOGOUT)
STREAM_REPLACED = "Stream replaced: this WhatsApp account was opened by another client"
CLIENT_OUTDATED = ("Client outdated: WhatsApp no longer accepts this whatsmeow version "
                   "(update neonize)")


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)


def failure_reason(event: Any) -> str:
    """A human reason for a connection-ending event, kept as the session's last error."""
    try:
        return _failure_reason(event)
    except Exception:
        return type(event).__name__


def _failure_reason(event: Any) -> str:
    kind = type(event)
    if kind is LoggedOutEv:
        name = _enum_name(ConnectFailureReason, event.Reason)
        if event.Reason in _LOGOUT_REASONS:
            text = _capitalized(_FAILURE_TEXTS[event.Reason])
        elif event.Reason == ConnectFailureReason.GENERIC:
            text = "Logged out"
        else:
            text = f"Logged out: {_FAILURE_TEXTS.get(event.Reason, 'unknown reason')}"
        suffix = " while connecting" if event.OnConnect else ""
        return f"{text}{suffix} ({name})"
    if kind is StreamReplacedEv:
        return STREAM_REPLACED
    if kind is TemporaryBanEv:
        code = _enum_name(TemporaryBan.TempBanReason, event.Code)
        expiry = f", expires in {timedelta(seconds=event.Expire)}" if event.Expire > 0 else ""
        return f"Temporarily banned by WhatsApp ({code}){expiry}"
    if kind is ClientOutdatedEv:
        return CLIENT_OUTDATED
    if kind is ConnectFailureEv:
        name = _enum_name(ConnectFailureReason, event.Reason)
        message = f": {event.Message}" if event.Message else ""
        if event.Reason == ConnectFailureReason.GENERIC:
            return f"Connection failed ({name}){message}"
        text = _FAILURE_TEXTS.get(event.Reason, "unknown reason")
        return f"Connection failed: {text} ({name}){message}"
    return kind.__name__
