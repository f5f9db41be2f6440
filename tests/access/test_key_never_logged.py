"""An API key never reaches a log line (API.md, Security), whether it is sent in the header or
in the query string (`?x-api-key=`, which a logged URL would carry), granted or refused, at
DEBUG: in this process's records as the product's formatters write them, and in the output of a
real `serve`."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from sessions_app import access
from sessions_app.models import Session
from tests.conftest import API_KEY
from tests.observability.conftest import SplitLogServer
from tests.support.live_server import PROJECT_ROOT, LiveServer, clean_environment, free_port
from tests.support.stack import web_argv
from waha_project.logs import JsonFormatter, TextFormatter

pytestmark = pytest.mark.django_db(transaction=True)

LOGGERS = ("", "waha", "django", "django.request", "django.server", "uvicorn",
           "uvicorn.error", "uvicorn.access", "channels")
WRONG_KEY = "key_" + "0123456789abcdef" * 2


def keys() -> tuple[str, str, str]:
    """A key of alpha without `control`, an admin key, and a switched-off key."""
    for name in ("alpha", "beta"):
        Session.objects.create_stopped(name=name, config={}, should_run=False, generation=0)
    session_key = access.create_key(is_admin=False, session="alpha", is_active=True,
                                    actions={"control": False})[1]
    admin_key = access.create_key(is_admin=True, session=None, is_active=True, actions={})[1]
    off_key = access.create_key(is_admin=False, session="alpha", is_active=False, actions={})[1]
    return session_key, admin_key, off_key


# The test's own HTTP client logs the URLs it asks for: those are the caller's lines.
CLIENT_LOGGERS = ("httpx", "httpcore")


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every record of the server side as caplog, the text and the JSON format write it."""
    text, json_ = TextFormatter(), JsonFormatter()
    lines = []
    for record in caplog.records:
        if record.name.split(".")[0] in CLIENT_LOGGERS:
            continue
        lines += [caplog.handler.format(record), record.getMessage(), text.format(record),
                  json_.format(record)]
    return "\n".join(lines)


async def test_no_key_is_logged_at_debug_sent_in_the_header_or_the_query(keyless, caplog):
    from waha_project.asgi import application

    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    session_key, admin_key, off_key = await database_sync_to_async(keys)()
    requests = [
        ("GET", "/api/sessions/alpha"),  # granted
        ("POST", "/api/sessions/alpha/start"),  # 403: no control
        ("GET", "/api/sessions/beta"),  # 404: another session
        ("GET", "/api/server/environment"),  # 403: admin only
        ("GET", "/api/nothing/here/at/all"),  # 404 at the router
        ("GET", "/metrics"),  # 403 from the middleware
    ]
    answers = []
    for key in (session_key, admin_key, off_key, WRONG_KEY):
        for method, path in requests:
            by_header = await keyless.request(method, path, headers={"X-Api-Key": key})
            by_query = await keyless.request(method, f"{path}?x-api-key={key}")
            by_bearer = await keyless.request(method, path,
                                              headers={"Authorization": f"Bearer {key}"})
            answers += [by_header.status_code, by_query.status_code, by_bearer.status_code]
        stream = WebsocketCommunicator(application, f"/ws?x-api-key={key}&session=alpha")
        connected, _ = await stream.connect()
        if connected:
            await stream.disconnect()

    assert {200, 401, 403, 404} <= set(answers)  # granted and refused alike
    assert any(record.name == "django.request" for record in caplog.records)  # 4xx are logged
    text = logged_text(caplog)
    for key in (session_key, admin_key, off_key, WRONG_KEY):
        assert key not in text


async def ws_attempt(base_url: str, key: str) -> None:
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(f"{base_url.replace('http', 'ws')}/ws?x-api-key={key}",
                                       timeout=aiohttp.ClientWSTimeout(ws_close=2)) as ws:
                await ws.close()
        except aiohttp.WSServerHandshakeError:
            pass  # refused: what the wrong key should get


def test_a_real_server_logs_no_key_at_debug(servers: list[LiveServer], tmp_path: Path) -> None:
    server = SplitLogServer(tmp_path / "data", {"WAHA_LOG_LEVEL": "debug"})
    servers.append(server)
    server.start()
    with server.client() as api:
        assert api.post("/api/sessions", json={"name": "alpha", "start": False}).status_code == 201
        made = api.post("/api/keys", json={"isAdmin": False, "session": "alpha", "isActive": True})
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        with httpx.Client(base_url=server.base_url, timeout=30) as anyone:
            for path in ("/api/sessions/alpha", "/api/sessions/alpha/me", "/api/server/status",
                         "/api/sessions/nobody", "/metrics"):
                for sent in (key, WRONG_KEY):
                    anyone.get(path, headers={"X-Api-Key": sent})
                    anyone.get(f"{path}?x-api-key={sent}")
        for sent in (key, WRONG_KEY):
            asyncio.run(ws_attempt(server.base_url, sent))
    assert server.terminate() == 0

    text = server.stderr_path.read_text() + server.log_path.read_text()
    assert "WAHA listening on" in text and " INFO waha" in text  # the output was kept
    for sent in (key, WRONG_KEY, server.api_key):
        assert sent not in text


def test_the_scaled_web_roles_access_lines_carry_no_key(tmp_path: Path) -> None:
    """The Procfile's web command writes an access line per request, without the query string."""
    env = clean_environment({"WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path), "WAHA_API_KEY": API_KEY,
                             "WAHA_LOG_LEVEL": "debug"})
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=PROJECT_ROOT,
                              env=env, capture_output=True, text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    output = tmp_path / "web.log"
    with output.open("wb") as sink:
        web = subprocess.Popen(web_argv("127.0.0.1", port), cwd=PROJECT_ROOT, env=env,
                               stdout=sink, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as anyone:
            wait_for_ping(anyone)
            for sent in (API_KEY, WRONG_KEY):
                anyone.get(f"/api/sessions?all=true&x-api-key={sent}")
                anyone.get("/api/sessions", headers={"X-Api-Key": sent})
            asyncio.run(ws_attempt(f"http://127.0.0.1:{port}", WRONG_KEY))
    finally:
        web.terminate()
        web.wait(30)

    text = output.read_text()
    assert '"GET /api/sessions HTTP/1.1" 200' in text  # the access lines were written
    assert '"GET /api/sessions HTTP/1.1" 401' in text
    for sent in (API_KEY, WRONG_KEY):
        assert sent not in text


def wait_for_ping(client: httpx.Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/ping").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the web role did not answer /ping")


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.kill()
