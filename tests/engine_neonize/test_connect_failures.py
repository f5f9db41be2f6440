"""With the real neonize library: no internet here, so connecting fails at once: a real path."""

from __future__ import annotations

import base64
import threading

import pytest

from sessions_app.engines.neonize_engine import NeonizeClient

from ..conftest import wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def live_threads_of(name: str, uid: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.is_alive() and t.name in {f"neonize-{name}", uid}]


async def test_a_started_session_fails_with_the_dial_error_and_leaves_nothing_running(
        api, neonize_runtime):
    created = await api.post("/api/sessions", json={"name": "offline"})
    assert created.status_code == 201

    info = await wait_status(api, "offline", "FAILED", timeout=15)

    reason = info["engine"]["lastError"]
    assert "failed to dial whatsapp web websocket" in reason
    assert reason.startswith("Could not reach WhatsApp")
    slot = neonize_runtime.slots["offline"]
    client = slot.client
    assert isinstance(client, NeonizeClient)
    await wait_for(lambda: _async(not client.running), 5, "the client thread to end")
    assert live_threads_of("offline", client.spec.uid) == []


async def test_stopping_a_failed_session_ends_its_client_and_keeps_it_stopped(
        api, neonize_runtime):
    await api.post("/api/sessions", json={"name": "offline2"})
    await wait_status(api, "offline2", "FAILED", timeout=15)
    client = neonize_runtime.slots["offline2"].client

    stopped = await api.post("/api/sessions/offline2/stop")

    assert stopped.json()["status"] == "STOPPED"
    # The answer shows the desired state at once; the engine ends the client on its nudge.
    await wait_for(lambda: _async("offline2" not in neonize_runtime.slots), 10,
                   "the engine to end the client")
    await wait_status(api, "offline2", "STOPPED")
    assert isinstance(client, NeonizeClient) and not client.running


async def test_a_session_proxy_receives_connect_with_the_session_credentials(
        api, neonize_runtime, connect_proxy):
    config = {"proxy": {"server": connect_proxy.address(), "username": "alice",
                        "password": "p@ss:word"}}
    await api.post("/api/sessions", json={"name": "proxied", "config": config})

    info = await wait_status(api, "proxied", "FAILED", timeout=15)

    assert connect_proxy.received.is_set()
    request = connect_proxy.requests[0].decode("latin-1")
    assert request.startswith("CONNECT web.whatsapp.com:443 HTTP/1.1\r\n")
    expected = base64.b64encode(b"alice:p@ss:word").decode()
    assert f"Proxy-Authorization: Basic {expected}\r\n" in request
    assert "407" in info["engine"]["lastError"]


async def test_the_global_proxy_is_used_when_the_session_has_none(
        api, neonize_runtime, connect_proxy, settings):
    settings.PROXY_SERVER = connect_proxy.address()
    settings.PROXY_USERNAME = "global-user"
    settings.PROXY_PASSWORD = "global-secret"
    await api.post("/api/sessions", json={"name": "via-global"})

    await wait_status(api, "via-global", "FAILED", timeout=15)

    request = connect_proxy.requests[0].decode("latin-1")
    assert request.startswith("CONNECT web.whatsapp.com:443 ")
    expected = base64.b64encode(b"global-user:global-secret").decode()
    assert f"Proxy-Authorization: Basic {expected}\r\n" in request


async def _async(value: bool) -> bool:
    return value
