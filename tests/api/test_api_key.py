"""The API key (API.md, Security): how it is configured and which requests must carry it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from waha_project.auth import resolve_api_key

from ..conftest import API_KEY

UNAUTHORIZED = {"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def anonymous(transactional_db: None) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI application, called without any key."""
    from waha_project.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 timeout=30) as client:
        yield client


# --- resolve_api_key ---------------------------------------------------------------------------
def test_a_plain_key_matches_only_itself():
    key = resolve_api_key("s3cret-key-0042", no_api_key=False)

    assert key.required
    assert key.generated is None
    assert key.matches("s3cret-key-0042")
    assert not key.matches("s3cret-key-0043")
    assert not key.matches("S3CRET-KEY-0042")
    assert not key.matches("")
    assert not key.matches(None)


def test_a_sha512_key_matches_the_plain_key_it_was_made_from():
    hexdigest = hashlib.sha512(b"s3cret-key-0042").hexdigest()

    key = resolve_api_key(f"sha512:{hexdigest}", no_api_key=False)

    assert key.required
    assert key.matches("s3cret-key-0042")
    assert not key.matches(hexdigest)
    assert not key.matches(f"sha512:{hexdigest}")


def test_the_sha512_prefix_and_hex_are_case_insensitive():
    hexdigest = hashlib.sha512(b"s3cret-key-0042").hexdigest().upper()

    key = resolve_api_key(f"SHA512:{hexdigest}", no_api_key=False)

    assert key.matches("s3cret-key-0042")


@pytest.mark.parametrize("raw", ["sha512:not-hex", "sha512:abcd", "sha512:",
                                 "sha512:" + "a" * 130])
def test_a_bad_sha512_value_is_refused_naming_waha_api_key(raw):
    with pytest.raises(ImproperlyConfigured, match="WAHA_API_KEY"):
        resolve_api_key(raw, no_api_key=False)


@pytest.mark.parametrize("weak", ["", "admin", "waha", "123", "321", "ADMIN", " waha "])
def test_a_weak_key_is_replaced_by_a_generated_one(weak):
    key = resolve_api_key(weak, no_api_key=False)

    assert key.required
    assert key.generated is not None
    assert len(key.generated) >= 32
    assert key.matches(key.generated)
    assert not key.matches(weak)
    assert not key.matches(weak.strip())


def test_each_generated_key_is_different():
    first = resolve_api_key("", no_api_key=False).generated
    second = resolve_api_key("", no_api_key=False).generated

    assert first != second


def test_no_api_key_opens_the_api_on_purpose():
    key = resolve_api_key("", no_api_key=True)

    assert not key.required
    assert key.generated is None
    assert key.matches(None)


# --- the key on requests ------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions"),
    ("GET", "/api/sessions/alpha"),
    ("PUT", "/api/sessions/alpha"),
    ("DELETE", "/api/sessions/alpha"),
    ("POST", "/api/sessions/alpha/start"),
    ("POST", "/api/sessions/alpha/stop"),
    ("POST", "/api/sessions/alpha/restart"),
    ("POST", "/api/sessions/alpha/logout"),
    ("GET", "/api/sessions/alpha/me"),
    ("POST", "/api/sessions/start"),
    ("POST", "/api/sessions/stop"),
    ("POST", "/api/sessions/logout"),
    ("GET", "/api/alpha/auth/qr"),
    ("POST", "/api/alpha/auth/request-code"),
    ("GET", "/api/server/version"),
    ("GET", "/api/server/status"),
    ("GET", "/api/no-such-route"),
])
async def test_every_api_route_needs_the_key(anonymous, method, path):
    response = await anonymous.request(method, path, json={"name": "alpha"}
                                       if method in {"POST", "PUT"} else None)

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


async def test_a_request_without_a_key_changes_nothing(anonymous):
    from sessions_app.models import Session

    response = await anonymous.post("/api/sessions", json={"name": "alpha"})

    assert response.status_code == 401
    assert await Session.objects.acount() == 0


async def test_a_wrong_key_in_the_header_answers_401(anonymous):
    response = await anonymous.get("/api/sessions", headers={"X-Api-Key": "wrong-key"})

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


async def test_the_key_in_the_header_is_accepted(anonymous):
    response = await anonymous.get("/api/sessions", headers={"X-Api-Key": API_KEY})

    assert response.status_code == 200
    assert response.json() == []


async def test_the_key_in_the_x_api_key_query_is_accepted(anonymous):
    response = await anonymous.get("/api/sessions", params={"x-api-key": API_KEY})

    assert response.status_code == 200


async def test_a_wrong_key_in_the_query_answers_401(anonymous):
    response = await anonymous.get("/api/sessions", params={"x-api-key": "wrong-key"})

    assert response.status_code == 401


async def test_a_sha512_configured_key_accepts_the_plain_key(anonymous, settings):
    hexdigest = hashlib.sha512(b"another-s3cret").hexdigest()
    settings.API_KEY = resolve_api_key(f"sha512:{hexdigest}", no_api_key=False)

    plain = await anonymous.get("/api/sessions", headers={"X-Api-Key": "another-s3cret"})
    digest = await anonymous.get("/api/sessions", headers={"X-Api-Key": hexdigest})

    assert plain.status_code == 200
    assert digest.status_code == 401


@pytest.mark.parametrize("weak", ["", "admin", "waha", "123", "321"])
async def test_a_weak_key_is_refused_and_the_generated_one_works(anonymous, settings, weak):
    settings.API_KEY = resolve_api_key(weak, no_api_key=False)

    refused = await anonymous.get("/api/sessions", headers={"X-Api-Key": weak})
    accepted = await anonymous.get("/api/sessions",
                                   headers={"X-Api-Key": settings.API_KEY.generated})

    assert refused.status_code == 401
    assert accepted.status_code == 200


async def test_no_api_key_lets_every_request_in(anonymous, settings):
    settings.API_KEY = resolve_api_key("", no_api_key=True)

    response = await anonymous.get("/api/sessions")

    assert response.status_code == 200


async def test_excluded_paths_skip_the_key(anonymous, settings):
    settings.API_KEY_EXCLUDE_PATHS = ["api/server/version"]

    excluded = await anonymous.get("/api/server/version")
    other = await anonymous.get("/api/server/status")

    assert excluded.status_code == 200
    assert other.status_code == 401


@pytest.mark.parametrize(("path", "status"), [
    ("/ping", 200),
    ("/health", 503),  # no engine runs here: answered, not refused
])
async def test_ping_and_health_need_no_key(anonymous, path, status):
    response = await anonymous.get(path)

    assert response.status_code == status
    assert "statusCode" not in response.json()


# --- the environment at start-up ------------------------------------------------------------------
def django_settings_in_a_new_process(tmp_path: Path, code: str,
                                     **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("WAHA_", "WHATSAPP_", "DJANGO_"))}
    clean.update(DJANGO_SETTINGS_MODULE="waha_project.settings",
                 WAHA_LOCAL_STORE_BASE_DIR=str(tmp_path), **env)
    script = "import django; django.setup(); from django.conf import settings; " + code
    return subprocess.run([sys.executable, "-c", script], env=clean, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_a_bad_sha512_key_in_the_environment_stops_start_up(tmp_path):
    result = django_settings_in_a_new_process(tmp_path, "pass", WAHA_API_KEY="sha512:xyz")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "WAHA_API_KEY" in result.stderr


def test_the_environment_sets_the_key_and_the_excluded_paths(tmp_path):
    result = django_settings_in_a_new_process(
        tmp_path,
        "print(settings.API_KEY.matches('env-s3cret'), settings.API_KEY.generated, "
        "settings.API_KEY_EXCLUDE_PATHS)",
        WAHA_API_KEY="env-s3cret",
        WHATSAPP_API_KEY_EXCLUDE_PATH="/ping/, health,api/server/version",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True None ['ping', 'health', 'api/server/version']"


def test_an_unset_key_is_generated_at_start_up(tmp_path):
    result = django_settings_in_a_new_process(
        tmp_path, "print(settings.API_KEY.required, bool(settings.API_KEY.generated))",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True"
