"""Routes that take their session from the body (`sendText`, the deprecated lifecycle routes):
a body that is not a JSON object is a 400 naming `body` for a session key as for the admin,
not a guess at the session it names."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from sessions_app import access
from sessions_app.models import Session

from ..conftest import API_KEY

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def session_key(transactional_db: None) -> str:
    def make() -> str:
        Session.objects.create_stopped(name="default", config={}, should_run=False, generation=0)
        return access.create_key(is_admin=False, session="default", is_active=True,
                                 actions={"delete": True})[1]

    return await database_sync_to_async(make)()


@pytest.mark.parametrize("path", ["/api/sendText", "/api/sessions/start", "/api/sessions/stop",
                                  "/api/sessions/logout"])
@pytest.mark.parametrize("body", [b"[]", b"null", b'"default"'])
async def test_a_body_that_is_not_an_object_is_a_400_naming_body_for_every_key(
    keyless, session_key, path, body
):
    for key in (API_KEY, session_key):
        response = await keyless.post(path, content=body, headers={
            "X-Api-Key": key, "Content-Type": "application/json"})

        assert response.status_code == 400, (key, response.text)
        assert response.json()["message"][0].startswith("body: must be a JSON object"), \
            response.json()
