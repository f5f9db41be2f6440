"""What the dashboard's websocket sends the browser, built from event envelopes and rows.

Frames (JSON text):
- {"type": "status", "session", "status", "me", "changedAt", "statuses", "lastError"}
- {"type": "qr", "session", "dataUrl", "expiresAt" (ms), "expiresIn" (seconds)}
- {"type": "event", "envelope"}: every envelope, for the event monitor (asked with events=1)
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from waha_project.timestamps import ms

from ..api.serializers import SESSION_NAME_RE
from ..models import Session, SessionStatus
from ..qr import png as qr_png

FRAME_STATUS = "status"
FRAME_QR = "qr"
FRAME_EVENT = "event"
ALL_SESSIONS = "*"
SNAPSHOT_LIMIT = 500
# Close codes: not logged in (the page sends the user to the login form), bad request.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_POLICY = 1008


def qr_data_url(value: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(value)).decode("ascii")


def qr_frame(session: Session) -> dict[str, Any] | None:
    """The session's current QR code, if it shows one."""
    if (session.display_status != SessionStatus.SCAN_QR_CODE or not session.qr_value
            or session.qr_expires_at is None):
        return None
    remaining = (session.qr_expires_at - timezone.now()).total_seconds()
    return {
        "type": FRAME_QR,
        "session": session.name,
        "dataUrl": qr_data_url(session.qr_value),
        "expiresAt": ms(session.qr_expires_at),
        "expiresIn": round(max(0.0, remaining), 3),
    }


def status_frame(session: Session) -> dict[str, Any]:
    """The session as it is now (sent when a page connects)."""
    status = session.display_status
    return {
        "type": FRAME_STATUS,
        "session": session.name,
        "status": status,
        "me": None if status == SessionStatus.STOPPED else session.me,
        "changedAt": ms(session.status_changed_at),
        "statuses": session.recent_statuses(3),
        "lastError": session.last_error or None,
    }


def snapshot(target: str) -> list[dict[str, Any]]:
    """Current status (and QR code) of one session or all, so a page that connects after an
    event was published still shows the latest state."""
    rows = (Session.objects.all() if target == ALL_SESSIONS
            else Session.objects.filter(name=target))
    frames: list[dict[str, Any]] = []
    for session in rows[:SNAPSHOT_LIMIT]:
        frames.append(status_frame(session))
        qr = qr_frame(session)
        if qr is not None:
            frames.append(qr)
    return frames


async def frames_for(envelope: dict[str, Any], *, with_events: bool) -> list[dict[str, Any]]:
    """The frames one event envelope becomes. Reads the row only for a new QR code or a
    failure (the image and the reason are not in the envelope)."""
    frames: list[dict[str, Any]] = []
    if envelope.get("event") == "session.status":
        payload = envelope.get("payload") or {}
        status = payload.get("status")
        statuses = payload.get("statuses") or []
        frame: dict[str, Any] = {
            "type": FRAME_STATUS,
            "session": envelope["session"],
            "status": status,
            "me": None if status == SessionStatus.STOPPED else envelope.get("me"),
            "changedAt": statuses[-1]["timestamp"] if statuses else envelope.get("timestamp"),
            "statuses": statuses,
            "lastError": None,
        }
        frames.append(frame)
        if status in (SessionStatus.SCAN_QR_CODE, SessionStatus.FAILED):
            found, last_error, qr = await _current(envelope["session"])
            if found:
                frame["lastError"] = last_error
            if qr is not None and status == SessionStatus.SCAN_QR_CODE:
                frames.append(qr)
    if with_events:
        frames.append({"type": FRAME_EVENT, "envelope": envelope})
    return frames


@database_sync_to_async
def _current(name: str) -> tuple[bool, str | None, dict[str, Any] | None]:
    """(found, last error, QR frame), read and drawn off the event loop."""
    session = Session.objects.filter(name=name).first()
    if session is None:
        return False, None, None
    return True, session.last_error or None, qr_frame(session)


# --- who may connect ---------------------------------------------------------------------------
def target_of(query: dict[str, list[str]]) -> str | None:
    """`session=<name>` or `*` (the default); None for a name no session can have."""
    target = (query.get("session") or [ALL_SESSIONS])[0] or ALL_SESSIONS
    if target == ALL_SESSIONS:
        return target
    if len(target) > 54 or not SESSION_NAME_RE.fullmatch(target):
        return None
    return target


def same_origin(scope: dict[str, Any]) -> bool:
    """A browser always sends Origin on a websocket; it must be this server (or a trusted
    origin), so another site the user visits cannot read the stream with their cookie."""
    headers = {name.lower(): value for name, value in scope.get("headers", [])}
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin:
        return True  # not a browser
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = headers.get(b"host", b"").decode("latin-1")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()
