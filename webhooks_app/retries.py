"""The one function that decides the wait before a retry (API.md, Webhooks)."""

from __future__ import annotations

import random

from sessions_app.models import RetryPolicy

JITTER = 0.2


def retry_wait(policy: str, delay_seconds: float, retry_number: int,
               retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry `retry_number` (1-based).

    constant d; linear n·d; exponential d·2^(n-1) plus 0-20 % jitter. A larger Retry-After wins.
    """
    if policy == RetryPolicy.LINEAR:
        wait = retry_number * delay_seconds
    elif policy == RetryPolicy.EXPONENTIAL:
        base = delay_seconds * 2 ** (retry_number - 1)
        wait = base * (1 + (rng or random).uniform(0, JITTER))
    else:
        wait = float(delay_seconds)
    if retry_after is not None and retry_after > wait:
        return retry_after
    return wait
