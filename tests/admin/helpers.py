"""Builders for the admin tests: a session whose config holds every kind of secret, its history,
its webhook deliveries with attempts, and an engine process."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from sessions_app import services
from sessions_app.engines import get_engine
from sessions_app.models import EngineProcess, Session, SessionStatus, SessionStatusChange
from webhooks_app.models import Delivery, DeliveryAttempt, DeliveryStatus

HMAC_KEY = "super-secret-hmac"
PROXY_PASSWORD = "proxy-pass-123"
QR_VALUE = "2@qr-credential-RmFrZVFSVmFsdWU,abc123"
HEADER_TOKEN = "Bearer header-token-456"
URL_PASSWORD = "url-pass-789"
SECRETS = (HMAC_KEY, PROXY_PASSWORD, QR_VALUE, HEADER_TOKEN, URL_PASSWORD)

PHONE = "4915112345678"
ME = {"id": f"{PHONE}@c.us", "pushName": "Ana Support"}
HOOK_URL = f"https://hook-user:{URL_PASSWORD}@hooks.example.com/whatsapp"
HOOK_URL_SHOWN = "https://hook-user:••••••@hooks.example.com/whatsapp"
WORKER = "engine-a"


def secret_config(**metadata: str) -> dict[str, Any]:
    return {
        "metadata": metadata or {"customer": "Acme Ltd"},
        "webhooks": [{
            "url": HOOK_URL,
            "events": ["message", "session.status"],
            "hmac": {"key": HMAC_KEY},
            "customHeaders": [{"name": "Authorization", "value": HEADER_TOKEN}],
        }],
        "proxy": {"server": "proxy.example.com:3128", "username": "bob",
                  "password": PROXY_PASSWORD},
    }


def make_session(name: str = "alpha", config: dict[str, Any] | None = None) -> Session:
    """A stopped session, created as the API creates one (webhook rows included)."""
    return services.create_session(name, secret_config() if config is None else config,
                                   start=False)


def observe(session: Session, status: str, **fields: Any) -> Session:
    """Write observed state as an engine would: the session runs and the engine caught up."""
    Session.objects.filter(pk=session.pk).update(
        status=status, should_run=True, generation=1, applied_generation=1,
        status_changed_at=timezone.now(), **fields,
    )
    SessionStatusChange.objects.create(session=session, status=status, reason="seen by the engine")
    session.refresh_from_db()
    return session


def working_session(name: str = "alpha", config: dict[str, Any] | None = None) -> Session:
    session = observe(make_session(name, config), SessionStatus.WORKING, me=ME, owner=WORKER,
                      lease_expires_at=timezone.now() + timedelta(seconds=30))
    return session


def scanning_session(name: str = "beta") -> Session:
    """Waiting for a QR scan: the row holds the current QR value, a credential."""
    return observe(make_session(name), SessionStatus.SCAN_QR_CODE, qr_value=QR_VALUE,
                   qr_expires_at=timezone.now() + timedelta(seconds=60))


def give_auth_state(session: Session) -> Any:
    """Auth state on disk for the fake engine, so a test can see it wiped."""
    path = get_engine().auth_path(services.spec_of(session))  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


def make_delivery(session: Session, *, event: str = "message", event_id: str = "evt_01jtest",
                  status: str = DeliveryStatus.FAILED) -> Delivery:
    hook = session.webhooks.first()
    envelope = {"id": event_id, "timestamp": 1_741_249_702_485, "event": event,
                "session": session.name, "metadata": session.metadata, "payload": {}}
    delivery = Delivery.objects.create(
        webhook=hook, session=session, session_name=session.name, event=event,
        event_id=event_id,
        event_timestamp=envelope["timestamp"], body=json.dumps(envelope), url=HOOK_URL,
        hmac_key=HMAC_KEY, custom_headers=[{"name": "Authorization", "value": HEADER_TOKEN}],
        retry_policy="constant", retry_delay_seconds=2, retry_attempts=1, status=status,
        attempts=2, last_status_code=500, last_error="HTTP 500",
    )
    for number in (1, 2):
        DeliveryAttempt.objects.create(
            delivery=delivery, number=number, started_at=timezone.now(), status_code=500,
            duration_ms=42, response_body="oops " + "x" * 1_000, error="HTTP 500",
        )
    return delivery


def make_engine_process(worker_id: str = WORKER) -> EngineProcess:
    return EngineProcess.objects.create(worker_id=worker_id, engine="fake",
                                        hostname="host-1", pid=4242)


def admin_url(model: type[Any], view: str, *args: Any) -> str:
    """Keys quoted as the admin's own links are (a key id holds `_40`, which means `@`)."""
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}",
                   args=[quote(arg) for arg in args])
