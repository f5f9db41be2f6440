"""Fixtures: one realistic embedded data directory for the package (the command only reads it),
and a throw-away PostgreSQL database per test as the target."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessions_app.engines.fake import FakeServer
from tests.support.live_server import LiveServer
from tests.support.receiver import Receiver
from tests.support.stack import ThrowawayDatabase

from .helpers import embedded_db, make_auth_store

DASHBOARD_PASSWORD = "moving-day-password"


@dataclass(frozen=True)
class Embedded:
    data_dir: Path
    uids: dict[str, str]  # session name -> uid
    jids: dict[str, str]  # session name -> the device JID in its whatsmeow file


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               server: LiveServer) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{server.output()}")
        time.sleep(0.05)


def status_of(api: httpx.Client, name: str) -> str:
    return str(api.get(f"/api/sessions/{name}").json()["status"])


def delivered(api: httpx.Client, session: str) -> int:
    rows = api.get("/api/webhooks/deliveries", params={"session": session, "limit": 100}).json()
    items = rows["results"] if isinstance(rows, dict) else rows
    return sum(1 for row in items if row["status"] == "delivered")


def populate(server: LiveServer, receiver: Receiver, fake_server: FakeServer) -> None:
    """Three sessions as people leave them: one working with a store, webhooks and messages,
    one paired then stopped, one never started."""
    with server.client() as api:
        alpha = {
            "metadata": {"team": "sales", "region": "eu"},
            "webhooks": [{"url": receiver.url(), "events": ["session.status", "message"],
                          "hmac": {"key": "alpha-hmac-secret"},
                          "retries": {"policy": "linear", "delaySeconds": 3, "attempts": 4},
                          "customHeaders": [{"name": "X-Team", "value": "sales"}]}],
            "noweb": {"store": {"enabled": True, "fullSync": False}},
        }
        assert api.post("/api/sessions", json={"name": "alpha", "config": alpha}
                        ).status_code == 201
        assert api.post("/api/sessions", json={"name": "beta", "config": {
            "metadata": {"owner": "bob"}}}).status_code == 201
        assert api.post("/api/sessions", json={"name": "gamma", "start": False}
                        ).status_code == 201
        wait_until(lambda: status_of(api, "alpha") == "WORKING", 60, "alpha WORKING", server)
        wait_until(lambda: status_of(api, "beta") == "WORKING", 60, "beta WORKING", server)
        assert api.post("/api/sessions/beta/stop").status_code == 201
        wait_until(lambda: status_of(api, "beta") == "STOPPED", 30, "beta STOPPED", server)

        for n in range(3):
            fake_server.deliver("alpha", n, {"from": f"1555000{n:04d}@c.us",
                                             "body": f"hello {n}", "id": f"MOVE{n:04d}",
                                             "timestamp": 1_700_000_000 + n})
        wait_until(lambda: len(api.get("/api/alpha/chats").json()) == 3, 60,
                   "alpha's store to keep the three chats", server)
        # session.status STARTING, SCAN_QR_CODE, WORKING, then one `message` per message.
        wait_until(lambda: delivered(api, "alpha") >= 6, 60, "alpha's deliveries", server)
    assert server.terminate(timeout=30) == 0, server.output()


@pytest.fixture(scope="package")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    root = tmp_path_factory.mktemp("embedded")
    data_dir = root / "data"
    fake_server = FakeServer(root / "whatsapp")
    server = LiveServer(data_dir, env={
        "WAHA_FAKE_PAIR_AFTER_SECONDS": "0.2",
        "WAHA_FAKE_SERVER_DIR": str(root / "whatsapp"),
        "WAHA_DASHBOARD_PASSWORD": DASHBOARD_PASSWORD,
        "WAHA_WEBHOOK_TIMEOUT_SECONDS": "5",
    })
    with Receiver() as receiver:
        try:
            server.start()
            populate(server, receiver, fake_server)
        finally:
            server.kill()
        assert json.loads(receiver.requests[-1].body)["session"] == "alpha"

    with embedded_db(data_dir) as db:
        sessions = dict(db.execute("SELECT name, uid FROM sessions_app_session").fetchall())
        [(alpha_jid,)] = db.execute(
            "SELECT device_jid FROM sessions_app_session WHERE name = 'alpha'").fetchall()
    assert alpha_jid.endswith(":7@s.whatsapp.net")
    # alpha: paired, its JID on its row. gamma: an auth store whose JID its row never got.
    jids = {"alpha": alpha_jid, "gamma": "15550009999:3@s.whatsapp.net"}
    make_auth_store(data_dir / "neonize" / f"{sessions['alpha']}.sqlite3", jids["alpha"], 1)
    make_auth_store(data_dir / "neonize" / f"{sessions['gamma']}.sqlite3", jids["gamma"], 2,
                    contact_name="Gus")
    yield Embedded(data_dir=data_dir, uids=sessions, jids=jids)


@pytest.fixture
def target() -> Iterator[ThrowawayDatabase]:
    db = ThrowawayDatabase(prefix="waha_move").create()
    try:
        yield db
    finally:
        db.drop()
