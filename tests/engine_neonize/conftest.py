"""Fixtures for tests with the real neonize library loaded: the engine, a CONNECT proxy."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sessions_app.engines import get_engine
from sessions_app.engines.neonize_engine import NeonizeEngine
from sessions_app.runtime import EngineRuntime


@pytest.fixture
def neonize_engine(settings: Any, tmp_path: Path) -> Iterator[NeonizeEngine]:
    settings.ENGINE = "neonize"
    settings.DATA_DIR = tmp_path
    get_engine.cache_clear()
    engine = get_engine()
    assert isinstance(engine, NeonizeEngine)
    yield engine
    get_engine.cache_clear()


@pytest.fixture
async def neonize_runtime(neonize_engine: NeonizeEngine,
                          transactional_db: None) -> AsyncIterator[EngineRuntime]:
    rt = EngineRuntime(neonize_engine, worker_id="neonize-test", lease_seconds=5,
                       reconcile_seconds=0.2)
    await rt.start()
    yield rt
    await rt.shutdown()


@dataclass
class Recorder:
    """EngineCallbacks that remember what they were told, in order."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def qr(self, value: str, expires_in: float) -> None:
        self.calls.append(("qr", value))

    def working(self, me: dict[str, Any]) -> None:
        self.calls.append(("working", me))

    def starting(self, reason: str = "") -> None:
        self.calls.append(("starting", reason))

    def failed(self, reason: str) -> None:
        self.calls.append(("failed", reason))

    def event(self, name: str, payload: dict[str, Any]) -> None:
        self.calls.append(("event", (name, payload)))

    def history(self, batch: dict[str, Any]) -> None:
        self.calls.append(("history", batch))

    def paired(self, device_jid: str) -> None:
        self.calls.append(("paired", device_jid))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@dataclass
class ConnectProxy:
    """A loopback HTTP proxy that records each CONNECT request and refuses it with 407."""

    port: int = 0
    requests: list[bytes] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)

    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    proxy = ConnectProxy(port=server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                proxy.requests.append(head)
                proxy.received.set()
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield proxy
    stop.set()
    server.close()
    thread.join(2)
