"""Under a storm of conflicting lifecycle calls, each answer says what its own request did,
never what a later request on the same session wrote."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest

from sessions_app.models import Session, SessionStatus

pytestmark = pytest.mark.django_db(transaction=True)

ACTIONS = ("start", "stop", "restart", "logout")


def shuffled(names: list[str], actions: tuple[str, ...], count: int, seed: int
             ) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(rng.choice(names), rng.choice(actions)) for _ in range(count)]


async def storm(api: httpx.AsyncClient, calls: list[tuple[str, str]]
                ) -> list[tuple[str, dict[str, Any]]]:
    """The calls at once: the ASGI handler runs each request's view on its own thread."""
    answers = await asyncio.gather(
        *(api.post(f"/api/sessions/{name}/{action}") for name, action in calls)
    )
    assert [answer.status_code for answer in answers] == [201] * len(calls)
    return [(action, answer.json()) for (_, action), answer in zip(calls, answers, strict=True)]


def wrong(answers: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Start and restart leave the session wanted running, stop leaves it stopped; logout
    keeps whichever it found and forgets the account."""
    seen = []
    for action, body in answers:
        status = body["status"]
        if action in ("start", "restart"):
            right = status != SessionStatus.STOPPED
        elif action == "stop":
            right = status == SessionStatus.STOPPED
        else:
            right = status in (SessionStatus.STOPPED, SessionStatus.STARTING) and not body["me"]
        if not right:
            seen.append(f"{body['name']}: {action} answered {status}")
    return seen


async def test_each_answer_of_a_storm_of_calls_on_one_session_says_what_its_request_did(api):
    await api.post("/api/sessions", json={"name": "storm", "start": False})
    seen = []
    for seed in range(10):
        seen += wrong(await storm(api, shuffled(["storm"], ACTIONS, 100, seed)))
    assert seen == []


async def test_stops_of_sessions_their_lost_engine_left_working_answer_stopped_amid_starts(api):
    """Such a stop records STOPPED itself, as the first stop of each session in each round
    here does; its answer is still the state it wrote, not a start that came after."""
    names = [f"orphan{n}" for n in range(20)]
    for name in names:
        await api.post("/api/sessions", json={"name": name, "start": False})
    lost = Session.objects.filter(name__in=names)
    seen = []
    for seed in range(5):
        await lost.aupdate(status=SessionStatus.WORKING, owner="", lease_expires_at=None)
        answers = await storm(api, shuffled(names, ("start", "stop"), 200, seed))
        seen += wrong([(action, body) for action, body in answers if action == "stop"])
    assert seen == []
