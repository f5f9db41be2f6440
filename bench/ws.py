"""Dashboard websocket: session status transition → frame received by every open socket.

    .venv/bin/python bench/ws.py [--sockets 100] [--transitions 240] [--pings 200]

Runs three times, one path after the other, and prints them side by side:

- serve, in-memory layer: `manage.py serve` (fake engine, a fresh temporary data directory with
  its own SQLite file, a free port on 127.0.0.1), as on the embedded default;
- serve, Redis layer: the same with REDIS_URL pointing at our own `redis-server` on a free port
  (the database stays SQLite; only the channel layer and Celery's broker move to Redis);
- scaled, PostgreSQL + Redis: the scaled topology (bench/topology.py): the web role
  (`uvicorn waha_project.asgi:application`) holds the sockets and the engine role
  (`manage.py run_engines`) the session, with a celery worker and beat, on a throw-away
  PostgreSQL database and our own redis-server. A status goes engine process → PostgreSQL commit
  → Redis → web process → socket; a start or stop goes web → Redis (the nudge) → engine. The
  dashboard user comes from `manage.py createsuperuser` (the scaled roles create none).

Each run logs in to the dashboard over HTTP (a Django session cookie), creates one stopped
session through the API and opens `--sockets` websockets to /dashboard/ws for all sessions, with
the cookie and a same-origin Origin header, as the dashboard page does. It then starts and stops
the session through the API, one step at a time: every start is two transitions (STARTING, then
SCAN_QR_CODE with the first QR code) and every stop one (STOPPED), so `--transitions` is rounded
up to whole start/stop cycles. The next step waits until every socket has the previous frame,
so the figures are latencies, not queueing. One unmeasured cycle first warms the server up.

Latency of one receipt = the moment the bench read the status frame off that socket (wall clock)
- the frame's `changedAt`: the timestamp of the status-history row that `record_status` writes
in the transaction that publishes `session.status` (the envelope's own `timestamp` is taken a
moment later in the same transaction, and is not in a status frame). All processes are on this
machine's clock; `changedAt` is whole milliseconds, truncated, so a receipt reads up to 1 ms
long. It spans the commit, the preparation of the publication's frames (once, in the
publishing process; for SCAN_QR_CODE it draws the QR code, before the status frame is sent),
the channel layer, the consumer (which forwards the prepared text) and the websocket write.

Baselines, from the same run:

- websocket ping → pong round trip on the same server, with the sockets open and idle
  (`--pings`, one at a time, over the sockets in turn): uvicorn's websocket protocol answers it
  without Channels or Django;
- channel layer alone, no uvicorn: in this process, `--sockets` channels (from `new_channel()`,
  as consumers get) in one group, each with a receiving task; one `group_send` of a message
  like a session.status one (its text prepared, as the product sends it) at a time, latency =
  receive - just before `group_send`, as many rounds as there were transitions. Same layer
  class and settings as the server's (for the scaled run, on the topology's redis-server once
  its web and engine have stopped).

The websocket client is a minimal RFC 6455 one below (the project has no client library); it
reads every socket on one asyncio loop in this process, so its own delay is in the figures too.
Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import os
import re
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import redis

# Run as a script, so the project root is not on the path yet.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.topology import Topology, conditions, conn_note, terminate
from tests.support.live_server import LiveServer, free_port
from tests.support.stack import Child

SESSION = "bench-ws"
USERNAME = "bench"
PASSWORD = "ws-bench-Pa55word-6c1e"
STEP_TIMEOUT = 30.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STARTING, SCAN_QR_CODE, STOPPED = "STARTING", "SCAN_QR_CODE", "STOPPED"
# The channel layer settings of waha_project/settings.py with REDIS_URL set.
REDIS_LAYER_CONFIG: dict[str, Any] = {"capacity": 1000, "expiry": 60}


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank, in milliseconds (values in seconds)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000


# --- a minimal websocket client ----------------------------------------------------------------
class SocketClosed(RuntimeError):
    pass


class Socket:
    """RFC 6455, client side, just what this bench needs: the handshake with extra headers,
    text frames (fragmented or not), ping/pong both ways and close. `on_text(data, at)` gets
    every text message with the wall-clock time its last byte was read."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 on_text: Callable[[bytes, float], None]) -> None:
        self.reader = reader
        self.writer = writer
        self.on_text = on_text
        self.close_code: int | None = None
        self.closing = False
        self.pongs: dict[bytes, asyncio.Future[float]] = {}
        self.task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, port: int, path: str, headers: dict[str, str],
                   on_text: Callable[[bytes, float], None]) -> Socket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16))
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key.decode()}",
                 "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or accept not in head:
            writer.close()
            raise SocketClosed(f"websocket handshake refused: {head.splitlines()[0]}")
        socket = cls(reader, writer, on_text)
        socket.task = asyncio.create_task(socket._read_loop())
        return socket

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.writer.write(head + mask + masked)

    async def _read_loop(self) -> None:
        read = self.reader.readexactly
        message = b""
        try:
            while True:
                first, second = await read(2)
                opcode, size = first & 0x0F, second & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", await read(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", await read(8))
                mask = await read(4) if second & 0x80 else b""
                data = await read(size)
                at = time.time()
                if mask:
                    data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
                if opcode in (0x0, 0x1):
                    message += data
                    if first & 0x80:
                        self.on_text(message, at)
                        message = b""
                elif opcode == 0x9:
                    self._send(0xA, data)
                elif opcode == 0xA:
                    waiter = self.pongs.pop(data, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(time.perf_counter())
                elif opcode == 0x8:
                    self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                    if not self.closing:
                        self._send(0x8, data[:2])
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close_code = self.close_code or 1006
        finally:
            self.writer.close()

    async def ping(self) -> float:
        """One round trip, in seconds."""
        payload = os.urandom(8)
        waiter = self.pongs[payload] = asyncio.get_running_loop().create_future()
        began = time.perf_counter()
        self._send(0x9, payload)
        return await asyncio.wait_for(waiter, STEP_TIMEOUT) - began

    async def close(self) -> None:
        if self.close_code is None:
            self.closing = True
            self._send(0x8, struct.pack("!H", 1000))
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 5)
            except TimeoutError:
                self.task.cancel()


# --- status frames, per transition -------------------------------------------------------------
Key = tuple[str, str, int]  # session, status, changedAt (ms)


@dataclass
class Tracker:
    """Which socket received which transition, when. A transition is complete once every
    socket has its status frame; `expect()` is a future for the next complete one."""

    sockets: int
    receipts: dict[Key, list[float]] = field(default_factory=dict)
    seen: list[set[Key]] = field(default_factory=list)
    connected: list[asyncio.Future[None]] = field(default_factory=list)
    waiting: dict[tuple[str, str], asyncio.Future[Key]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.seen = [set() for _ in range(self.sockets)]
        self.connected = [loop.create_future() for _ in range(self.sockets)]

    def receiver(self, index: int) -> Callable[[bytes, float], None]:
        def on_text(data: bytes, at: float) -> None:
            frame = json.loads(data)
            if frame.get("type") != "status":
                return
            if not self.connected[index].done():
                self.connected[index].set_result(None)  # the snapshot: joined and subscribed
            key = (frame["session"], frame["status"], int(frame["changedAt"]))
            if key in self.seen[index]:
                return  # the same transition again (a new QR code republishes it)
            self.seen[index].add(key)
            got = self.receipts.setdefault(key, [])
            got.append(at)
            waiter = self.waiting.get(key[:2])
            if len(got) == self.sockets and waiter is not None and not waiter.done():
                del self.waiting[key[:2]]
                waiter.set_result(key)

        return on_text

    def expect(self, session: str, status: str) -> asyncio.Future[Key]:
        waiter = self.waiting[session, status] = asyncio.get_running_loop().create_future()
        return waiter

    def latencies(self, keys: list[Key]) -> list[float]:
        return [at - key[2] / 1000 for key in keys for at in self.receipts[key]]

    def spreads(self, keys: list[Key]) -> list[float]:
        return [max(self.receipts[key]) - min(self.receipts[key]) for key in keys]


# --- one run against one server ------------------------------------------------------------------
@dataclass
class Run:
    label: str
    by_status: dict[str, list[float]]
    spreads: list[float]
    transitions: int
    pings: list[float]
    layer: list[float]

    @property
    def receipts(self) -> list[float]:
        return [value for values in self.by_status.values() for value in values]


class Web(Protocol):
    """What the client side needs of a server: `serve` (LiveServer) or the scaled web role."""

    port: int

    @property
    def base_url(self) -> str: ...

    @property
    def api_key(self) -> str: ...


def login(server: Web) -> str:
    """The sessionid cookie of a dashboard login, as a browser gets it."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        page = client.get("/dashboard/login/")
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or found is None:
            raise SystemExit(f"no login form at /dashboard/login/ ({page.status_code})")
        answer = client.post("/dashboard/login/", data={
            "username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": found.group(1),
        })
        cookie = client.cookies.get("sessionid")
        if answer.status_code != 302 or not cookie:
            raise SystemExit(f"dashboard login failed ({answer.status_code})")
        return cookie


async def open_sockets(server: Web, cookie: str, tracker: Tracker) -> list[Socket]:
    headers = {"Cookie": f"sessionid={cookie}", "Origin": server.base_url}
    sockets = []
    for start in range(0, tracker.sockets, 20):  # 20 handshakes at a time
        batch = range(start, min(start + 20, tracker.sockets))
        sockets += await asyncio.gather(*(
            Socket.open(server.port, "/dashboard/ws", headers, tracker.receiver(index))
            for index in batch))
    try:
        await asyncio.wait_for(asyncio.gather(*tracker.connected), STEP_TIMEOUT)
    except TimeoutError:
        codes = {s.close_code for s in sockets if s.close_code is not None}
        raise SystemExit(f"not every socket got its snapshot (close codes {codes})") from None
    return sockets


async def step(api: httpx.AsyncClient, action: str, waiters: list[asyncio.Future[Key]],
               sockets: list[Socket]) -> list[Key]:
    answer = await api.post(f"/api/sessions/{SESSION}/{action}")
    if answer.status_code != 201:
        raise SystemExit(f"{action}: {answer.status_code} {answer.text[:300]}")
    try:
        return list(await asyncio.wait_for(asyncio.gather(*waiters), STEP_TIMEOUT))
    except TimeoutError:
        closed = sum(s.close_code is not None for s in sockets)
        raise SystemExit(f"{action}: not every socket got the frames within "
                         f"{STEP_TIMEOUT:g} s ({closed} sockets closed)") from None


async def cycle(api: httpx.AsyncClient, tracker: Tracker, sockets: list[Socket]) -> list[Key]:
    started = await step(api, "start", [tracker.expect(SESSION, STARTING),
                                        tracker.expect(SESSION, SCAN_QR_CODE)], sockets)
    return started + await step(api, "stop", [tracker.expect(SESSION, STOPPED)], sockets)


async def drive(server: Web, cookie: str, sockets_wanted: int, cycles: int,
                pings: int) -> tuple[Tracker, list[Key], list[float]]:
    tracker = Tracker(sockets_wanted)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30,
                                 headers={"X-Api-Key": server.api_key}) as api:
        created = await api.post("/api/sessions", json={"name": SESSION, "start": False})
        if created.status_code != 201:
            raise SystemExit(f"create: {created.status_code} {created.text[:300]}")
        sockets = await open_sockets(server, cookie, tracker)
        try:
            await cycle(api, tracker, sockets)  # warm-up, not measured
            round_trips = [await sockets[n % len(sockets)].ping() for n in range(pings)]
            keys: list[Key] = []
            for _ in range(cycles):
                keys += await cycle(api, tracker, sockets)
        finally:
            await asyncio.gather(*(s.close() for s in sockets))
    return tracker, keys, round_trips


async def layer_fan_out(make_layer: Callable[[], Any], receivers: int,
                        rounds: int) -> list[float]:
    """group_send → receive on `receivers` channels of one group, in this process."""
    layer = make_layer()
    channels = [await layer.new_channel() for _ in range(receivers)]
    for channel in channels:
        await layer.group_add("bench.ws", channel)
    message = sample_message()
    latencies: list[float] = []
    sent = 0.0
    all_in = asyncio.Event()

    async def receive(channel: str, count: int) -> None:
        for _ in range(count):
            await layer.receive(channel)
            latencies.append(time.perf_counter() - sent)
            if len(latencies) % receivers == 0:
                all_in.set()

    for warm_up in (True, False):
        count = 3 if warm_up else rounds
        readers = [asyncio.create_task(receive(channel, count)) for channel in channels]
        for _ in range(count):
            all_in.clear()
            sent = time.perf_counter()
            await layer.group_send("bench.ws", message)
            await asyncio.wait_for(all_in.wait(), STEP_TIMEOUT)
        await asyncio.gather(*readers)
        if warm_up:
            latencies.clear()
    for channel in channels:
        await layer.group_discard("bench.ws", channel)
    if hasattr(layer, "flush"):
        await layer.flush()
    return latencies


def sample_message() -> dict[str, Any]:
    """Shaped like the product's group message (`sessions_app.fanout.item`): the envelope
    and its dashboard frame as text, prepared once for every receiver."""
    envelope = sample_envelope()
    payload = envelope["payload"]
    frame = {"type": "status", "session": SESSION, "status": payload["status"], "me": None,
             "changedAt": payload["statuses"][-1]["timestamp"], "statuses": payload["statuses"],
             "lastError": None}
    text = json.dumps(envelope)
    return {"type": "waha.event", "items": [{
        "event": envelope["event"], "text": text, "frames": [json.dumps(frame)],
        "event_frame": f'{{"type": "event", "envelope": {text}}}'}]}


def sample_envelope() -> dict[str, Any]:
    """Shaped like events.build_envelope for session.status."""
    now = int(time.time() * 1000)
    statuses = [{"status": s, "timestamp": now} for s in (STOPPED, STARTING, SCAN_QR_CODE)]
    return {
        "id": "evt_01jbenchws0000000000000000", "timestamp": now, "event": "session.status",
        "session": SESSION, "metadata": {}, "me": None, "engine": "GOWS",
        "environment": {"version": "bench", "engine": "GOWS", "tier": "CORE",
                        "browser": None, "platform": "linux/x64"},
        "payload": {"name": SESSION, "status": SCAN_QR_CODE, "statuses": statuses,
                    "data": None},
    }


def start_redis(workdir: Path) -> tuple[Child, str]:
    port = free_port()
    child = Child("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                  dict(os.environ), workdir).start()
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not child.running:
            raise SystemExit(f"redis-server exited:\n{child.output()}")
        try:
            if client.ping():
                client.close()
                return child, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    child.kill()
    raise SystemExit("redis-server did not answer within 10 s")


SERVE_ENV = {"WAHA_DASHBOARD_USERNAME": USERNAME, "WAHA_DASHBOARD_PASSWORD": PASSWORD}
# One QR code for the whole run: no rotation republishing SCAN_QR_CODE.
QR_ENV = {"WAHA_QR_FIRST_SECONDS": "3600"}


def run_serve(label: str, workdir: Path, redis_url: str | None, args: argparse.Namespace) -> Run:
    """`manage.py serve` on SQLite, on the in-memory layer or (with `redis_url`) on Redis."""
    env = {**SERVE_ENV, **QR_ENV, **({"REDIS_URL": redis_url} if redis_url else {})}
    server = LiveServer(workdir / "data", env)
    cycles = math.ceil(args.transitions / 3)
    print(f"{label}: {args.sockets} sockets, {cycles} start/stop cycles ...", flush=True)
    try:
        server.start()
        cookie = login(server)
        tracker, keys, pings = asyncio.run(
            drive(server, cookie, args.sockets, cycles, args.pings))
    finally:
        if server.terminate(timeout=30) is None:
            server.kill()
    if redis_url:
        layer = asyncio.run(layer_fan_out(redis_layer(redis_url), args.sockets, len(keys)))
    else:
        from channels.layers import InMemoryChannelLayer

        layer = asyncio.run(layer_fan_out(InMemoryChannelLayer, args.sockets, len(keys)))
    return finish(label, tracker, keys, pings, layer)


def run_scaled(label: str, workdir: Path, args: argparse.Namespace) -> Run:
    """The scaled topology: the sockets on the web process (uvicorn), the session on the engine
    process (run_engines), a status going engine → PostgreSQL commit → Redis → web → socket."""
    topology = Topology(workdir, settings=QR_ENV, conn_max_age=args.conn_max_age)
    cycles = math.ceil(args.transitions / 3)
    print(f"{label}: uvicorn + run_engines + worker + beat, {args.sockets} sockets, {cycles} "
          f"start/stop cycles ...", flush=True)
    try:
        topology.start(dashboard_user=(USERNAME, PASSWORD))
        cookie = login(topology)
        tracker, keys, pings = asyncio.run(
            drive(topology, cookie, args.sockets, cycles, args.pings))
        assert topology.web is not None
        for child in [topology.web, *topology.engines]:
            terminate(child)
        # On the topology's redis-server, before it stops with the rest.
        layer = asyncio.run(layer_fan_out(redis_layer(topology.redis_url), args.sockets,
                                          len(keys)))
    finally:
        topology.stop()
    return finish(label, tracker, keys, pings, layer)


def redis_layer(redis_url: str) -> Callable[[], Any]:
    from channels_redis.core import RedisChannelLayer

    def make_layer() -> Any:
        return RedisChannelLayer(hosts=[redis_url], **REDIS_LAYER_CONFIG)

    return make_layer


def finish(label: str, tracker: Tracker, keys: list[Key], pings: list[float],
           layer: list[float]) -> Run:
    by_status = {status: tracker.latencies([key for key in keys if key[1] == status])
                 for status in (STARTING, SCAN_QR_CODE, STOPPED)}
    return Run(label, by_status, tracker.spreads(keys), len(keys), pings, layer)


# --- output -------------------------------------------------------------------------------------
def print_table(runs: list[Run], sockets: int) -> None:
    width = 38

    def cells(values: list[float], base: list[float] | None) -> str:
        ratio = f"{percentile(values, 0.5) / percentile(base, 0.5):>7.1f}x" if base else " " * 8
        return (f"{len(values):>6} {percentile(values, 0.50):>8.2f} "
                f"{percentile(values, 0.99):>8.2f} {ratio}")

    rows: list[tuple[str, Callable[[Run], list[float]], bool]] = [
        ("transition → receipt, all", lambda r: r.receipts, True),
        (f"  → {STARTING}", lambda r: r.by_status[STARTING], True),
        (f"  → {SCAN_QR_CODE}", lambda r: r.by_status[SCAN_QR_CODE], True),
        (f"  → {STOPPED}", lambda r: r.by_status[STOPPED], True),
        ("first → last socket, per transition", lambda r: r.spreads, False),
        ("baseline: ws ping → pong (round trip)", lambda r: r.pings, False),
        (f"baseline: group_send → {sockets} receive", lambda r: r.layer, False),
    ]
    groups = "".join(f" {run.label:^33}" for run in runs)
    columns = "".join(f" {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'p50/lay':>8}" for _ in runs)
    print(f"{'':<{width}}{groups}")
    print(f"{'figure':<{width}}{columns}")
    print("-" * (width + 34 * len(runs)))
    for label, values_of, versus_layer in rows:
        print(f"{label:<{width}}" + "".join(
            f" {cells(values_of(r), r.layer if versus_layer else None)}" for r in runs))
    print()
    for r in runs:
        print(f"{r.label}: {r.transitions} transitions, {len(r.receipts)} receipts "
              f"({r.transitions * sockets} expected)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=100,
                        help="dashboard websockets open at once (default 100)")
    parser.add_argument("--transitions", type=int, default=240,
                        help="status transitions measured per layer, rounded up to whole "
                             "start/stop cycles of 3 (default 240)")
    parser.add_argument("--pings", type=int, default=200,
                        help="websocket ping round trips for the baseline (default 200)")
    parser.add_argument("--conn-max-age", type=float, default=None, metavar="SECONDS",
                        help="PostgreSQL connections kept this long by the scaled roles "
                             "(conn_max_age on DATABASE_URL, which turns the pool off); "
                             "default: the product's connection pool")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="waha-bench-ws-"))
    redis_child: Child | None = None
    try:
        memory = run_serve("serve, in-memory layer", workdir / "memory", None, args)
        (workdir / "redis").mkdir()
        redis_child, redis_url = start_redis(workdir / "redis")
        on_redis = run_serve("serve, Redis layer", workdir / "redis", redis_url, args)
        redis_child.kill()
        redis_child = None
        scaled = run_scaled("scaled, PostgreSQL + Redis", workdir / "scaled", args)
        print()
        print(conditions())
        print("fake engine; serve on SQLite (WAL); scaled: uvicorn and run_engines (with a celery "
              f"worker and beat) on PostgreSQL + Redis{conn_note(args.conn_max_age)}")
        print(f"{args.sockets} dashboard sockets on /dashboard/ws (all sessions), one session "
              f"started and stopped; p50/lay: p50 as a multiple of the group_send baseline's\n")
        print_table([memory, on_redis, scaled], args.sockets)
    finally:
        if redis_child is not None:
            redis_child.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
