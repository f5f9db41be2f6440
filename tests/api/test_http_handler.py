"""The web role's HTTP handler (waha_project/http.py): one request, one worker thread, one hop.

Each test builds its own `SyncASGIHandler` on the project's middleware chain with the routes
below, and calls it in-process through httpx, as the server would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core import signals
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path

from sessions_app.models import Session
from waha_project.http import SyncASGIHandler

seen: dict[str, object] = {}
running = {"now": 0, "most": 0}
running_lock = threading.Lock()


async def loop_id() -> int:
    return id(asyncio.get_running_loop())


def where(request: HttpRequest) -> JsonResponse:
    seen["view"] = threading.get_ident()
    return JsonResponse({"thread": threading.current_thread().name,
                         "loop": async_to_sync(loop_id)()})


def count(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sessions": Session.objects.count()})


def slow(request: HttpRequest) -> HttpResponse:
    with running_lock:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
    time.sleep(0.1)
    with running_lock:
        running["now"] -= 1
    return HttpResponse("done")


def streamed(request: HttpRequest) -> StreamingHttpResponse:
    def parts() -> Iterator[bytes]:
        yield b"first,"
        seen["finished before the last part"] = "finished" in seen
        yield b"last"
    return StreamingHttpResponse(parts())


urlpatterns = [
    path("probe/where", where),
    path("probe/count", count),
    path("probe/slow", slow),
    path("probe/streamed", streamed),
]


@pytest.fixture(autouse=True)
def probes(settings) -> Iterator[None]:
    settings.ROOT_URLCONF = __name__
    seen.clear()
    running.update(now=0, most=0)

    def started(**kwargs: object) -> None:
        seen["started"] = threading.get_ident()

    def finished(**kwargs: object) -> None:
        seen["finished"] = threading.get_ident()

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


@asynccontextmanager
async def client(threads: int) -> AsyncIterator[tuple[SyncASGIHandler, httpx.AsyncClient]]:
    handler = SyncASGIHandler(threads=threads)
    transport = httpx.ASGITransport(app=handler)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield handler, http
    finally:
        handler.executor.shutdown(wait=True)


@pytest.mark.django_db(transaction=True)
async def test_a_request_is_served_on_one_worker_thread_from_its_start_to_its_end():
    async with client(threads=4) as (_, http):
        answer = await http.get("/probe/where")

    assert answer.status_code == 200
    assert answer.json()["thread"].startswith("waha-http")
    assert seen["started"] == seen["view"] == seen["finished"] != threading.get_ident()


@pytest.mark.django_db(transaction=True)
async def test_a_view_that_awaits_a_coroutine_runs_it_on_the_servers_loop():
    async with client(threads=4) as (_, http):
        answer = await http.get("/probe/where")

    assert answer.json()["loop"] == id(asyncio.get_running_loop())


@pytest.mark.django_db(transaction=True)
async def test_the_database_connection_is_closed_on_its_thread_before_the_answer_goes_out(
        monkeypatch: pytest.MonkeyPatch):
    # Kept for no time, as Django keeps a pooled one (the test database is SQLite, whose
    # connections every thread keeps).
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    async with client(threads=1) as (handler, http):
        answer = await http.get("/probe/count")
        # One thread: the one that served the request.
        still_open = handler.executor.submit(lambda: connection.connection is not None).result()

    assert answer.json() == {"sessions": 0}
    assert not still_open


@pytest.mark.django_db(transaction=True)
async def test_requests_beyond_the_threads_wait_for_one_and_are_all_answered():
    async with client(threads=2) as (_, http):
        answers = await asyncio.gather(*(http.get("/probe/slow") for _ in range(6)))

    assert [a.text for a in answers] == ["done"] * 6
    assert running["most"] == 2


@pytest.mark.django_db(transaction=True)
# Django's own warning for a synchronous iterator served over ASGI: it reads it whole first.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
async def test_a_streamed_answer_is_sent_whole_then_closed():
    async with client(threads=2) as (_, http):
        answer = await http.get("/probe/streamed")

    assert answer.text == "first,last"
    assert seen["finished before the last part"] is False
    assert "finished" in seen


@pytest.mark.django_db(transaction=True)
async def test_the_application_serves_http_through_this_handler():
    from waha_project.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer = await http.get("/probe/where")

    assert answer.json()["thread"].startswith("waha-http")
    assert isinstance(application.application_mapping["http"].application, SyncASGIHandler)
