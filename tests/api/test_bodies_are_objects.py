"""Every JSON body the API takes is an object: `null`, an array, a string, a number or a boolean
is a 400 naming the body, and changes nothing. PUT replaces the whole config, so it needs
`config` (null clears it on purpose)."""

from __future__ import annotations

from typing import Any

import pytest

from sessions_app.models import Session

pytestmark = pytest.mark.django_db(transaction=True)

JSON = {"Content-Type": "application/json"}
NOT_OBJECTS = [
    (b"null", "null"),
    (b"[]", "an array"),
    (b'[{"name": "alpha"}]', "an array"),
    (b'"alpha"', "a string"),
    (b"12", "a number"),
    (b"1.5", "a number"),
    (b"true", "a boolean"),
]
ROUTES = [
    ("POST", "/api/sessions"),
    ("PUT", "/api/sessions/alpha"),
    ("POST", "/api/sessions/start"),
    ("POST", "/api/sessions/stop"),
    ("POST", "/api/sessions/logout"),
    ("POST", "/api/alpha/auth/request-code"),
    ("POST", "/api/sendText"),
]
KEPT = {"metadata": {"kept": "yes"}}


@pytest.fixture
async def alpha(api) -> None:
    response = await api.post("/api/sessions",
                              json={"name": "alpha", "start": False, "config": KEPT})
    assert response.status_code == 201


async def assert_alpha_unchanged() -> None:
    rows = [row async for row in Session.objects.all()]
    assert [(row.name, row.config, row.should_run, row.generation) for row in rows] == [
        ("alpha", KEPT, False, 0)
    ]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(("body", "kind"), NOT_OBJECTS)
async def test_a_body_that_is_not_an_object_answers_400_naming_the_body(
        api, alpha, method, path, body, kind):
    response = await api.request(method, path, content=body, headers=JSON)

    assert response.status_code == 400, response.text
    assert response.json() == {"statusCode": 400,
                               "message": [f"body: must be a JSON object, got {kind}"],
                               "error": "Bad Request"}
    await assert_alpha_unchanged()


async def test_post_sessions_with_a_null_body_creates_nothing(api):
    response = await api.post("/api/sessions", content=b"null", headers=JSON)

    assert response.status_code == 400
    assert not await Session.objects.aexists()


async def test_an_empty_body_is_still_an_empty_object(api):
    response = await api.post("/api/sessions", content=b"", headers=JSON)

    assert response.status_code == 201
    assert response.json()["status"] == "STARTING"


# --- PUT replaces the whole config: it must be given ---------------------------------------------
@pytest.mark.parametrize(("body", "messages"), [
    ({}, ["config: required: the whole config is replaced (null clears it)"]),
    ({"confg": {}}, ["config: required: the whole config is replaced (null clears it)",
                     "confg: unknown field"]),
    ({"name": "alpha", "start": False},
     ["config: required: the whole config is replaced (null clears it)"]),
    ({"Config": {"debug": True}, "webhooks": []},
     ["config: required: the whole config is replaced (null clears it)",
      "Config: unknown field", "webhooks: unknown field"]),
])
async def test_put_without_config_answers_400_and_keeps_the_config(api, alpha, body, messages):
    response = await api.put("/api/sessions/alpha", json=body)

    assert response.status_code == 400
    assert sorted(response.json()["message"]) == sorted(messages)
    await assert_alpha_unchanged()


async def test_put_without_config_in_strict_mode_names_the_unknown_field(api, alpha, settings):
    settings.HTTP_STRICT_MODE = True

    response = await api.put("/api/sessions/alpha", json={"confg": {}})

    assert response.status_code == 400
    assert response.json()["message"] == ["confg: unknown field (WAHA_HTTP_STRICT_MODE is on)"]
    await assert_alpha_unchanged()


async def test_put_with_a_null_config_clears_it_on_purpose(api, alpha):
    response = await api.put("/api/sessions/alpha", json={"config": None})

    assert response.status_code == 200
    assert response.json()["config"] is None
    assert (await Session.objects.aget(name="alpha")).config == {}


@pytest.mark.parametrize("config", [{}, {"debug": True}])
async def test_put_with_a_config_replaces_it(api, alpha, config: dict[str, Any]):
    response = await api.put("/api/sessions/alpha", json={"config": config})

    assert response.status_code == 200
    assert (await Session.objects.aget(name="alpha")).config == config
