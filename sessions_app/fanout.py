"""What one publication sends to the websockets, prepared once for all their subscribers.

`events` builds the group message when an event is published: the envelope serialised once
(what `/ws` forwards) and the dashboard's frames built once. Consumers only forward that text,
so a hundred open sockets cost a hundred writes, not a hundred renders and database reads.

A new QR code travels as its value, and the process that serves the sockets draws its frame
the first time a socket needs it (`qr_frame_text`, kept for the others): publishing costs no
drawing, a code nobody watches is never drawn, and fifty pages get one drawing.

Dashboard frames (JSON text):
- {"type": "status", "session", "status", "me", "changedAt", "statuses", "lastError"}
- {"type": "qr", "session", "dataUrl", "expiresAt" (ms), "expiresIn" (seconds)}
- {"type": "event", "envelope"}: every envelope, for the event monitor (asked with events=1)
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from waha_project.timestamps import ms

from . import groups
from .models import Session, SessionStatus
from .qr import png as qr_png

FRAME_STATUS = "status"
FRAME_QR = "qr"
FRAME_EVENT = "event"
STATUS_EVENT = "session.status"
# A status frame shows the row's last error, and a QR frame follows it, for these statuses.
READS_THE_ROW = (SessionStatus.SCAN_QR_CODE, SessionStatus.FAILED)


# --- frames of a row (a page's first state, a connecting socket's snapshot) -------------------
def qr_data_url(value: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(value)).decode("ascii")


def qr_frame(session: Session) -> dict[str, Any] | None:
    """The session's current QR code, if it shows one."""
    code = _shown_qr(session)
    return None if code is None else _qr_frame(session.name, *code)


def status_frame(session: Session) -> dict[str, Any]:
    """The session as it is now."""
    status = session.display_status
    return {
        "type": FRAME_STATUS,
        "session": session.name,
        "status": status,
        "me": None if status == SessionStatus.STOPPED else session.me,
        "changedAt": ms(session.status_changed_at),
        "statuses": session.recent_statuses(),
        "lastError": session.last_error or None,
    }


def _shown_qr(session: Session) -> tuple[str, datetime] | None:
    if (session.display_status != SessionStatus.SCAN_QR_CODE or not session.qr_value
            or session.qr_expires_at is None):
        return None
    return session.qr_value, session.qr_expires_at


def _qr_frame(name: str, value: str, expires_at: datetime) -> dict[str, Any]:
    return _qr_frame_at(name, value, int(expires_at.timestamp() * 1000))


def _qr_frame_at(name: str, value: str, expires_at_ms: int) -> dict[str, Any]:
    remaining = expires_at_ms / 1000 - timezone.now().timestamp()
    return {
        "type": FRAME_QR,
        "session": name,
        "dataUrl": qr_data_url(value),
        "expiresAt": expires_at_ms,
        "expiresIn": round(max(0.0, remaining), 3),
    }


# --- frames of a publication ----------------------------------------------------------------
@dataclass(frozen=True)
class Shown:
    """What the dashboard shows beside a status event that its envelope does not carry: the
    row's last error and current QR code, as the publishing transaction sees them."""

    last_error: str | None
    qr: tuple[str, datetime] | None  # (value, expiry) while the session shows a code


def shown(session: Session, envelope: dict[str, Any]) -> Shown | None:
    """Taken in the publishing transaction; None when the frames need nothing of the row."""
    if envelope["event"] != STATUS_EVENT or _status_of(envelope) not in READS_THE_ROW:
        return None
    return Shown(last_error=session.last_error or None, qr=_shown_qr(session))


def _status_frame_and_qr(envelope: dict[str, Any], seen: Shown | None,
                         ) -> tuple[dict[str, Any] | None, tuple[str, datetime] | None]:
    """A status event's dashboard frame, and the QR code it shows (value, expiry) if any: the
    frame is sent as prepared, the code drawn where it is shown."""
    if envelope.get("event") != STATUS_EVENT:
        return None, None
    status = _status_of(envelope)
    statuses = (envelope.get("payload") or {}).get("statuses") or []
    frame: dict[str, Any] = {
        "type": FRAME_STATUS,
        "session": envelope["session"],
        "status": status,
        "me": None if status == SessionStatus.STOPPED else envelope.get("me"),
        "changedAt": statuses[-1]["timestamp"] if statuses else envelope.get("timestamp"),
        "statuses": statuses,
        "lastError": None,
    }
    qr = None
    if status in READS_THE_ROW and seen is not None:
        frame["lastError"] = seen.last_error
        if seen.qr is not None and status == SessionStatus.SCAN_QR_CODE:
            qr = seen.qr
    return frame, qr


def _status_of(envelope: dict[str, Any]) -> Any:
    return (envelope.get("payload") or {}).get("status")


def item(envelope: dict[str, Any], seen: Shown | None, text: str) -> dict[str, Any]:
    """One event of a channel-layer message: only prepared text, which every subscriber
    forwards as it is (a layer copies or serialises the message per subscriber). `text` is the
    envelope's (`webhooks_app.services.serialised`), made once by the publisher."""
    frame, qr = _status_frame_and_qr(envelope, seen)
    return {
        "event": envelope["event"],
        "text": text,  # /ws
        "frames": [] if frame is None else [json.dumps(frame)],  # dashboard
        # A QR code to show after them, drawn where it is shown: [session, value, expiry ms].
        "qr": None if qr is None else [envelope["session"], qr[0],
                                       int(qr[1].timestamp() * 1000)],
        # json.dumps of {"type": "event", "envelope": envelope}, without serialising it again.
        "event_frame": f'{{"type": "{FRAME_EVENT}", "envelope": {text}}}',
    }


@functools.lru_cache(maxsize=256)
def qr_frame_text(session: str, value: str, expires_at_ms: int) -> str:
    """A publication's QR frame, drawn the first time a socket of this process needs it and
    kept for the others (and for the sessions showing codes meanwhile). It runs on the event
    loop on purpose: its sockets wait for the one drawing instead of each drawing its own."""
    return json.dumps(_qr_frame_at(session, value, expires_at_ms))


class Forwarding(AsyncJsonWebsocketConsumer):
    """A websocket consumer that forwards publications, as `/ws` and the dashboard do.

    Channels closes obsolete database connections before every message it dispatches, a hop to
    its one sync thread; forwarding prepared text touches no database, so a publication skips
    that hop: otherwise a hundred sockets queue a hundred hops on that thread per event.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == groups.EVENT_MESSAGE:
            await self.waha_event(message)
        else:
            await super().dispatch(message)

    async def waha_event(self, message: dict[str, Any]) -> None:
        raise NotImplementedError
