"""Moments as WAHA's answers write them: milliseconds since the epoch."""

from __future__ import annotations

from datetime import datetime


def ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)
