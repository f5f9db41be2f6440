"""The one function that decides the wait before a retry (API.md, Webhooks)."""

from __future__ import annotations

import random

from .models import RetryPolicy

JITTER = 0.2
# Longer is no retry in practice, and a receiver's Retry-After (or a far exponential retry) must
# not push the next attempt past what a datetime holds: that failed the attempt after sending it.
MAX_WAIT_SECONDS = 365 * 86_400.0


def retry_wait(policy: str, delay_seconds: float, retry_number: int,
               retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry `retry_number` (1-based).

    constant d; linear n·d; exponential d·2^(n-1) plus 0-20 % jitter. A larger Retry-After wins.
    Never more than MAX_WAIT_SECONDS.
    """
    if policy == RetryPolicy.LINEAR:
        wait = retry_number * delay_seconds
    elif policy == RetryPolicy.EXPONENTIAL:
        base = delay_seconds * 2 ** (retry_number - 1)
        wait = base * (1 + (rng or random).uniform(0, JITTER))
    else:
        wait = float(delay_seconds)
    if retry_after is not None and retry_after > wait:
        wait = retry_after
    return min(wait, MAX_WAIT_SECONDS)
