"""POST /api/server/stop: the request is checked before anything stops (the stop itself is in
tests/e2e/test_server_stop.py, on a real process)."""

from __future__ import annotations

import pytest

from waha_project import process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stops(monkeypatch):
    """What was asked of `stop_soon`: this process is the test runner and must stay up."""
    asked: list[bool] = []
    monkeypatch.setattr(process, "stop_soon", lambda force: asked.append(force))
    return asked


@pytest.mark.parametrize(("body", "force"), [({}, False), ({"force": None}, False),
                                             ({"force": False}, False), ({"force": True}, True)])
async def test_a_stop_answers_201_stopping_and_stops_gracefully_unless_forced(
    api, stops, body, force
):
    response = await api.post("/api/server/stop", json=body)

    assert response.status_code == 201
    assert response.json() == {"stopping": True}
    assert stops == [force]


@pytest.mark.parametrize(("body", "message"), [
    ({"force": "yes"}, "force: must be a boolean (true or false)"),
    ({"force": 1}, "force: must be a boolean (true or false)"),
    ([], "body: must be a JSON object, got an array"),
])
async def test_a_bad_body_is_a_400_naming_the_field_and_stops_nothing(api, stops, body, message):
    response = await api.post("/api/server/stop", json=body)

    assert response.status_code == 400
    assert response.json()["message"] == [message]
    assert stops == []


async def test_a_stop_needs_the_api_key(api, stops):
    response = await api.post("/api/server/stop", json={}, headers={"X-Api-Key": "wrong"})

    assert response.status_code == 401
    assert stops == []
