"""After the move, the product runs on PostgreSQL with the moved data: the session that was
working comes back working (claimed by the new engine), its store and deliveries are there,
and new rows get fresh keys."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer
from tests.support.stack import ThrowawayDatabase

from .conftest import Embedded
from .helpers import move, pg_rows

pytestmark = pytest.mark.timeout(300)


def test_serve_on_the_moved_database_resumes_the_working_session(
        embedded: Embedded, target: ThrowawayDatabase, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(embedded.data_dir, data_dir)
    assert move(data_dir, target.url).returncode == 0
    (data_dir / "waha.sqlite3").unlink()  # what runs now cannot be reading the old database
    moved_deliveries = {row[0] for row in pg_rows(target.url,
                                                  "SELECT id FROM webhooks_app_delivery")}

    server = LiveServer(data_dir, env={"DATABASE_URL": target.url})
    try:
        server.start()
        with server.client() as api:
            deadline = time.monotonic() + 60
            while api.get("/api/sessions/alpha").json()["status"] != "WORKING":
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.1)
            alpha = api.get("/api/sessions/alpha").json()
            chats = api.get("/api/alpha/chats").json()
            listed = api.get("/api/webhooks/deliveries", params={"session": "alpha"}).json()
            created = api.post("/api/sessions", json={"name": "delta", "start": False})
            names = [s["name"] for s in api.get("/api/sessions", params={"all": "true"}).json()]
    finally:
        server.terminate(timeout=30)
        server.kill()

    assert alpha["config"]["metadata"] == {"team": "sales", "region": "eu"}
    assert sorted(chat["id"] for chat in chats) == [
        "15550000000@c.us", "15550000001@c.us", "15550000002@c.us"]
    assert moved_deliveries and moved_deliveries <= {row["id"] for row in listed}
    assert created.status_code == 201, created.text
    assert names == ["alpha", "beta", "delta", "gamma"]
    assert not (data_dir / "waha.sqlite3").exists()
