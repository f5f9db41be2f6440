"""`manage.py serve` on a port another process holds: a non-zero exit and one clear line, so a
supervisor or a script notices."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live_server import API_KEY, PROJECT_ROOT, clean_environment

pytestmark = pytest.mark.e2e


def test_serve_exits_non_zero_with_one_line_naming_the_taken_port(data_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = clean_environment({"WAHA_LOCAL_STORE_BASE_DIR": str(data_dir),
                                 "WAHA_API_KEY": API_KEY, "WAHA_ENGINE": "fake",
                                 "PORT": str(port)})

        done = subprocess.run([sys.executable, "manage.py", "serve"], cwd=PROJECT_ROOT,
                              env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120, check=False)

    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"CommandError: cannot listen on 127.0.0.1:{port}: "), line
    assert "address already in use" in line.lower()
    assert "WAHA listening" not in done.stdout
