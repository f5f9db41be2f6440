"""The OpenAPI schema says what the API checks: required fields are required, the formats the
API validates (session names, chat ids, phone numbers) are patterns a client can read, and the
deprecated routes advertise their own methods."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sessions_app.models import Session

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA_ACCEPT = {"Accept": "application/vnd.oai.openapi+json"}


@pytest.fixture
async def schema(api) -> dict[str, Any]:
    response = await api.get("/api/schema/", headers=SCHEMA_ACCEPT)
    assert response.status_code == 200
    return dict(response.json())


def body_schema(schema: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    content = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
    name = content["schema"]["$ref"].rsplit("/", 1)[1]
    return dict(schema["components"]["schemas"][name])


def parameter(schema: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    [found] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
    return dict(found["schema"])


def matches(pattern: str, value: str) -> bool:
    """As a JSON Schema validator reads `pattern` (ECMA: a search, `$` only at the end)."""
    return re.search(pattern, value) is not None and "\n" not in value


# --- the deprecated routes ------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/sessions/start", "/api/sessions/stop",
                                  "/api/sessions/logout"])
async def test_the_legacy_bodies_require_a_name(schema, path):
    body = body_schema(schema, path)

    assert "name" in body["required"]
    name = body["properties"]["name"]
    assert name.get("nullable") is not True
    assert name["minLength"] == 1 and name["maxLength"] == 54
    assert name["pattern"] == "^[a-zA-Z0-9_-]*$"


@pytest.mark.parametrize("path", ["/api/sessions/start", "/api/sessions/stop",
                                  "/api/sessions/logout"])
async def test_options_on_a_legacy_path_lists_its_own_methods(api, path):
    response = await api.options(path)

    assert response.status_code == 200
    assert response.headers["Allow"] == "POST, OPTIONS"


@pytest.mark.parametrize("path", ["/api/sessions/start", "/api/sessions/stop",
                                  "/api/sessions/logout"])
@pytest.mark.parametrize("name", ["bad name", "a" * 55, "émoji"])
async def test_a_legacy_name_outside_the_schema_answers_400_naming_it(api, path, name):
    response = await api.post(path, json={"name": name})

    assert response.status_code == 400
    [message] = response.json()["message"]
    assert message.startswith("name: ")
    assert not await Session.objects.aexists()


async def test_a_session_named_like_a_legacy_route_is_still_reachable(api):
    await api.post("/api/sessions", json={"name": "start", "start": False})

    got = await api.get("/api/sessions/start")
    put = await api.put("/api/sessions/start", json={"config": {"debug": True}})
    deleted = await api.delete("/api/sessions/start")

    assert (got.status_code, put.status_code, deleted.status_code) == (200, 200, 200)
    assert not await Session.objects.aexists()


# --- session names --------------------------------------------------------------------------------
async def test_the_create_body_documents_the_name_pattern(schema):
    name = body_schema(schema, "/api/sessions")["properties"]["name"]
    # Written as "a name, or the empty string" (an empty name is generated).
    [named, empty] = name["oneOf"]

    assert named["pattern"] == "^[a-zA-Z0-9_-]*$"
    assert named["maxLength"] == 54
    assert empty == {"type": "string", "maxLength": 0}


@pytest.mark.parametrize("name", ["bad name", "émoji", "dot.ted"])
async def test_deleting_a_name_outside_the_pattern_answers_400(api, schema, name):
    pattern = parameter(schema, "/api/sessions/{name}/me", "name")["pattern"]
    assert not matches(pattern, name)

    response = await api.delete(f"/api/sessions/{name}")

    assert response.status_code == 400
    assert response.json()["message"] == [
        "name: may contain only letters, digits, '_' and '-' (^[a-zA-Z0-9_-]*$)"
    ]


async def test_deleting_an_unknown_name_of_the_pattern_is_still_fine(api):
    response = await api.delete("/api/sessions/ghost")

    assert response.status_code == 200


# --- chat ids -------------------------------------------------------------------------------------
CHAT_IDS = [
    ("12132132130@c.us", True), ("123-456@g.us", True), ("120363@newsletter", True),
    ("1234567@lid", True), ("abc@c.us", False), ("12132132130", False), ("0", False),
    ("@c.us", False), ("12132132130@c.us\n", False), ("1@c.us ", False),
    ("status@broadcast", False),
]


async def test_send_text_documents_the_chat_id_it_accepts(api, schema):
    pattern = body_schema(schema, "/api/sendText")["properties"]["chatId"]["pattern"]
    await api.post("/api/sessions", json={"name": "default", "start": False})

    for chat_id, valid in CHAT_IDS:
        response = await api.post("/api/sendText", json={"chatId": chat_id, "text": "hi"})
        refused = response.status_code == 400
        assert matches(pattern, chat_id) is valid, chat_id
        assert refused is not valid, (chat_id, response.json())
        if refused:
            assert response.json()["message"][0].startswith("chatId: ")


async def test_the_messages_route_documents_the_chat_id_of_its_path(api, schema):
    pattern = parameter(schema, "/api/{session}/chats/{chatId}/messages", "chatId")["pattern"]
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    for chat_id, valid in [("12132132130@c.us", True), ("status@broadcast", True),
                           ("x" * 128, True), ("x" * 129, False), ("a b", False)]:
        response = await api.get(f"/api/alpha/chats/{chat_id}/messages")
        assert matches(pattern, chat_id) is valid, chat_id
        assert (response.status_code == 200) is valid, (chat_id, response.json())


# --- phone numbers --------------------------------------------------------------------------------
PHONES = [
    ("12132132130", True), ("+4915112345678", True), ("1234567", True),
    ("123456789012345", True), ("123456", False), ("1234567890123456", False),
    ("012132132130", False), ("+012132132130", False), ("++12132132130", False),
    ("1213213213a", False), (" 12132132130", False), ("12132132130 ", False),
    ("+1 213 213 2130", False), ("١٢١٣٢١٣٢١٣٠", False),
]


async def test_request_code_documents_the_phone_number_it_accepts(api, schema):
    pattern = body_schema(schema, "/api/{session}/auth/request-code")["properties"][
        "phoneNumber"]["pattern"]
    await api.post("/api/sessions", json={"name": "alpha", "start": False})

    for phone, valid in PHONES:
        response = await api.post("/api/alpha/auth/request-code", json={"phoneNumber": phone})
        # A valid number reaches the state check: the stopped session answers 422.
        assert matches(pattern, phone) is valid, phone
        assert response.status_code == (422 if valid else 400), (phone, response.json())


# --- session config -------------------------------------------------------------------------------
def component(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(schema["components"]["schemas"][name])


PROXY_SERVERS = [
    ("proxy.example.com:3128", True), ("http://proxy.example.com:3128", True),
    ("socks5://[2001:db8::1]:1080", True), ("10.0.0.1:65535", True), ("p:1/", True),
    ("proxy.example.com", False), ("proxy.example.com:0", False), ("p:65536", False),
    ("p:03128", False), ("ftp://p:21", False), ("HTTP://p:80", False), (" p:80", False),
    ("p:80 ", False), ("user:pw@p:80", False), ("http://u@p:80", False), ("[BaD]:80", False),
    ("[1::2::3]:80", False), ("p:80\n", False),
]


async def test_the_proxy_server_pattern_is_what_the_api_accepts(api, schema):
    pattern = component(schema, "ProxyRequest")["properties"]["server"]["pattern"]

    for server, valid in PROXY_SERVERS:
        response = await api.post("/api/sessions", json={
            "name": "alpha", "start": False, "config": {"proxy": {"server": server}}})
        assert matches(pattern, server) is valid, server
        assert (response.status_code == 201) is valid, (server, response.json())
        await api.delete("/api/sessions/alpha")


HEADERS = [
    ({"name": "X-Tenant", "value": "a b"}, True), ({"name": "x_t.1~", "value": ""}, True),
    ({"name": "X-T", "value": "\t\x7f"}, True),
    ({"name": "X Tenant", "value": "a"}, False), ({"name": "X-T\n", "value": "a"}, False),
    ({"name": "", "value": "a"}, False), ({"name": "X-T", "value": "a\nb"}, False),
    ({"name": "X-T", "value": "é"}, False), ({"name": "X-T", "value": "a\rb"}, False),
]


async def test_the_custom_header_patterns_are_what_the_api_accepts(api, schema):
    header = component(schema, "CustomHeaderRequest")["properties"]
    name_pattern = header["name"]["pattern"]
    [value_schema, _empty] = header["value"]["oneOf"]

    for custom, valid in HEADERS:
        hook = {"url": "https://example.com/hook", "events": ["*"], "customHeaders": [custom]}
        response = await api.post("/api/sessions", json={
            "name": "alpha", "start": False, "config": {"webhooks": [hook]}})
        documented = (matches(name_pattern, custom["name"])
                      and matches(value_schema["pattern"], custom["value"]))
        assert documented is valid, custom
        assert (response.status_code == 201) is valid, (custom, response.json())
        await api.delete("/api/sessions/alpha")


async def test_webhook_events_are_documented_as_not_empty(schema):
    events = component(schema, "WebhookRequest")["properties"]["events"]

    assert (events["minItems"], events["maxItems"]) == (1, 64)


async def test_metadata_documents_its_limits(schema):
    metadata = component(schema, "SessionConfigRequest")["properties"]["metadata"]

    assert metadata["maxProperties"] == 50
    assert metadata["additionalProperties"] == {"type": "string", "maxLength": 1000}
    assert metadata["nullable"] is True


async def test_send_text_documents_the_session_name_it_accepts(api, schema):
    session = body_schema(schema, "/api/sendText")["properties"]["session"]

    response = await api.post("/api/sendText",
                              json={"session": "bad name", "chatId": "1@c.us", "text": "hi"})

    assert session["pattern"] == "^[a-zA-Z0-9_-]*$"
    assert response.status_code == 400
    assert response.json()["message"][0].startswith("session: ")


# --- query parameters whose empty value means "not given" -----------------------------------------
async def test_the_deliveries_filters_document_an_empty_value_and_their_lengths(api, schema):
    params = {p["name"]: p for p in schema["paths"]["/api/webhooks/deliveries"]["get"][
        "parameters"]}

    assert "" in params["status"]["schema"]["enum"]
    assert params["session"]["schema"]["maxLength"] == 54
    assert params["event"]["schema"]["maxLength"] == 64
    assert params["limit"]["allowEmptyValue"] is True
    assert params["offset"]["allowEmptyValue"] is True
    for query in ["status=", "session=", "event=", "limit=", "offset="]:
        assert (await api.get(f"/api/webhooks/deliveries?{query}")).status_code == 200, query
    for query in [f"session={'s' * 55}", f"event={'e' * 65}", "status=lost"]:
        assert (await api.get(f"/api/webhooks/deliveries?{query}")).status_code == 400, query
