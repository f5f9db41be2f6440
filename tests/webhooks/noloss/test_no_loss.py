"""No webhook event is lost when a worker dies or the broker restarts empty.

The scaled topology runs for real: PostgreSQL (a throw-away database on 127.0.0.1:5432), our
own redis-server as broker and channel layer, a `celery worker` (threads) and `celery beat`
running the sweeper, all child processes. The product is driven only from children too: a
publishing child (`tests.support.stack.publish_main`) creates a session with a webhook for
"*" and publishes 1,000 `message.any` events, one transaction each. The test process never
configures Django for that database (pytest-django keeps its own test settings); it reads the
delivery rows with plain psycopg, and a loopback receiver counts arrivals by
X-Webhook-Request-Id.

Each scenario waits (bounded) until every delivery row is delivered, then checks that every
published event id arrived at least once and prints events / distinct arrivals / duplicates
(shown with -s, and in the terminal summary either way). Duplicates are allowed: delivery is
at least once, and a send cut short by a kill is sent again once its claim runs out
(send timeout + 30 s). The figures are printed, never asserted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.support.receiver import Receiver, Reply
from tests.support.stack import Stack, ThrowawayDatabase

# Room for the bounded waits below to fail first, with their own message and the children's logs.
pytestmark = pytest.mark.timeout(240)

EVENTS = 1000
SETTLE_SECONDS = 90.0


def wait_until(condition: Callable[[], bool], timeout: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{stack.logs()}")


def wait_all_delivered(database: ThrowawayDatabase, session: str, stack: Stack) -> None:
    seen: dict[str, int] = {}

    def settled() -> bool:
        nonlocal seen
        seen = database.delivery_counts(session)
        return seen.get("delivered", 0) == EVENTS

    try:
        wait_until(settled, SETTLE_SECONDS, f"{EVENTS} delivered rows", stack)
    except AssertionError as exc:
        raise AssertionError(f"deliveries by status: {seen}\n{exc}") from None
    assert seen == {"delivered": EVENTS}


def arrivals(receiver: Receiver, published: list[str]) -> tuple[int, int]:
    """(distinct published ids that arrived, duplicate arrivals); fails on a missing id."""
    arrived = Counter(request.headers["X-Webhook-Request-Id"] for request in receiver.requests)
    missing = set(published) - set(arrived)
    unexpected = set(arrived) - set(published)
    assert not missing, f"{len(missing)} event(s) never arrived, e.g. {sorted(missing)[:5]}"
    assert not unexpected, f"ids nobody published arrived: {sorted(unexpected)[:5]}"
    return len(arrived), sum(arrived.values()) - len(arrived)


def test_every_event_arrives_when_the_worker_is_sigkilled_while_deliveries_flow(
    database: ThrowawayDatabase, stack: Stack, receiver: Receiver,
    report: Callable[[str], None],
) -> None:
    receiver.default = Reply(delay=0.02)  # so sends are in flight when the kill lands
    stack.start_redis()
    stack.start_worker()
    stack.start_beat()
    publisher = stack.start_publisher("worker-killed", receiver.url(), EVENTS)

    wait_until(lambda: receiver.count >= EVENTS // 4, 60, "the first arrivals", stack)
    stack.kill_worker()
    arrived_at_kill = receiver.count
    still_publishing = publisher.child.running
    pending_at_kill = EVENTS - database.delivery_counts("worker-killed").get("delivered", 0)
    killed = time.monotonic()
    stack.start_worker()

    published = publisher.result()["ids"]
    assert isinstance(published, list) and len(published) == EVENTS
    assert arrived_at_kill < EVENTS  # the kill landed while deliveries flowed
    wait_all_delivered(database, "worker-killed", stack)
    distinct, duplicates = arrivals(receiver, published)

    report(f"no-loss (worker killed): {EVENTS} events, {distinct} arrived, "
           f"{duplicates} duplicates (killed after {arrived_at_kill} arrivals, "
           f"{pending_at_kill} rows pending, publisher "
           f"{'still running' if still_publishing else 'done'}; all delivered "
           f"{time.monotonic() - killed:.1f} s after the kill)")


def test_every_event_arrives_when_redis_is_sigkilled_and_restarts_empty_with_deliveries_pending(
    database: ThrowawayDatabase, stack: Stack, receiver: Receiver,
    report: Callable[[str], None],
) -> None:
    # Slower than publishing, so a backlog waits when Redis goes: the worker has up to
    # WAHA_WEBHOOK_MAX_PER_TARGET requests in flight at once, so each answer takes a second.
    receiver.default = Reply(delay=1.0)
    stack.start_redis()
    stack.start_worker()
    stack.start_beat()
    published = stack.start_publisher("redis-restarted", receiver.url(), EVENTS).result()["ids"]
    assert isinstance(published, list) and len(published) == EVENTS

    stack.kill_redis()
    pending_at_kill = EVENTS - database.delivery_counts("redis-restarted").get("delivered", 0)
    arrived_at_kill = receiver.count
    killed = time.monotonic()
    stack.start_redis()  # same port, nothing in it
    receiver.default = Reply()
    assert pending_at_kill > 0  # the restart dropped queued deliveries

    wait_all_delivered(database, "redis-restarted", stack)
    distinct, duplicates = arrivals(receiver, published)

    report(f"no-loss (redis restarted empty): {EVENTS} events, {distinct} arrived, "
           f"{duplicates} duplicates (restarted after {arrived_at_kill} arrivals, "
           f"{pending_at_kill} rows pending; all delivered "
           f"{time.monotonic() - killed:.1f} s after the restart)")
