"""The forms `WAHA_API_KEY` takes (API.md, Security) beside stored keys: given as
`sha512:<hex>` it is still the admin key, and with `WAHA_NO_API_KEY=true` a stored session key
still reaches only its session (the API is open, but a key that names a session is its own)."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from channels.db import database_sync_to_async

from sessions_app import access
from sessions_app.models import Session
from waha_project.auth import resolve_api_key

pytestmark = pytest.mark.django_db(transaction=True)

PLAIN = "env-s3cret-key-77"


@pytest.fixture
async def alpha_key(transactional_db: None) -> str:
    def make() -> str:
        for name in ("alpha", "beta"):
            Session.objects.create_stopped(name=name, config={}, should_run=False,
                                           generation=0)
        return access.create_key(is_admin=False, session="alpha", is_active=True,
                                 actions={})[1]

    return await database_sync_to_async(make)()


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [session["name"] for session in response.json()]


async def test_a_sha512_env_key_is_the_admin_and_stored_keys_keep_their_session(
    keyless, settings, alpha_key
):
    settings.API_KEY = resolve_api_key(f"sha512:{hashlib.sha512(PLAIN.encode()).hexdigest()}",
                                       no_api_key=False)

    admin = await keyless.get("/api/sessions?all=true", headers={"X-Api-Key": PLAIN})
    environment = await keyless.get("/api/server/environment", headers={"X-Api-Key": PLAIN})
    own = await keyless.get("/api/sessions?all=true", headers={"X-Api-Key": alpha_key})
    other = await keyless.get("/api/sessions/beta", headers={"X-Api-Key": alpha_key})

    assert names(admin) == ["alpha", "beta"]
    assert environment.status_code == 200
    assert names(own) == ["alpha"]
    assert other.status_code == 404


async def test_with_no_api_key_a_stored_session_key_still_reaches_only_its_session(
    keyless, settings, alpha_key
):
    settings.API_KEY = resolve_api_key("", no_api_key=True)

    anyone = await keyless.get("/api/sessions?all=true")
    own = await keyless.get("/api/sessions?all=true", headers={"X-Api-Key": alpha_key})
    other = await keyless.get("/api/sessions/beta", headers={"X-Api-Key": alpha_key})
    keys = await keyless.get("/api/keys", headers={"X-Api-Key": alpha_key})

    assert names(anyone) == ["alpha", "beta"]
    assert names(own) == ["alpha"]
    assert other.status_code == 404
    assert keys.status_code == 403
