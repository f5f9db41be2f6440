"""`GET /api/audit` (API.md, API keys): the audit log for admin keys, newest first, narrowed by
session, actor, operation and time, paged with limit/offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async

from sessions_app.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

NOON = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@sync_to_async
def write(**fields: object) -> AuditEntry:
    defaults: dict[str, object] = {"actor_kind": "key", "actor_id": "key_id_a",
                                   "operation": "session-stop", "session": "alpha",
                                   "status": 201, "summary": "POST /api/sessions/alpha/stop"}
    return AuditEntry.objects.create(**{**defaults, **fields})


async def test_rows_are_answered_in_their_documented_shape_newest_first(api):
    older = await write(timestamp=NOON, actor_kind="env", actor_id="WAHA_API_KEY",
                        operation="session-create", summary="POST /api/sessions")
    newer = await write(timestamp=NOON + timedelta(seconds=1), actor_kind="user",
                        actor_id="boss", operation="dashboard:stop", status=302,
                        summary="POST /dashboard/sessions/alpha/stop")

    response = await api.get("/api/audit")

    assert response.status_code == 200
    assert response.json() == [
        {"id": newer.pk, "timestamp": ms(NOON) + 1000, "actor": {"type": "user", "id": "boss"},
         "operation": "dashboard:stop", "session": "alpha", "status": 302,
         "summary": "POST /dashboard/sessions/alpha/stop"},
        {"id": older.pk, "timestamp": ms(NOON), "actor": {"type": "env", "id": "WAHA_API_KEY"},
         "operation": "session-create", "session": "alpha", "status": 201,
         "summary": "POST /api/sessions"},
    ]


async def test_the_list_narrows_by_session_actor_and_operation(api):
    await write(session="alpha", actor_id="key_id_a", operation="session-stop")
    await write(session="beta", actor_id="key_id_a", operation="session-start")
    await write(session="alpha", actor_id="boss", actor_kind="user", operation="dashboard:stop")

    async def listed(**params: str) -> list[tuple[str, str, str]]:
        response = await api.get("/api/audit", params=params)
        assert response.status_code == 200, response.text
        return [(r["session"], r["actor"]["id"], r["operation"]) for r in response.json()]

    assert await listed(session="alpha") == [("alpha", "boss", "dashboard:stop"),
                                             ("alpha", "key_id_a", "session-stop")]
    assert await listed(actor="key_id_a") == [("beta", "key_id_a", "session-start"),
                                              ("alpha", "key_id_a", "session-stop")]
    assert await listed(operation="session-stop", session="alpha") == [
        ("alpha", "key_id_a", "session-stop")]
    assert await listed(session="") == await listed()
    assert await listed(session="gamma") == []


async def test_since_is_inclusive_and_until_exclusive_to_the_millisecond(api):
    for offset in range(3):
        await write(timestamp=NOON + timedelta(seconds=offset), operation=f"op-{offset}")
    middle = ms(NOON) + 1000

    async def operations(**params: int) -> list[str]:
        response = await api.get("/api/audit", params=params)
        assert response.status_code == 200, response.text
        return [r["operation"] for r in response.json()]

    assert await operations(since=middle) == ["op-2", "op-1"]
    assert await operations(until=middle) == ["op-0"]
    assert await operations(since=middle, until=middle + 1) == ["op-1"]


async def test_the_list_is_paged_with_limit_and_offset(api):
    for index in range(5):
        await write(timestamp=NOON + timedelta(seconds=index), operation=f"op-{index}")

    page = await api.get("/api/audit", params={"limit": 2, "offset": 1})

    assert [r["operation"] for r in page.json()] == ["op-3", "op-2"]


@pytest.mark.parametrize(("params", "field"), [
    ({"since": "yesterday"}, "since"),
    ({"until": "1.5"}, "until"),
    ({"since": "-1"}, "since"),
    ({"until": str(10**16)}, "until"),
    ({"session": "s" * 55}, "session"),
    ({"operation": "o" * 101}, "operation"),
    ({"limit": "0"}, "limit"),
])
async def test_a_bad_filter_is_a_400_naming_it(api, params, field):
    response = await api.get("/api/audit", params=params)

    assert response.status_code == 400
    assert any(message.startswith(f"{field}:") for message in response.json()["message"]), \
        response.json()


async def test_only_admin_keys_read_the_audit_log(api, keyless):
    await api.post("/api/sessions", json={"name": "alpha", "start": False})
    session_key = (await api.post("/api/keys", json={"isAdmin": False, "session": "alpha",
                                                     "isActive": True})).json()["key"]
    admin_key = (await api.post("/api/keys", json={"isAdmin": True, "session": None,
                                                   "isActive": True})).json()["key"]

    refused = await keyless.get("/api/audit", headers={"X-Api-Key": session_key})
    allowed = await keyless.get("/api/audit", headers={"X-Api-Key": admin_key})
    anonymous = await keyless.get("/api/audit")

    assert refused.status_code == 403
    assert allowed.status_code == 200 and len(allowed.json()) == 3
    assert anonymous.status_code == 401


async def test_the_schema_documents_the_route_its_filters_and_its_rows(api):
    document = (await api.get("/api/schema/", headers={"Accept": "application/json"})).json()

    operation = document["paths"]["/api/audit"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    row = document["components"]["schemas"]["AuditEntry"]

    assert {"session", "actor", "operation", "since", "until", "limit", "offset"} <= names
    assert set(operation["responses"]) == {"200", "400", "401", "403"}
    assert list(row["properties"]) == ["id", "timestamp", "actor", "operation", "session",
                                       "status", "summary"]
