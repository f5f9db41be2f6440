"""Log records as text or as one JSON object per line, carrying what the work is about.

    with log_context(session="default", event_id=envelope["id"]):
        log.info("...")                      # the record carries session and event_id

`log_context` lives in a context variable, so it follows the code that set it: into functions
it calls, into asyncio tasks created inside it, and through asgiref's sync/async hops; never
into other threads or tasks. `extra=` fields on a single call are included too, and win over
the context. `WAHA_LOG_FORMAT` picks the formatter (settings.LOGGING).

Never put a secret in a log record: HMAC keys, API keys, custom header values, passwords in
URLs (`redact_url` strips them).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# The fields operators filter on, in the order a text line shows them.
CONTEXT_FIELDS = ("session", "event_id", "delivery_id", "worker_id")

_context: ContextVar[Mapping[str, Any]] = ContextVar("waha_log_context",
                                                    default=MappingProxyType({}))

# What every LogRecord has: anything else on a record came from `extra=` (or from log_context).
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName",
}
_PLAIN = (str, int, float, bool, list, tuple, dict, type(None))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every record logged inside the block (None values are left out)."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _context.reset(token)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context at the time of the call, then the record's own `extra=` fields.

    Only plain values are kept: an object passed as extra (Django's `request`, whose text
    holds the query string and so maybe `x-api-key`) is left out.
    """
    fields = dict(_context.get())
    fields.update((key, value) for key, value in record.__dict__.items()
                  if key not in _STANDARD and not key.startswith("_")
                  and isinstance(value, _PLAIN))
    return fields


def redact_url(url: str) -> str:
    """The URL without a user or password (`https://user:pass@host/` → `https://***@host/`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


class WithoutQueryString(logging.Filter):
    """Every path in a record's message (`"GET /path?query HTTP/1.1"`, `"WebSocket /ws?query"`,
    a websocket handshake at DEBUG) loses its query string, which may hold `x-api-key`."""

    PATH_QUERY = re.compile(r'(/[^\s?"]*)\?[^\s"]*')

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = self.PATH_QUERY.sub(r"\1", message), ()
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [session=... event_id=...]`, then the traceback if any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = record_fields(record)
        known = [f"{name}={fields[name]}" for name in CONTEXT_FIELDS
                 if fields.get(name) not in (None, "")]
        return f"{line} [{' '.join(known)}]" if known else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the context and
    `extra=` fields, and `exception` (the traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
