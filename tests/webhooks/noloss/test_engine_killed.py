"""No incoming message is lost when an engine process is SIGKILLed while messages flow.

The scaled topology as child processes (tests.support.topology.Topology): a throw-away PostgreSQL
database, our own Redis, two `run_engines` processes on the fake engine, a Celery worker and
beat, and a loopback receiver. The fake engine's shared server stands in for WhatsApp: messages
wait in each session's inbox until a live client has them kept by the runtime (the event and its
webhook deliveries committed), as WhatsApp redelivers what a client never acknowledged.

Four paired sessions with a webhook for `message` are spread over the two engines; 1,000
messages are queued for them over a few seconds, and once a quarter have arrived at the receiver
the engine holding the most sessions is killed. The survivor takes its sessions over when their
leases run out and drains their inboxes. Every message must arrive at least once (a message kept
but not yet acknowledged at the kill arrives twice, under the same envelope id: the count is
printed, never asserted), and no session is ever live in both engines.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessions_app.engines.fake import FakeServer
from tests.support.receiver import Receiver, Reply
from tests.support.topology import Topology

pytestmark = pytest.mark.timeout(300)

MESSAGES = 1000
SESSIONS = [f"inbox-{n}" for n in range(4)]
SETTINGS = {
    "WAHA_FAKE_PAIR_AFTER_SECONDS": "0",
    "WAHA_WEBHOOK_REQUEUE_SECONDS": "3",
    "WAHA_WEBHOOK_SWEEP_SECONDS": "0.5",
}


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    started = Topology(tmp_path / "topology", SETTINGS, db_prefix="waha_noloss_engine").start()
    try:
        yield started
    finally:
        started.stop()


def arrived_message_ids(receiver: Receiver) -> Counter[str]:
    return Counter(json.loads(request.body)["payload"]["id"] for request in receiver.requests)


def envelope_ids(receiver: Receiver) -> dict[str, set[str]]:
    """The envelope ids each message arrived under."""
    seen: dict[str, set[str]] = {}
    for request in receiver.requests:
        envelope = json.loads(request.body)
        seen.setdefault(envelope["payload"]["id"], set()).add(envelope["id"])
    return seen


def queue_messages(server: FakeServer, stop: threading.Event) -> list[str]:
    """What phones send: MESSAGES messages round-robin over the sessions, about 250 a second."""
    sent = []
    for n in range(MESSAGES):
        if stop.is_set():
            break
        message_id = f"NOLOSS{n:05d}"
        server.deliver(SESSIONS[n % len(SESSIONS)], n,
                       {"id": message_id, "from": "111@c.us", "body": f"message {n}"})
        sent.append(f"false_111@c.us_{message_id}")
        time.sleep(0.004)
    return sent


def test_every_message_arrives_when_an_engine_is_sigkilled_while_messages_flow(
    topology: Topology, receiver: Receiver, report: Callable[[str], None],
) -> None:
    receiver.default = Reply(delay=0.01)
    assert topology.stack is not None
    topology.stack.start_worker()
    topology.stack.start_beat()
    engines = [topology.start_engine("engine-a"), topology.start_engine("engine-b")]
    hooked = {"webhooks": [{"url": receiver.url(), "events": ["message"]}]}
    topology.call_services(("create_session", [name, hooked], {"start": True})
                           for name in SESSIONS)

    def all_working() -> bool:
        _, rows = topology.rows()
        return all(rows[name].status == "WORKING" and rows[name].owner for name in SESSIONS)

    topology.wait_until(all_working, 60, "every session WORKING")
    server = FakeServer(topology.server_dir)
    stop = threading.Event()
    sent: list[str] = []
    phones = threading.Thread(target=lambda: sent.extend(queue_messages(server, stop)))
    phones.start()
    try:
        topology.wait_until(lambda: receiver.count >= MESSAGES // 4, 60, "the first arrivals")
        _, rows = topology.rows()
        owned = Counter(rows[name].owner for name in SESSIONS)
        victim = max(engines, key=lambda engine: owned[engine.worker_id])
        survivor = next(engine for engine in engines if engine is not victim)
        victim.kill()
        killed = time.monotonic()
        arrived_at_kill = receiver.count
    finally:
        phones.join()

    assert len(sent) == MESSAGES

    def drained() -> bool:
        waiting = any(True for name in SESSIONS for _ in server.waiting(name))
        return not waiting and set(sent) <= set(arrived_message_ids(receiver))

    topology.wait_until(drained, 120, "every message at the receiver",
                        lambda: f"{len(set(arrived_message_ids(receiver)))} of {MESSAGES} arrived")
    _, rows = topology.rows()
    arrived = arrived_message_ids(receiver)
    duplicates = sum(arrived.values()) - len(arrived)

    assert set(arrived) == set(sent)
    assert [m for m, ids in envelope_ids(receiver).items() if len(ids) > 1] == []
    assert topology.registry.conflicts() == []
    assert {rows[name].owner for name in SESSIONS} == {survivor.worker_id}
    report(f"no-loss (engine killed): {MESSAGES} messages, {len(arrived)} arrived, "
           f"{duplicates} duplicates (killed {victim.worker_id} owning "
           f"{owned[victim.worker_id]} of {len(SESSIONS)} sessions after {arrived_at_kill} "
           f"arrivals; all arrived {time.monotonic() - killed:.1f} s after the kill)")
