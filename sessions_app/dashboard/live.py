"""The dashboard's websocket: a connecting page's first state, and who may connect.

The frames themselves, and those every publication carries, are built in `sessions_app.fanout`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from .. import groups
from ..api.serializers import SESSION_NAME_RE
from ..fanout import qr_frame, status_frame
from ..models import Session

SNAPSHOT_LIMIT = 500
# Close codes: not logged in (the page sends the user to the login form), bad request.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_POLICY = 1008


def snapshot(target: str, readable: list[str] | None = None) -> list[dict[str, Any]]:
    """Current status (and QR code) of one session or all (of `readable`, when given), so a
    page that connects after an event was published still shows the latest state."""
    rows = (Session.objects.all() if target == groups.ALL_SESSIONS
            else Session.objects.filter(name=target))
    if readable is not None:
        rows = rows.filter(name__in=readable)
    frames: list[dict[str, Any]] = []
    for session in rows[:SNAPSHOT_LIMIT]:
        frames.append(status_frame(session))
        qr = qr_frame(session)
        if qr is not None:
            frames.append(qr)
    return frames


# --- who may connect ---------------------------------------------------------------------------
def target_of(query: dict[str, list[str]]) -> str | None:
    """`session=<name>` or `*` (the default); None for a name no session can have."""
    target = (query.get("session") or [groups.ALL_SESSIONS])[0] or groups.ALL_SESSIONS
    if target == groups.ALL_SESSIONS:
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
