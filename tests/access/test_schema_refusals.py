"""The schema says what a key that is not an admin's may get: each route's access rule puts
its refusals in the route's answers (`waha_project.api.AutoSchema`)."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

# Routes any valid key (or none) may call: nothing to refuse beyond a missing key.
OPEN = {("GET", "/ping"), ("GET", "/health"), ("GET", "/api/server/version")}
# Admin-only and list routes: 403 only (no session of the key's to hide).
NO_SESSION = {("GET", "/api/sessions"), ("POST", "/api/sessions"), ("GET", "/api/audit"),
              ("GET", "/api/keys"), ("POST", "/api/keys"), ("PUT", "/api/keys/{id}"),
              ("DELETE", "/api/keys/{id}"), ("GET", "/api/server/status"),
              ("GET", "/api/server/environment"), ("POST", "/api/server/stop"),
              ("GET", "/api/webhooks/deliveries")}


@pytest.fixture(scope="module")
def operations() -> dict[tuple[str, str], dict[str, Any]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path): operation for path, item in schema["paths"].items()
            for method, operation in item.items()}


def test_every_route_but_the_open_ones_documents_a_403(operations):
    missing = [route for route, operation in operations.items()
               if route not in OPEN and "403" not in operation["responses"]]
    documented = [route for route in OPEN if "403" in operations[route]["responses"]]

    assert missing == [] and documented == []


def test_a_session_s_routes_document_the_404_of_a_session_the_key_does_not_reach(operations):
    missing = [route for route, operation in operations.items()
               if route not in OPEN | NO_SESSION and "404" not in operation["responses"]]

    assert missing == []


def test_a_refusal_is_the_error_shape_and_says_why(operations):
    refusal = operations[("POST", "/api/sessions/{name}/stop")]["responses"]["403"]

    assert refusal["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert "action" in refusal["description"]
