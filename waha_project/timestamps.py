"""Moments as WAHA's answers write them: milliseconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    """The moment `value` milliseconds after the epoch, in UTC (exact: no float on the way)."""
    seconds, millis = divmod(value, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(milliseconds=millis)


# The last millisecond a `datetime` holds (9999-12-31T23:59:59.999Z).
MAX_MS = 253_402_300_799_999
