"""`manage.py serve`'s listening socket: on a port another process holds, a non-zero exit and one
clear line, so a supervisor or a script notices; on a free one, connections without Nagle's
delay."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sessions_app.management.commands.serve import listen
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


async def test_connections_accepted_on_serves_socket_send_without_delay() -> None:
    """asyncio sets TCP_NODELAY only on connections accepted from a socket made for TCP by name;
    without it a kept-alive answer in two writes waited for the client's delayed ACK."""
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connection, sock=listen("127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(accepted, 10) != 0
        writer.close()
