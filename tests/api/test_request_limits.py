"""Bodies too large or nested too deep are refused with a clear 4xx in WAHA's JSON error shape,
through the ASGI application in-process and through uvicorn (`manage.py serve`), and change
nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest

from sessions_app.models import Session
from tests.conftest import API_KEY
from tests.support.live_server import LiveServer
from waha_project.parsers import MAX_JSON_DEPTH

DEFAULT_LIMIT = 10 * 1024 * 1024


def create_body(size: int, name: str = "big") -> bytes:
    """A valid session create body of exactly `size` bytes, padded with whitespace."""
    head = b'{"name": "%s", "start": false' % name.encode()
    return head + b" " * (size - len(head) - 1) + b"}"


def nested(depth: int) -> bytes:
    """`{"name": "deep", "config": {"metadata": [[...]]}}`, arrays `depth` levels deep."""
    inner = b"[" * depth + b"]" * depth
    return b'{"name": "deep", "start": false, "config": {"metadata": ' + inner + b"}}"


JSON = {"Content-Type": "application/json"}


# --- in-process: the ASGI application ------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_a_body_over_the_limit_answers_413_in_the_error_shape(api, settings, caplog):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096

    with caplog.at_level(logging.WARNING):
        response = await api.post("/api/sessions", content=create_body(4097), headers=JSON)

    assert response.status_code == 413
    assert response.json() == {
        "statusCode": 413,
        "message": "Request body too large: at most 4096 bytes (WAHA_HTTP_MAX_BODY_BYTES)",
        "error": HTTPStatus(413).phrase,
    }
    assert not await Session.objects.aexists()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.django_db
def test_djangos_test_client_gets_the_same_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096

    response = client.post("/api/sessions", data=create_body(4097),
                           content_type="application/json", headers={"X-Api-Key": API_KEY})

    assert response.status_code == 413
    assert response.json()["statusCode"] == 413
    assert not Session.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_a_body_at_the_limit_is_read(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096

    response = await api.post("/api/sessions", content=create_body(4096), headers=JSON)

    assert response.status_code == 201, response.text
    assert await Session.objects.filter(name="big").aexists()


def test_the_limit_is_ten_mebibytes_unless_set(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == DEFAULT_LIMIT


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 990, 1000, 5000, 100_000])
async def test_json_nested_too_deep_answers_400_naming_the_body(api, caplog, depth):
    with caplog.at_level(logging.WARNING):
        response = await api.post("/api/sessions", content=nested(depth), headers=JSON)

    assert response.status_code == 400
    assert response.json()["message"] == [
        f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels"
    ]
    assert not await Session.objects.aexists()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.django_db(transaction=True)
async def test_json_nested_up_to_the_limit_is_parsed_and_validated(api):
    # The body object is level 1 and config level 2: the arrays take the levels left.
    response = await api.post("/api/sessions", content=nested(MAX_JSON_DEPTH - 2),
                              headers=JSON)

    assert response.status_code == 400
    assert response.json()["message"] == [
        'config.metadata: Expected a dictionary of items but got type "list".'
    ]


@pytest.mark.django_db(transaction=True)
async def test_deep_json_is_refused_on_every_json_route(api):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})
    deep = b"[" * 3000 + b"]" * 3000

    for method, path in [("POST", "/api/sessions"), ("PUT", "/api/sessions/alpha"),
                         ("POST", "/api/sessions/start"), ("POST", "/api/sendText"),
                         ("POST", "/api/alpha/auth/request-code")]:
        response = await api.request(method, path, content=deep, headers=JSON)

        assert response.status_code == 400, (path, response.text)
        assert response.json()["message"] == [
            f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels"
        ]


# --- through uvicorn: `manage.py serve`, the server the product runs ---------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(Path(tmp_path_factory.mktemp("limits")) / "data")
    try:
        yield server.start()
    finally:
        server.kill()


def test_over_the_server_a_body_over_the_default_limit_answers_413(served: LiveServer) -> None:
    with served.client() as api:
        response = api.post("/api/sessions", content=create_body(DEFAULT_LIMIT + 1),
                            headers=JSON)
        sessions = api.get("/api/sessions", params={"all": "true"}).json()

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == HTTPStatus(413).phrase
    assert sessions == []


def test_over_the_server_a_body_of_three_megabytes_is_read(served: LiveServer) -> None:
    with served.client() as api:
        response = api.post("/api/sessions", content=create_body(3_000_000, "three"),
                            headers=JSON)

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "three"


def test_over_the_server_deep_json_answers_400(served: LiveServer) -> None:
    with served.client() as api:
        response = api.post("/api/sessions", content=b"[" * 100_000 + b"]" * 100_000,
                            headers=JSON)

    assert response.status_code == 400
    assert response.json()["message"] == [
        f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels"
    ]


def test_over_the_server_the_limit_is_the_setting(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", {"WAHA_HTTP_MAX_BODY_BYTES": "65536"})
    try:
        server.start()
        with server.client() as api:
            over = api.post("/api/sessions", content=create_body(65537), headers=JSON)
            under = api.post("/api/sessions", content=json.dumps({"name": "small"}),
                             headers=JSON)
    finally:
        server.kill()

    assert over.status_code == 413
    assert over.json()["message"] == (
        "Request body too large: at most 65536 bytes (WAHA_HTTP_MAX_BODY_BYTES)"
    )
    assert under.status_code == 201


def test_over_the_server_no_refused_body_logged_a_traceback(served: LiveServer) -> None:
    assert "Traceback" not in served.output(), served.output()
