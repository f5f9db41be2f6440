"""A real HTTP receiver on 127.0.0.1 for webhook tests: records requests, answers as scripted.

    with Receiver() as receiver:
        receiver.fail_first(2)                      # 500, 500, then the default 200
        receiver.reply_with(Reply(302, headers={"Location": "/x"}))
        ... send to receiver.url() ...
        [request] = receiver.wait_for(1)

Each request takes the next scripted reply; when the script is used up, `default` answers.
`Receiver(keep_alive=True)` speaks HTTP/1.1 and keeps connections open between requests
(`Recorded.client_port` tells which connection a request came on).
"""

from __future__ import annotations

import collections
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class Headers(Mapping[str, str]):
    """Request headers, looked up by any case; a repeated header reads as its values joined."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items_in_order = items
        self._joined: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            self._joined[key] = f"{self._joined[key]}, {value}" if key in self._joined else value

    def __getitem__(self, name: str) -> str:
        return self._joined[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._joined)

    def __len__(self) -> int:
        return len(self._joined)

    def __repr__(self) -> str:
        return f"Headers({self.items_in_order!r})"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Headers
    body: bytes
    received_at: float  # time.time() when the body had been read
    client_port: int = 0  # the client's end of the connection


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    `delay`: seconds to wait before answering. `trickle`: seconds between single bytes of the
    body. `endless`: send the body (16 KiB of "x" if empty) again and again until the client
    hangs up; with `trickle`, an endless slow drip.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    trickle: float = 0.0
    endless: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog (5) drops the connections of a sender that opens dozens at
    # once, and their SYNs are resent only after a second.
    request_queue_size = 128
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on an endless body is expected, not worth a traceback


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection; an unsized body ends at close

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        receiver = self.server.receiver
        receiver._answering(+1)
        try:
            self._answer(receiver)
        finally:
            receiver._answering(-1)

    def _answer(self, receiver: Receiver) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = receiver._record(Recorded(
            method=self.command, path=self.path,
            headers=Headers([(k, v) for k, v in self.headers.items()]),
            body=body, received_at=time.time(), client_port=self.client_address[1],
        ))
        stopping = receiver._stopping
        if reply.delay and stopping.wait(reply.delay):
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if not reply.endless and not reply.trickle:
                self.send_header("Content-Length", str(len(reply.body)))
            elif self.protocol_version != "HTTP/1.0":  # an unsized body ends at close
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self._write_body(reply, stopping)
        except OSError:  # the client gave up: what a cut response looks like from here
            return

    def _write_body(self, reply: Reply, stopping: threading.Event) -> None:
        body = reply.body or (b"x" * 16384 if reply.endless else b"")
        chunks = [body[i:i + 1] for i in range(len(body))] if reply.trickle else [body]
        while not stopping.is_set():
            for chunk in chunks:
                if reply.trickle and stopping.wait(reply.trickle):
                    return
                self.wfile.write(chunk)
                self.wfile.flush()
            if not reply.endless:
                return

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"


class Receiver:
    """A ThreadingHTTPServer on a free port of 127.0.0.1; `tls` serves HTTPS instead.

    With TLS, `server_names` records the SNI name of every handshake (None when none was sent).
    """

    def __init__(self, tls: ssl.SSLContext | None = None, keep_alive: bool = False) -> None:
        self.default = Reply()
        self._tls = tls
        self._handler = _KeepAliveHandler if keep_alive else _Handler
        self._script: collections.deque[Reply] = collections.deque()
        self._requests: list[Recorded] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.server_names: list[str | None] = []
        self._active = 0
        self.most_at_once = 0  # the most requests it was answering at the same time

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Receiver:
        server = _Server(("127.0.0.1", 0), self._handler)
        server.receiver = self
        if self._tls is not None:
            self._tls.sni_callback = self._record_sni
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends delays and endless bodies still being answered
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- where it listens ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "the receiver is not started"
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    # --- what it answers ----------------------------------------------------------------------
    def reply_with(self, *replies: Reply, then: Reply | None = None) -> None:
        """Answer the next requests with `replies` in order, then with `then` (or the default)."""
        with self._changed:
            self._script.extend(replies)
            if then is not None:
                self.default = then

    def fail_first(self, n: int, status: int = 500) -> None:
        self.reply_with(*[Reply(status, body=b"failing")] * n)

    # --- what it received ---------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        with self._changed:
            return list(self._requests)

    @property
    def count(self) -> int:
        with self._changed:
            return len(self._requests)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Recorded]:
        """The requests once at least `n` have arrived; fails the test if they do not in time."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= n, timeout):
                raise AssertionError(
                    f"expected {n} request(s) within {timeout}s, got {len(self._requests)}")
            return list(self._requests)

    def _record_sni(self, _socket: ssl.SSLObject | ssl.SSLSocket, name: str | None,
                    _context: ssl.SSLContext) -> None:
        with self._changed:
            self.server_names.append(name)

    def _answering(self, change: int) -> None:
        with self._changed:
            self._active += change
            self.most_at_once = max(self.most_at_once, self._active)

    def _record(self, request: Recorded) -> Reply:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            return self._script.popleft() if self._script else self.default
