"""A bad WAHA_LOG_FORMAT, WAHA_METRICS_PORT or metrics address stops start-up with a message
naming the variable, and no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live_server import PROJECT_ROOT, clean_environment, free_port


def start_up(tmp_path: Path, command: str, **env: str) -> tuple[int, str]:
    process = subprocess.Popen(
        [sys.executable, "manage.py", command], cwd=PROJECT_ROOT,
        env=clean_environment({"WAHA_LOCAL_STORE_BASE_DIR": str(tmp_path / "data"),
                               "WAHA_API_KEY": "obs-api-key-3d81c7", "WAHA_ENGINE": "fake",
                               "PORT": str(free_port()), **env}),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # it started after all: the assertions below say so
            process.kill()
            process.wait(10)
    return process.returncode, output.decode(errors="replace")


@pytest.mark.parametrize(("variable", "raw", "expected"), [
    ("WAHA_LOG_FORMAT", "xml", "WAHA_LOG_FORMAT: expected one of text, json, got 'xml'"),
    ("WAHA_METRICS_PORT", "abc", "WAHA_METRICS_PORT: expected a whole number, got 'abc'"),
    ("WAHA_METRICS_PORT", "70000", "WAHA_METRICS_PORT: must be at least 1 and at most 65535"),
])
def test_a_bad_value_stops_serve_naming_the_variable(tmp_path, variable, raw, expected):
    code, output = start_up(tmp_path, "serve", **{variable: raw})

    assert code == 2, output
    assert f"Configuration error: {expected}" in output
    assert "Traceback" not in output
    assert "WAHA listening" not in output


def test_a_metrics_port_in_use_stops_the_engine_process_naming_the_variable(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        code, output = start_up(tmp_path, "run_engines", WAHA_METRICS_PORT=str(port))

    assert code == 2, output
    assert f"Configuration error: WAHA_METRICS_PORT: cannot listen on 127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_a_metrics_host_that_does_not_resolve_stops_the_engine_process_naming_it(tmp_path):
    code, output = start_up(tmp_path, "run_engines", WAHA_METRICS_PORT=str(free_port()),
                            WAHA_METRICS_HOST="no-such-host.invalid")

    assert code == 2, output
    assert "Configuration error: WAHA_METRICS_HOST: cannot listen on no-such-host.invalid:" \
        in output
    assert "Traceback" not in output
