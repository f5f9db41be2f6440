"""`python manage.py serve` as a real child process on 127.0.0.1, for e2e tests and benches.

No pytest here: `bench/` imports it too. The child gets a clean environment (nothing of the
caller's WAHA_*, WHATSAPP_* or DJANGO_* variables, so never the test settings) plus what the
caller passes, and its output goes to a file in its data directory (a pipe nobody reads would
fill up and block it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "e2e-api-key-5b1f0c3a"
INHERITED_PREFIXES = ("WAHA_", "WHATSAPP_", "DJANGO_")
NOT_INHERITED = {"PORT", "DATABASE_URL", "REDIS_URL", "DEBUG", "ALLOWED_HOSTS"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(INHERITED_PREFIXES) and key not in NOT_INHERITED
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class ServerFailed(RuntimeError):
    """The child exited or never answered /ping; the message ends with its output."""


class LiveServer:
    """One `serve` child. `start()` waits for /ping; `terminate()` is SIGTERM and a wait."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None,
                 api_key: str = API_KEY, engine: str | None = "fake") -> None:
        self.data_dir = data_dir
        self.engine = engine  # None: WAHA_ENGINE unset, the product's default
        self.api_key = api_key
        self.extra_env = dict(env or {})
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "serve.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        engine = {"WAHA_ENGINE": self.engine} if self.engine else {}
        return clean_environment({
            "WAHA_LOCAL_STORE_BASE_DIR": str(self.data_dir),
            "WAHA_API_KEY": self.api_key,
            "PORT": str(self.port),
            **engine,
            **self.extra_env,
        })

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the child without waiting for it: the README's run command, final step."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        with self.log_path.open("ab") as log:
            log.write(f"--- serve on port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve"],
                cwd=PROJECT_ROOT, env=self.environment(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        return self.process

    def start(self, timeout: float = 60.0, attempts: int = 3) -> LiveServer:
        """Spawn and wait for /ping. A port taken between probe and bind is tried again."""
        for attempt in range(attempts):
            self.spawn()
            try:
                self.wait_ready(timeout)
                return self
            except ServerFailed as exc:
                self.kill()
                if "address already in use" not in str(exc).lower() or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerFailed(f"serve exited with {self.process.returncode}:\n"
                                       f"{self.output()}")
                try:
                    if client.get(f"{self.base_url}/ping").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise ServerFailed(f"serve did not answer /ping within {timeout:g} s:\n{self.output()}")

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-Api-Key": self.api_key},
                            timeout=timeout)

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then wait; the exit code, or None if it was still running at the deadline."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """The teardown that always works: SIGKILL our child if it is still there."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
