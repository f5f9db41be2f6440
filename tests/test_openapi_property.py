"""Every operation of /api/schema/, fuzzed: no 5xx, and every answer is as the schema documents.

Why a live `manage.py serve` and not `schemathesis.openapi.from_asgi`: half of the API only means
something with the engine runtime turning (start, stop, the QR route waiting for SCAN_QR_CODE,
request-code asking the owning engine over the channel layer), and that runtime lives in `serve`.
In-process, the ASGI app would run its sync views on threads against pytest-django's test
database, with no engine at all. The live process is the product as shipped, on a throw-away
data directory, with the fake engine and short waits so the run stays bounded.

Why the schema is generated here at import rather than loaded from the live server with
`schemathesis.pytest.from_fixture`: that lazy loader reads `request.node._nodeid`, which pytest 9
no longer has (AttributeError). Collection needs the operations before any server runs, so the
schema comes from the same drf-spectacular generator `/api/schema/` uses, and the first test
checks that the live `/api/schema/` serves exactly that document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.live_server import API_KEY, LiveServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SERVER_ENV = {
    "WAHA_FAKE_PAIR_AFTER_SECONDS": "0.5",
    "WAHA_QR_FIRST_SECONDS": "2",
    "WAHA_QR_NEXT_SECONDS": "1",
    "WAHA_QR_CODES": "2",
    "WAHA_QR_WAIT_RUNNING_SECONDS": "0.3",
    "WAHA_QR_WAIT_SCAN_SECONDS": "0.3",
    "WAHA_ENGINE_REQUEST_TIMEOUT_SECONDS": "2",
    "WAHA_RECONCILE_SECONDS": "0.5",
}
# Half the generated cases aim at a session that exists, so the answers past the 404 are
# exercised too: random names almost never hit one.
KNOWN_SESSION = "known"
PATH_NAMES = ("name", "session")


def generated_schema() -> dict[str, Any]:
    """What `/api/schema/` serves, built the way its view builds it."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return dict(json.loads(OpenApiJsonRenderer().render(document)))


SCHEMA_DOCUMENT = generated_schema()
# POST /api/server/stop stops the server being fuzzed: tests/e2e/test_server_stop.py runs it.
schema = schemathesis.openapi.from_dict(SCHEMA_DOCUMENT).exclude(path="/api/server/stop")


@pytest.fixture(scope="module")
def serve_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("openapi-property"), SERVER_ENV)
    try:
        yield server.start()
    finally:
        server.kill()


def ensure_known_session(base_url: str) -> None:
    """Operations may delete or log out the known session: create it again when it is gone."""
    with httpx.Client(base_url=base_url, headers={"X-Api-Key": API_KEY}, timeout=30) as api:
        if api.get(f"/api/sessions/{KNOWN_SESSION}").status_code == 404:
            api.post("/api/sessions", json={"name": KNOWN_SESSION})


def test_the_fuzzed_schema_is_the_one_the_server_serves(serve_process: LiveServer) -> None:
    with serve_process.client() as api:
        served = api.get("/api/schema/",
                         headers={"Accept": "application/vnd.oai.openapi+json"})
    assert served.status_code == 200
    assert served.json() == SCHEMA_DOCUMENT


@schema.given(aim_at_known_session=st.booleans())
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_without_5xx_and_as_its_schema_says(
    case: Any, aim_at_known_session: bool, serve_process: LiveServer
) -> None:
    if aim_at_known_session and case.path_parameters:
        for key in PATH_NAMES:
            if key in case.path_parameters:
                case.path_parameters[key] = KNOWN_SESSION
        ensure_known_session(serve_process.base_url)
    case.call_and_validate(base_url=serve_process.base_url, headers={"X-Api-Key": API_KEY},
                           checks=CHECKS, timeout=30)


def test_the_server_logged_no_traceback_while_it_was_fuzzed(serve_process: LiveServer) -> None:
    """A bad input the API accepts could still break the engine in the background, unanswered."""
    assert "Traceback" not in serve_process.output(), serve_process.output()
