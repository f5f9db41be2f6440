"""A throw-away nginx on loopback, as the webhook receiver of the benches.

    from bench.nginx import Nginx

    with Nginx(workdir).start() as nginx:
        url = nginx.url("/hook/run/session")   # POST → 204
        hits = nginx.hits()                    # every request logged so far, parsed

    with Nginx(workdir, ports=4).start() as nginx:
        url = nginx.url("/hook/t3/session", 3)  # the fourth of its ports

Debian's `nginx-light` (installed with apt-get when /usr/sbin/nginx is missing; sudo only when
not root). nginx runs as one process (`master_process off`, `daemon off`), a child of the bench
that the kernel kills with it (`PR_SET_PDEATHSIG`): with a master, the workers would outlive a
bench that died without its teardown. Its prefix, configuration, logs and temporary paths are
all in `workdir`. It listens on one loopback port, or on `ports` of them: each port is an origin
of its own (`scheme://host:port`), which is what the product calls a target (its connection pool,
its cap of sends in flight, its circuit breaker).

Every POST under /hook is answered 204 without a body, on kept-alive connections. The access
log has one line per request with what the benches count: the time nginx finished it (`$msec`,
milliseconds), the status, the URI, the connection's serial number and how many requests that
connection has carried, the request's length (request line, headers and body), the webhook's
`X-Webhook-Request-Id` and `X-Webhook-Timestamp` (the envelope's, ms), and the User-Agent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.support.stack import die_with_parent

NGINX = Path("/usr/sbin/nginx")
PACKAGE = "nginx-light"
LOG_FORMAT = ("$msec $status $request_uri $connection $connection_requests $request_length "
              "$http_x_webhook_request_id $http_x_webhook_timestamp $http_user_agent")
CONFIG = """\
master_process off;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 8192;
}}

http {{
    log_format bench '{log_format}';
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;

    server {{
{listen}
        access_log {dir}/access.log bench;

        location /hook {{
            return 204;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Hit:
    """One request as nginx logged it."""

    at: float  # epoch seconds, millisecond resolution
    status: int
    uri: str
    connection: int
    connection_requests: int
    length: int
    event_id: str  # "-" when the header was absent
    event_ms: int | None
    user_agent: str

    @classmethod
    def parse(cls, line: str) -> Hit:
        at, status, uri, conn, conn_requests, length, event_id, event_ms, agent = line.split(
            " ", 8)
        return cls(float(at), int(status), uri, int(conn), int(conn_requests), int(length),
                   event_id, None if event_ms == "-" else int(event_ms), agent)


def ensure_installed() -> Path:
    """/usr/sbin/nginx, installing Debian's nginx-light first when it is missing."""
    if NGINX.exists():
        return NGINX
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {PACKAGE} (apt-get) ...", flush=True)
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]):
        subprocess.run([*sudo, *argv], env=env, check=True, stdin=subprocess.DEVNULL)
    if not NGINX.exists():
        raise RuntimeError(f"{PACKAGE} installed but {NGINX} is missing")
    return NGINX


class Nginx:
    """One nginx child; `start()` returns once it accepts connections."""

    def __init__(self, workdir: Path, ports: int = 1) -> None:
        self.dir = workdir / "nginx"
        self.port_count = ports
        self.ports: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._offset = 0
        self._partial = b""
        self._hits: list[Hit] = []

    @property
    def access_log(self) -> Path:
        return self.dir / "access.log"

    @property
    def port(self) -> int:
        return self.ports[0]

    def url(self, path: str, port_index: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[port_index]}{path}"

    def start(self, timeout: float = 10.0, attempts: int = 3) -> Nginx:
        binary = ensure_installed()
        for attempt in range(attempts):
            self._spawn(binary)
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as exc:
                self.stop()
                if "address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self, binary: Path) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        probes = [socket.socket() for _ in range(self.port_count)]
        try:
            for probe in probes:  # all bound at once, so the ports differ
                probe.bind(("127.0.0.1", 0))
            self.ports = [int(probe.getsockname()[1]) for probe in probes]
        finally:
            for probe in probes:
                probe.close()
        listen = "\n".join(f"        listen 127.0.0.1:{port} backlog=4096;" for port in self.ports)
        config = self.dir / "nginx.conf"
        config.write_text(CONFIG.format(dir=self.dir, listen=listen, log_format=LOG_FORMAT))
        with (self.dir / "stderr.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(binary), "-p", str(self.dir), "-c", str(config), "-e", "stderr"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent)
        self._offset, self._partial, self._hits = 0, b"", []

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        waiting = list(self.ports)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n"
                                   f"{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", waiting[0]), timeout=1):
                    waiting.pop(0)
                if not waiting:
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"nginx did not listen within {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        texts = []
        for name in ("stderr.log", "error.log"):
            path = self.dir / name
            if path.exists():
                texts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(texts)

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def hits(self) -> list[Hit]:
        """Every request logged so far (read on from where the last call stopped)."""
        if self.access_log.exists():
            with self.access_log.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
            self._offset += len(chunk)
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            self._hits.extend(Hit.parse(line.decode(errors="replace")) for line in lines if line)
        return self._hits

    def stop(self) -> None:
        """SIGTERM (nginx's fast shutdown), then SIGKILL if it is still there after 5 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
