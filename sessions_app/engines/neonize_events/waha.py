"""What every translation produces: (WAHA event name, payload) pairs, times in unix seconds."""

from __future__ import annotations

import time
from typing import Any

Event = tuple[str, dict[str, Any]]


def seconds(value: int) -> int | None:
    """Unix seconds from seconds or milliseconds; None for Go's zero time."""
    if value <= 0:
        return None
    return value // 1000 if value > 100_000_000_000 else value


def ms_or_now(value: int) -> int:
    """Unix milliseconds from seconds or milliseconds; now for Go's zero time."""
    found = seconds(value)
    return found * 1000 if found else int(time.time() * 1000)
