"""The two log formats and `log_context`, on real LogRecords from a real logger."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from waha_project.logs import JsonFormatter, TextFormatter, log_context, redact_url


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("waha.tests.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_time_level_logger_message_and_the_context(logged):
    logger, stream, handler = logged
    handler.setFormatter(JsonFormatter())

    with log_context(session="alpha", event_id="evt_1"):
        logger.info("hello %s", "world", extra={"delivery_id": 7})
    logger.warning("outside")

    first, second = json_lines(stream)
    assert first["level"] == "INFO"
    assert first["logger"] == "waha.tests.observability"
    assert first["message"] == "hello world"
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert (first["session"], first["event_id"], first["delivery_id"]) == ("alpha", "evt_1", 7)
    assert set(second) == {"time", "level", "logger", "message"}


def test_an_exception_stays_on_one_json_line(logged):
    logger, stream, handler = logged
    handler.setFormatter(JsonFormatter())

    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logger.exception("it failed")

    assert len(stream.getvalue().splitlines()) == 1
    [entry] = json_lines(stream)
    assert "Traceback" in entry["exception"]
    assert "ValueError: bad\nvalue" in entry["exception"]


def test_contexts_nest_and_extra_wins(logged):
    logger, stream, handler = logged
    handler.setFormatter(JsonFormatter())

    with log_context(session="outer", worker_id="engine-1"):
        with log_context(session="inner", delivery_id=None):
            logger.info("inner")
        logger.info("outer", extra={"worker_id": "explicit"})

    inner, outer = json_lines(stream)
    assert inner["session"] == "inner" and inner["worker_id"] == "engine-1"
    assert "delivery_id" not in inner
    assert outer["session"] == "outer" and outer["worker_id"] == "explicit"


async def test_the_context_follows_asyncio_tasks_without_leaking_between_them(logged):
    logger, stream, handler = logged
    handler.setFormatter(JsonFormatter())

    async def work(name: str) -> None:
        with log_context(session=name):
            await asyncio.sleep(0.01)
            logger.info("done")

    await asyncio.gather(work("a"), work("b"))
    logger.info("after")

    assert sorted(e.get("session", "-") for e in json_lines(stream)) == ["-", "a", "b"]


def test_objects_passed_as_extra_are_left_out(logged):
    """Django's `request` would print its query string, where `x-api-key` may be."""
    logger, stream, handler = logged
    handler.setFormatter(JsonFormatter())

    class Request:
        def __str__(self) -> str:
            return "GET /api/sessions?x-api-key=s3cret"

    logger.error("Internal Server Error: /api/sessions",
                 extra={"request": Request(), "status_code": 500})

    [entry] = json_lines(stream)
    assert "s3cret" not in stream.getvalue()
    assert entry["status_code"] == 500


def test_a_text_line_ends_with_the_known_fields(logged):
    logger, stream, handler = logged
    handler.setFormatter(TextFormatter())

    with log_context(session="alpha", event_id="evt_1"):
        logger.info("hello")
    logger.info("plain")

    with_context, plain = stream.getvalue().splitlines()
    assert with_context.endswith("INFO waha.tests.observability: hello "
                                 "[session=alpha event_id=evt_1]")
    assert plain.endswith("INFO waha.tests.observability: plain")


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pa55@hooks.example.com/x?y=1", "https://***@hooks.example.com/x?y=1"),
    ("http://token@127.0.0.1:8080/hook", "http://***@127.0.0.1:8080/hook"),
    ("https://hooks.example.com/x", "https://hooks.example.com/x"),
])
def test_credentials_in_a_url_are_never_shown(url, shown):
    assert redact_url(url) == shown
