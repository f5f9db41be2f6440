"""Without DATABASE_URL or REDIS_URL the Procfile stops at once, naming the variable.

Started anyway, each role would quietly use the embedded default's SQLite file or in-memory
layers, private to its own process: nothing would reach anything. `prepare_role` refuses
before any role opens a database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.live_server import free_port
from tests.support.stack import product_environment

from .helpers import honcho, honcho_environment

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize(("missing", "message"), [
    ("DATABASE_URL", "DATABASE_URL is not set: each process would open its own SQLite file"),
    ("REDIS_URL", "REDIS_URL is not set: the channel layer and the Celery broker would be "
                  "in-memory"),
])
def test_honcho_stops_every_role_and_names_the_missing_variable(
        tmp_path: Path, missing: str, message: str) -> None:
    data_dir = tmp_path / "data"
    # Nothing needs to listen there: the check comes before any connection.
    urls = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/waha_never_created",
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    del urls[missing]
    env = product_environment(data_dir, urls.get("DATABASE_URL"), urls.get("REDIS_URL"))
    child = honcho(honcho_environment(env, free_port()), tmp_path).start()

    code = child.wait(120)

    log = child.output()
    assert code != 0, log
    assert message in log
    assert "To run every role in one process on the embedded default instead" in log
    assert not (data_dir / "waha.sqlite3").exists()
    for role in ("web", "engine", "worker", "beat"):
        assert f"{role}.1 stopped" in log, log
