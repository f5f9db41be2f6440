# ruff: noqa: E501  (the table reads best one route to a line)
"""Every route's access rule, proven (API.md, API keys): one row per operation of the OpenAPI
schema, and per route outside it that takes a key, with the answer each principal gets.

The principals (columns):
- admin: `WAHA_API_KEY`;
- key: a stored admin key (as `POST /api/keys` with `isAdmin: true` makes it);
- own: a key of the route's session holding every action;
- other: a key of another session ("beta") holding every action;
- needs: the actions the route needs; for each, a key of the route's session holding every
  action but that one is refused with a 403 naming it;
- just: a key of the route's session holding only the actions the route needs, and nothing
  else, gets what `own` gets (so a route never needs more than its row says);
- off: a stored admin key switched off (`isActive: false`);
- gone: a key of the route's session holding every action, deleted.

The answers: OK, access granted (the request may still fail for another reason, e.g. 422 for a
session that is not running: anything but 401, 403 and 404); MINE, a 200 list holding rows of the
key's own session only, at least one; NONE, a 200 empty list; or the exact status.

A route added to the schema without a row here fails `test_the_table_has_a_row_for_every_
operation_of_the_schema`: adding its row is one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async

from sessions_app import access
from sessions_app.models import ApiKey, Session
from waha_project import process
from waha_project.access import Action
from webhooks_app.models import Delivery

from ..conftest import API_KEY

pytestmark = pytest.mark.django_db(transaction=True)

READ, SEND, CONTROL, SETTING, DELETE = (Action.READ.value, Action.SEND.value,
                                        Action.CONTROL.value, Action.SETTING.value,
                                        Action.DELETE.value)
OK = "granted"
MINE = "only its own rows"
NONE = "an empty list"
OTHER_SESSION = "beta"
SAFE = ("GET", "HEAD")
HOOK_URL = "http://127.0.0.1:9/hook"


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # as the schema writes it
    admin: int | str
    key: int | str
    own: int | str
    other: int | str
    needs: tuple[str, ...]
    off: int | str
    gone: int | str
    body: Any = None
    query: str = ""
    session: str = "alpha"  # the session the route names
    variant: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}{f' ({self.variant})' if self.variant else ''}"


SEND_TEXT = {"chatId": "123@c.us", "text": "hi"}
KEY_BODY = {"isAdmin": False, "session": OTHER_SESSION, "isActive": True}

SCHEMA_ROUTES = [
    # method    path                                        admin key own   other needs                off  gone
    Row("GET",    "/api/sessions",                          OK,   OK, MINE, MINE, (READ,),             401, 401, query="all=true"),
    Row("POST",   "/api/sessions",                          OK,   OK, 403,  403,  (),                  401, 401, body={"name": "gamma", "start": False}),
    Row("GET",    "/api/sessions/{name}",                   OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("PUT",    "/api/sessions/{name}",                   OK,   OK, OK,   404,  (SETTING,),          401, 401, body={"config": {}}),
    Row("DELETE", "/api/sessions/{name}",                   OK,   OK, OK,   404,  (DELETE,),           401, 401),
    Row("POST",   "/api/sessions/{name}/start",             OK,   OK, OK,   404,  (CONTROL,),          401, 401),
    Row("POST",   "/api/sessions/{name}/stop",              OK,   OK, OK,   404,  (CONTROL,),          401, 401),
    Row("POST",   "/api/sessions/{name}/restart",           OK,   OK, OK,   404,  (CONTROL,),          401, 401),
    Row("POST",   "/api/sessions/{name}/logout",            OK,   OK, OK,   404,  (CONTROL,),          401, 401),
    Row("GET",    "/api/sessions/{name}/me",                OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("POST",   "/api/sessions/start",                    OK,   OK, OK,   404,  (CONTROL,),          401, 401, body={"name": "alpha"}),
    Row("POST",   "/api/sessions/start",                    OK,   OK, OK,   404,  (CONTROL, SETTING),  401, 401, body={"name": "alpha", "config": {}}, variant="with a config"),
    Row("POST",   "/api/sessions/start",                    OK,   OK, 404,  404,  (),                  401, 401, body={"name": "gamma"}, variant="a new session"),
    Row("POST",   "/api/sessions/stop",                     OK,   OK, OK,   404,  (CONTROL,),          401, 401, body={"name": "alpha"}),
    Row("POST",   "/api/sessions/stop",                     OK,   OK, OK,   404,  (CONTROL, DELETE),   401, 401, body={"name": "alpha", "logout": True}, variant="with logout"),
    Row("POST",   "/api/sessions/logout",                   OK,   OK, OK,   404,  (DELETE,),           401, 401, body={"name": "alpha"}),
    Row("GET",    "/api/{session}/auth/qr",                 OK,   OK, OK,   404,  (READ,),             401, 401, query="format=raw"),
    Row("POST",   "/api/{session}/auth/request-code",       OK,   OK, OK,   404,  (CONTROL,),          401, 401, body={"phoneNumber": "12132132130"}),
    Row("GET",    "/api/{session}/profile",                 OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("PUT",    "/api/{session}/profile/name",            OK,   OK, OK,   404,  (SEND,),             401, 401, body={"name": "Alpha"}),
    Row("PUT",    "/api/{session}/profile/status",          OK,   OK, OK,   404,  (SEND,),             401, 401, body={"status": "Here"}),
    Row("PUT",    "/api/{session}/profile/picture",         OK,   OK, OK,   404,  (SEND,),             401, 401, body={"file": {"mimetype": "image/png", "data": "aGk="}}),
    Row("DELETE", "/api/{session}/profile/picture",         OK,   OK, OK,   404,  (SEND,),             401, 401),
    Row("GET",    "/api/{session}/chats",                   OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("GET",    "/api/{session}/chats/{chatId}/messages", OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("GET",    "/api/{session}/contacts/all",            OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("POST",   "/api/sendText",                          OK,   OK, OK,   404,  (SEND,),             401, 401, body={"session": "alpha", **SEND_TEXT}),
    Row("POST",   "/api/sendText",                          OK,   OK, OK,   404,  (SEND,),             401, 401, body=SEND_TEXT, session="default", variant="no session: default"),
    Row("GET",    "/api/webhooks/deliveries",               OK,   OK, MINE, MINE, (READ,),             401, 401),
    Row("GET",    "/api/webhooks/deliveries",               OK,   OK, MINE, NONE, (READ,),             401, 401, query="session=alpha", variant="another's asked"),
    Row("GET",    "/api/webhooks/deliveries/{id}",          OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("POST",   "/api/webhooks/deliveries/{id}/redeliver", OK,  OK, OK,   404,  (CONTROL,),          401, 401),
    Row("GET",    "/api/keys",                              OK,   OK, 403,  403,  (),                  401, 401),
    Row("POST",   "/api/keys",                              OK,   OK, 403,  403,  (),                  401, 401, body=KEY_BODY),
    Row("PUT",    "/api/keys/{id}",                         OK,   OK, 403,  403,  (),                  401, 401, body=KEY_BODY),
    Row("DELETE", "/api/keys/{id}",                         OK,   OK, 403,  403,  (),                  401, 401),
    Row("GET",    "/api/audit",                             OK,   OK, 403,  403,  (),                  401, 401),
    Row("GET",    "/api/server/version",                    OK,   OK, OK,   OK,   (),                  401, 401),
    Row("GET",    "/api/server/status",                     OK,   OK, 403,  403,  (),                  401, 401),
    Row("GET",    "/api/server/environment",                OK,   OK, 403,  403,  (),                  401, 401),
    # A body the stop refuses (400), so that an admin's request stops nothing.
    Row("POST",   "/api/server/stop",                       OK,   OK, 403,  403,  (),                  401, 401, body={"force": "yes"}),
    Row("GET",    "/ping",                                  OK,   OK, OK,   OK,   (),                  OK,  OK),
    Row("GET",    "/health",                                OK,   OK, OK,   OK,   (),                  OK,  OK),
]

# Routes the schema does not list. GET, PUT and DELETE on the deprecated routes' paths reach the
# session so named (its own rules); HEAD is GET's rule.
OTHER_ROUTES = [
    Row("GET",    "/metrics",                               OK,   OK, 403,  403,  (),                  401, 401),
    Row("GET",    "/api/schema/",                           OK,   OK, OK,   OK,   (),                  OK,  OK),
    Row("GET",    "/",                                      OK,   OK, OK,   OK,   (),                  OK,  OK),
    Row("GET",    "/api/sessions/start",                    OK,   OK, OK,   404,  (READ,),             401, 401, session="start"),
    Row("PUT",    "/api/sessions/start",                    OK,   OK, OK,   404,  (SETTING,),          401, 401, session="start", body={"config": {}}),
    Row("DELETE", "/api/sessions/start",                    OK,   OK, OK,   404,  (DELETE,),           401, 401, session="start"),
    Row("GET",    "/api/sessions/stop",                     OK,   OK, OK,   404,  (READ,),             401, 401, session="stop"),
    Row("PUT",    "/api/sessions/stop",                     OK,   OK, OK,   404,  (SETTING,),          401, 401, session="stop", body={"config": {}}),
    Row("DELETE", "/api/sessions/stop",                     OK,   OK, OK,   404,  (DELETE,),           401, 401, session="stop"),
    Row("GET",    "/api/sessions/logout",                   OK,   OK, OK,   404,  (READ,),             401, 401, session="logout"),
    Row("PUT",    "/api/sessions/logout",                   OK,   OK, OK,   404,  (SETTING,),          401, 401, session="logout", body={"config": {}}),
    Row("DELETE", "/api/sessions/logout",                   OK,   OK, OK,   404,  (DELETE,),           401, 401, session="logout"),
    Row("HEAD",   "/api/sessions/{name}",                   OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("HEAD",   "/api/{session}/chats",                   OK,   OK, OK,   404,  (READ,),             401, 401),
    Row("HEAD",   "/api/server/version",                    OK,   OK, OK,   OK,   (),                  401, 401),
    Row("HEAD",   "/api/server/status",                     OK,   OK, 403,  403,  (),                  401, 401),
    Row("HEAD",   "/metrics",                               OK,   OK, 403,  403,  (),                  401, 401),
]

ALL_ACTIONS = {action.value: True for action in Action}


# --- the world each case runs in ---------------------------------------------------------------
@pytest.fixture(autouse=True)
def quick(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A QR code is not waited for, and nothing stops this process (the test runner)."""
    settings.QR_WAIT_RUNNING_SECONDS = 0
    settings.QR_WAIT_SCAN_SECONDS = 0
    monkeypatch.setattr(process, "stop_soon", lambda force: None)


@dataclass(frozen=True)
class World:
    """The route's session and "beta", each with a delivery, and every principal's key."""

    keys: dict[str, str]
    url: str


def actions_of(row: Row, principal: str) -> dict[str, bool]:
    if principal == "just":
        return {action: action in row.needs for action in ALL_ACTIONS}
    return {**ALL_ACTIONS, principal.removeprefix("without "): False}


def build(row: Row) -> World:
    """Made as `/api/keys` makes them (`access.create_key`), in one go."""
    Delivery.objects.all().delete()
    ApiKey.objects.all().delete()
    Session.objects.all().delete()
    deliveries: dict[str, int] = {}
    for name in dict.fromkeys([row.session, OTHER_SESSION]):
        session = Session.objects.create_stopped(name=name, config={}, should_run=False,
                                                 generation=0)
        envelope = {"id": f"evt_{name}", "event": "message", "session": name, "payload": {}}
        deliveries[name] = Delivery.objects.create(
            session=session, session_name=name, event="message", event_id=envelope["id"],
            event_timestamp=1_741_249_702_485, body=json.dumps(envelope), url=HOOK_URL,
            retry_policy="constant", retry_delay_seconds=2, retry_attempts=1).pk

    def key(session: str | None, actions: dict[str, bool] = ALL_ACTIONS,
            active: bool = True) -> tuple[ApiKey, str]:
        return access.create_key(is_admin=session is None, session=session, is_active=active,
                                 actions=actions)

    keys = {"admin": API_KEY, "key": key(None)[1], "own": key(row.session)[1],
            "other": key(OTHER_SESSION)[1], "off": key(None, active=False)[1]}
    for principal in principals(row):
        if principal == "just" or principal.startswith("without "):
            keys[principal] = key(row.session, actions_of(row, principal))[1]
    gone, keys["gone"] = key(row.session)
    gone.delete()

    values = {"name": row.session, "session": row.session, "chatId": "123@c.us"}
    if row.path.startswith("/api/keys/"):
        values["id"] = key(OTHER_SESSION)[0].id
    elif row.path.startswith("/api/webhooks/deliveries/"):
        values["id"] = str(deliveries[row.session])
    path = row.path.format(**values)
    return World(keys=keys, url=f"{path}?{row.query}" if row.query else path)


# --- the answers ---------------------------------------------------------------------------------
def expected(row: Row, principal: str) -> int | str:
    if principal.startswith("without "):
        return 403
    if principal == "just":
        return row.own
    answer: int | str = getattr(row, principal)
    return answer


def session_of(principal: str, row: Row) -> str:
    return OTHER_SESSION if principal == "other" else row.session


def rows_sessions(response: httpx.Response) -> set[str]:
    return {str(item.get("session") or item.get("name")) for item in response.json()}


def mismatch(answer: int | str, response: httpx.Response, principal: str, row: Row) -> str | None:
    """Why the response is not the expected answer, or None."""
    code = response.status_code
    if answer == OK:
        return None if code not in (401, 403, 404) else "access granted"
    if answer == MINE:
        if code != 200:
            return "200"
        own = session_of(principal, row)
        return None if rows_sessions(response) == {own} else f"only rows of {own}, at least one"
    if answer == NONE:
        return None if code == 200 and response.json() == [] else "200 and an empty list"
    if code != answer:
        return str(answer)
    if principal.startswith("without ") and row.method != "HEAD":
        action = principal.removeprefix("without ")
        if f"'{action}'" not in response.json()["message"]:
            return f"403 naming the {action} action"
    return None


def principals(row: Row) -> list[str]:
    return ["admin", "key", "own", "other", *(f"without {a}" for a in row.needs), "just", "off",
            "gone"]


# --- the tests -----------------------------------------------------------------------------------
async def test_the_table_has_a_row_for_every_operation_of_the_schema(api):
    served = await api.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    schema = served.json()
    operations = {(method.upper(), path) for path, item in schema["paths"].items()
                  for method in item}

    assert {(row.method, row.path) for row in SCHEMA_ROUTES} == operations
    assert not {(row.method, row.path) for row in OTHER_ROUTES} & operations


@pytest.mark.parametrize("row", SCHEMA_ROUTES + OTHER_ROUTES, ids=lambda row: row.name)
async def test_each_principal_gets_the_answer_the_table_gives(keyless, row):
    wrong = []
    world = await sync_to_async(build)(row)
    for principal in principals(row):
        response = await keyless.request(row.method, world.url, json=row.body,
                                         headers={"X-Api-Key": world.keys[principal]})

        why = mismatch(expected(row, principal), response, principal, row)
        if why is not None:
            wrong.append(f"as {principal}: expected {why}, got {response.status_code} "
                         f"{response.text[:200]}")
        if row.method not in SAFE:  # what it changed is made again for the next one
            world = await sync_to_async(build)(row)
    assert not wrong, f"{row.name}\n" + "\n".join(wrong)
