"""`/api/keys` (API.md, API keys): WAHA's shape, admin keys only, the key kept as a digest and
shown whole once."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from asgiref.sync import sync_to_async

from sessions_app.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


async def create_session(api: httpx.AsyncClient, name: str) -> None:
    response = await api.post("/api/sessions", json={"name": name, "start": False})
    assert response.status_code == 201, response.text


async def create_key(api: httpx.AsyncClient, **body: object) -> dict:
    response = await api.post("/api/keys", json={"isAdmin": False, "isActive": True, **body})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_created_key_is_answered_whole_once_and_listed_masked(api):
    await create_session(api, "alpha")

    created = await create_key(api, session="alpha")
    listed = (await api.get("/api/keys")).json()

    assert created["id"].startswith("key_id_") and len(created["id"]) == len("key_id_") + 26
    assert created["key"].startswith("key_") and len(created["key"]) == len("key_") + 32
    assert created["session"] == "alpha" and created["isAdmin"] is False
    assert created["actions"] == {"read": True, "send": True, "control": True,
                                  "setting": True, "app": True, "delete": False}
    [row] = listed
    assert row["id"] == created["id"]
    assert row["key"] != created["key"] and "…" in row["key"]
    assert created["key"] not in str(listed)


async def test_only_the_keys_digest_is_stored(api):
    await create_session(api, "alpha")
    created = await create_key(api, session="alpha")

    row = await sync_to_async(ApiKey.objects.get)(id=created["id"])

    assert row.digest == hashlib.sha256(created["key"].encode()).hexdigest()
    stored = " ".join(str(getattr(row, f.attname)) for f in ApiKey._meta.concrete_fields)
    assert created["key"] not in stored


async def test_a_session_key_reaches_its_session_and_no_other(api, keyless):
    await create_session(api, "alpha")
    await create_session(api, "beta")
    key = (await create_key(api, session="alpha"))["key"]

    own = await keyless.get("/api/sessions/alpha", headers={"X-Api-Key": key})
    other = await keyless.get("/api/sessions/beta", headers={"X-Api-Key": key})
    listed = await keyless.get("/api/sessions?all=true", headers={"X-Api-Key": key})

    assert own.status_code == 200
    assert other.status_code == 404
    assert [s["name"] for s in listed.json()] == ["alpha"]


async def test_a_key_in_the_query_string_works(api, keyless):
    await create_session(api, "alpha")
    key = (await create_key(api, session="alpha"))["key"]

    response = await keyless.get(f"/api/sessions/alpha?x-api-key={key}")

    assert response.status_code == 200


async def test_a_missing_action_is_a_403_naming_it(api, keyless):
    await create_session(api, "alpha")
    key = (await create_key(api, session="alpha", actions={"control": False}))["key"]

    response = await keyless.post("/api/sessions/alpha/start", headers={"X-Api-Key": key})

    assert response.status_code == 403
    assert "control" in response.json()["message"]


async def test_a_switched_off_or_deleted_key_is_refused_at_once(api, keyless):
    await create_session(api, "alpha")
    created = await create_key(api, session="alpha")
    headers = {"X-Api-Key": created["key"]}
    assert (await keyless.get("/api/sessions/alpha", headers=headers)).status_code == 200

    off = await api.put(f"/api/keys/{created['id']}",
                        json={"isAdmin": False, "session": "alpha", "isActive": False})
    after_off = await keyless.get("/api/sessions/alpha", headers=headers)
    await api.put(f"/api/keys/{created['id']}",
                  json={"isAdmin": False, "session": "alpha", "isActive": True})
    deleted = await api.delete(f"/api/keys/{created['id']}")
    after_delete = await keyless.get("/api/sessions/alpha", headers=headers)

    assert off.status_code == 200 and off.json()["isActive"] is False
    assert after_off.status_code == 401
    assert deleted.status_code == 200
    assert after_delete.status_code == 401


async def test_only_admin_keys_manage_keys(api, keyless):
    await create_session(api, "alpha")
    session_key = (await create_key(api, session="alpha"))["key"]
    admin_key = (await create_key(api, isAdmin=True, session=None))["key"]

    refused = await keyless.get("/api/keys", headers={"X-Api-Key": session_key})
    allowed = await keyless.post("/api/keys", headers={"X-Api-Key": admin_key},
                               json={"isAdmin": False, "session": "alpha", "isActive": True})

    assert refused.status_code == 403
    assert allowed.status_code == 201


async def test_a_deleted_sessions_keys_go_with_it(api, keyless):
    await create_session(api, "alpha")
    key = (await create_key(api, session="alpha"))["key"]

    await api.delete("/api/sessions/alpha")
    await create_session(api, "alpha")

    assert (await keyless.get("/api/sessions/alpha", headers={"X-Api-Key": key})).status_code == 401
    assert (await api.get("/api/keys")).json() == []


@pytest.mark.parametrize(("body", "status", "field"), [
    # Shapes the schema refuses: 400.
    ({"isAdmin": "yes", "session": "alpha", "isActive": True}, 400, "isAdmin"),
    ({"isAdmin": False, "session": "alpha", "isActive": 1}, 400, "isActive"),
    ({"isAdmin": False, "session": "alpha", "actions": {"reed": True}}, 400, "actions.reed"),
    ({"isAdmin": False, "session": "alpha", "actions": {"read": "no"}}, 400, "actions.read"),
    ({"isAdmin": False, "session": "alpha", "actions": []}, 400, "actions"),
    # Shapes it allows that cannot be carried out: 422.
    ({"isAdmin": False, "session": "nobody", "isActive": True}, 422, "session"),
    ({"isAdmin": False, "isActive": True}, 422, "session"),
    ({"isAdmin": False, "session": "", "isActive": True}, 422, "session"),
    ({"isAdmin": True, "session": "alpha", "isActive": True}, 422, "session"),
])
async def test_bad_input_names_the_field_and_stores_nothing(api, body, status, field):
    await create_session(api, "alpha")

    response = await api.post("/api/keys", json=body)

    assert response.status_code == status, response.text
    assert any(message.startswith(f"{field}:") for message in response.json()["message"]), \
        response.json()
    assert await sync_to_async(ApiKey.objects.count)() == 0
