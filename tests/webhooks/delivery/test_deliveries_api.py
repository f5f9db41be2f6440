"""GET /api/webhooks/deliveries[/{id}] and POST .../{id}/redeliver through the real ASGI app."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async

from sessions_app.models import Session
from tests.conftest import wait_for
from tests.support.receiver import Receiver, Reply
from waha_project.embedded import EmbeddedWorker
from webhooks_app import services
from webhooks_app.models import Delivery

from .helpers import hook, raise_event

pytestmark = pytest.mark.django_db(transaction=True)

NO_RETRIES = {"policy": "constant", "delaySeconds": 0, "attempts": 0}
DELIVERY_KEYS = {"id", "session", "event", "eventId", "url", "webhook", "global", "status",
                 "attempts", "lastStatusCode", "lastError", "createdAt", "nextAttemptAt",
                 "waitingUntil", "finishedAt"}

Publish = Callable[..., Awaitable[dict[str, Any]]]


async def create(api: httpx.AsyncClient, name: str, *webhooks: dict[str, Any]) -> None:
    response = await api.post("/api/sessions", json={
        "name": name, "start": False, "config": {"webhooks": list(webhooks)}})
    assert response.status_code == 201, response.text


@sync_to_async
def publish(name: str, event: str = "message") -> dict[str, Any]:
    return raise_event(Session.objects.get(name=name), event)


@sync_to_async
def attempt(envelope: dict[str, Any]) -> Delivery | None:
    return services.attempt(Delivery.objects.get(event_id=envelope["id"]).pk)


@pytest.fixture
async def history(api: httpx.AsyncClient, receiver: Receiver) -> dict[str, dict[str, Any]]:
    """alpha: a delivered message, a failed message, a pending session.status; beta: a pending
    message. Created in that order, so newest first is the reverse."""
    await create(api, "alpha", hook(receiver.url("/alpha"), retries=NO_RETRIES))
    await create(api, "beta", hook(receiver.url("/beta"), ["message"]))
    receiver.reply_with(Reply(200, body=b"thanks"), Reply(500, body=b"broken"))
    delivered = await publish("alpha")
    await attempt(delivered)
    failed = await publish("alpha")
    await attempt(failed)
    pending = await publish("alpha", "session.status")
    other = await publish("beta")
    return {"delivered": delivered, "failed": failed, "pending": pending, "other": other}


async def listed(api: httpx.AsyncClient, query: str = "") -> list[dict[str, Any]]:
    response = await api.get(f"/api/webhooks/deliveries{query}")
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["eventId"] for row in rows]


# --- the list ---------------------------------------------------------------------------------
async def test_the_list_shows_every_delivery_newest_first(
        api: httpx.AsyncClient, receiver: Receiver, history: dict[str, dict[str, Any]]) -> None:
    rows = await listed(api)

    assert ids(rows) == [history[k]["id"] for k in ("other", "pending", "failed", "delivered")]
    assert all(set(row) == DELIVERY_KEYS for row in rows)
    delivered = rows[3]
    assert delivered["session"] == "alpha"
    assert delivered["event"] == "message"
    assert delivered["url"] == receiver.url("/alpha")
    assert (delivered["status"], delivered["attempts"], delivered["lastStatusCode"]) == (
        "delivered", 1, 200)
    assert delivered["global"] is False
    assert isinstance(delivered["webhook"], int)
    assert delivered["lastError"] is None
    assert delivered["waitingUntil"] is None
    assert delivered["finishedAt"] >= delivered["createdAt"]
    assert rows[2]["lastError"] == "HTTP 500"


@pytest.mark.parametrize(("query", "expected"), [
    ("?session=alpha", ["pending", "failed", "delivered"]),
    ("?session=beta", ["other"]),
    ("?session=gamma", []),
    ("?event=session.status", ["pending"]),
    ("?event=message&session=alpha", ["failed", "delivered"]),
    ("?status=pending", ["other", "pending"]),
    ("?status=failed", ["failed"]),
    ("?status=delivered&session=beta", []),
    ("?limit=2", ["other", "pending"]),
    ("?limit=2&offset=2", ["failed", "delivered"]),
    ("?offset=3", ["delivered"]),
    ("?offset=10", []),
    ("?session=alpha&limit=1&offset=1", ["failed"]),
])
async def test_the_list_filters_and_pages(api: httpx.AsyncClient,
                                          history: dict[str, dict[str, Any]], query: str,
                                          expected: list[str]) -> None:
    assert ids(await listed(api, query)) == [history[key]["id"] for key in expected]


@pytest.mark.parametrize("query", ["?session=", "?event=", "?status=", "?limit=", "?offset=",
                                   "?session=&status=&limit=&offset="])
async def test_an_empty_query_value_means_not_given(api: httpx.AsyncClient,
                                                   history: dict[str, dict[str, Any]],
                                                   query: str) -> None:
    assert ids(await listed(api, query)) == ids(await listed(api))


@pytest.mark.parametrize(("query", "field"), [
    ("?status=lost", "status"),
    ("?session=" + "s" * 55, "session"),
    ("?event=" + "e" * 65, "event"),
    ("?limit=0", "limit"),
    ("?limit=1001", "limit"),
    ("?limit=ten", "limit"),
    ("?offset=-1", "offset"),
    ("?offset=1000000001", "offset"),
])
async def test_a_bad_filter_answers_400_naming_it(api: httpx.AsyncClient, query: str,
                                                 field: str) -> None:
    response = await api.get(f"/api/webhooks/deliveries{query}")

    assert response.status_code == 400
    body = response.json()
    assert (body["statusCode"], body["error"]) == (400, "Bad Request")
    assert any(message.startswith(f"{field}: ") for message in body["message"]), body


async def test_a_bad_filter_is_told_in_the_words_of_the_rest_of_the_api(
        api: httpx.AsyncClient) -> None:
    status = await api.get("/api/webhooks/deliveries?status=lost")
    session = await api.get("/api/webhooks/deliveries?session=" + "s" * 55)

    assert status.json()["message"] == ['status: "lost" is not a valid choice.']
    assert session.json()["message"] == [
        "session: Ensure this field has no more than 54 characters."]


# --- one delivery -----------------------------------------------------------------------------
async def test_the_detail_has_the_payload_and_every_attempt(
        api: httpx.AsyncClient, history: dict[str, dict[str, Any]]) -> None:
    [row] = await listed(api, "?status=failed")

    response = await api.get(f"/api/webhooks/deliveries/{row['id']}")

    assert response.status_code == 200
    detail = response.json()
    assert set(detail) == DELIVERY_KEYS | {"payload", "attemptList"}
    assert {key: detail[key] for key in DELIVERY_KEYS} == row
    assert detail["payload"] == history["failed"]
    [only] = detail["attemptList"]
    assert set(only) == {"number", "timestamp", "statusCode", "durationMs", "responseBody",
                         "error"}
    assert (only["number"], only["statusCode"], only["responseBody"], only["error"]) == (
        1, 500, "broken", None)
    assert only["timestamp"] >= detail["createdAt"]
    assert isinstance(only["durationMs"], int)


async def test_a_pending_delivery_has_no_attempts_yet(
        api: httpx.AsyncClient, history: dict[str, dict[str, Any]]) -> None:
    [row] = await listed(api, "?status=pending&session=alpha")

    detail = (await api.get(f"/api/webhooks/deliveries/{row['id']}")).json()

    assert detail["attemptList"] == []
    assert detail["payload"]["event"] == "session.status"
    assert detail["nextAttemptAt"] is not None


@pytest.mark.parametrize("path", ["/api/webhooks/deliveries/999999",
                                  "/api/webhooks/deliveries/999999/redeliver"])
async def test_an_unknown_delivery_is_404(api: httpx.AsyncClient, path: str) -> None:
    method = "POST" if path.endswith("redeliver") else "GET"

    response = await api.request(method, path)

    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "message": "Delivery not found",
                               "error": "Not Found"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/webhooks/deliveries"),
    ("GET", "/api/webhooks/deliveries/1"),
    ("POST", "/api/webhooks/deliveries/1/redeliver"),
])
async def test_every_route_needs_the_api_key(api: httpx.AsyncClient, method: str,
                                             path: str) -> None:
    request = api.build_request(method, path)
    del request.headers["X-Api-Key"]

    without = await api.send(request)
    wrong = await api.request(method, path, headers={"X-Api-Key": "not-the-key"})

    assert (without.status_code, wrong.status_code) == (401, 401)


# --- sending again ----------------------------------------------------------------------------
async def test_redeliver_sends_the_same_event_again_as_a_new_delivery(
        api: httpx.AsyncClient, receiver: Receiver, worker: EmbeddedWorker) -> None:
    await create(api, "alpha", hook(receiver.url(), hmac={"key": "k3y"}))
    envelope = await publish("alpha")
    await wait_for(lambda: Delivery.objects.filter(status="delivered").aexists(),
                   message="the first delivery")
    [original] = await listed(api)

    response = await api.post(f"/api/webhooks/deliveries/{original['id']}/redeliver")

    assert response.status_code == 201
    copy = response.json()
    assert set(copy) == DELIVERY_KEYS
    assert copy["id"] != original["id"]
    assert (copy["eventId"], copy["event"], copy["session"], copy["url"]) == (
        envelope["id"], "message", "alpha", original["url"])
    assert (copy["status"], copy["attempts"]) == ("pending", 0)

    async def sent_again() -> bool:
        return receiver.count >= 2

    await wait_for(sent_again, message="the second request")
    first, second = receiver.requests
    assert second.headers["X-Webhook-Request-Id"] == envelope["id"]
    assert second.body == first.body
    assert json.loads(second.body) == envelope
    await wait_for(lambda: Delivery.objects.filter(pk=copy["id"], status="delivered").aexists(),
                   message="the copy to be delivered")
    rows = await listed(api)
    assert [(row["id"], row["status"], row["attempts"]) for row in rows] == [
        (copy["id"], "delivered", 1), (original["id"], "delivered", 1)]


async def test_a_failed_delivery_can_be_sent_again(
        api: httpx.AsyncClient, receiver: Receiver, history: dict[str, dict[str, Any]],
        worker: EmbeddedWorker) -> None:
    [failed] = await listed(api, "?status=failed")

    response = await api.post(f"/api/webhooks/deliveries/{failed['id']}/redeliver")

    assert response.status_code == 201
    copy = response.json()
    await wait_for(lambda: Delivery.objects.filter(pk=copy["id"], status="delivered").aexists(),
                   message="the copy to be delivered")
    # Once when it failed, once again now (the pending ones go out beside it).
    sent = [request.headers["X-Webhook-Request-Id"] for request in receiver.requests]
    assert sent.count(history["failed"]["id"]) == 2
    still = (await api.get(f"/api/webhooks/deliveries/{failed['id']}")).json()
    assert (still["status"], still["attempts"]) == ("failed", 1)


# --- secrets ----------------------------------------------------------------------------------
async def test_a_url_password_is_masked_in_every_answer_and_sent_in_full(
        api: httpx.AsyncClient, receiver: Receiver, worker: EmbeddedWorker) -> None:
    url = receiver.url().replace("http://", "http://bob:url-secret@")
    shown = receiver.url().replace("http://", "http://bob:••••••@")
    await create(api, "alpha", hook(url, retries=NO_RETRIES))
    await publish("alpha")
    await wait_for(lambda: Delivery.objects.filter(status="delivered").aexists(),
                   message="the delivery")

    [row] = await listed(api)
    detail = await api.get(f"/api/webhooks/deliveries/{row['id']}")
    again = await api.post(f"/api/webhooks/deliveries/{row['id']}/redeliver")

    assert row["url"] == shown
    assert detail.json()["url"] == shown
    assert again.json()["url"] == shown
    for answer in (detail, again):
        assert "url-secret" not in answer.text
    [request] = receiver.requests[:1]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        b"bob:url-secret").decode()


# --- a session deleted, and another of the same name ------------------------------------------
async def test_a_new_session_of_a_deleted_ones_name_lists_only_its_own_deliveries(
        api: httpx.AsyncClient, receiver: Receiver) -> None:
    await create(api, "alpha", hook(receiver.url(), retries=NO_RETRIES))
    before = await publish("alpha")
    assert (await api.delete("/api/sessions/alpha")).status_code == 200
    await create(api, "alpha", hook(receiver.url(), retries=NO_RETRIES))
    after = await publish("alpha")

    mine = await listed(api, "?session=alpha")
    everything = await listed(api)

    assert ids(mine) == [after["id"]]
    # The deleted session's delivery is kept for the record, under the name it had.
    assert ids(everything) == [after["id"], before["id"]]
    assert [row["session"] for row in everything] == ["alpha", "alpha"]
