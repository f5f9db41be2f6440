"""Each retry policy's schedule, exactly as API.md states it."""

from __future__ import annotations

import random

import pytest

from webhooks_app.retries import retry_wait


def test_constant_waits_the_delay_every_time():
    assert [retry_wait("constant", 2, n) for n in range(1, 6)] == [2, 2, 2, 2, 2]


def test_linear_waits_n_times_the_delay():
    assert [retry_wait("linear", 3, n) for n in range(1, 6)] == [3, 6, 9, 12, 15]


def test_exponential_doubles_with_up_to_twenty_percent_jitter():
    rng = random.Random(7)
    for n in range(1, 10):
        base = 2 * 2 ** (n - 1)
        wait = retry_wait("exponential", 2, n, rng=rng)
        assert base <= wait <= base * 1.2


def test_exponential_jitter_is_really_spread():
    rng = random.Random(1)
    waits = {round(retry_wait("exponential", 10, 1, rng=rng), 3) for _ in range(50)}
    assert len(waits) > 40
    assert min(waits) < 10.5 and max(waits) > 11.5


@pytest.mark.parametrize("policy", ["constant", "linear", "exponential"])
def test_a_larger_retry_after_wins(policy):
    assert retry_wait(policy, 2, 1, retry_after=120) == 120


def test_a_smaller_retry_after_does_not_shorten_the_wait():
    assert retry_wait("linear", 5, 3, retry_after=1) == 15
