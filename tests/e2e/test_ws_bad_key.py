"""`/ws` with a bad or missing key, as a client sees it on the wire (a real `serve`): the
handshake is refused with 403, before any frame, as the README says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


async def handshake_status(server: LiveServer, query: str) -> int:
    async with aiohttp.ClientSession() as client:
        try:
            async with client.ws_connect(f"ws://127.0.0.1:{server.port}/ws?{query}"):
                return 101
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


@pytest.mark.parametrize("query", ["", "x-api-key=wrong-key-000000"])
def test_a_bad_key_is_refused_at_the_handshake_with_403(
        servers: list[LiveServer], data_dir: Path, query: str) -> None:
    server = LiveServer(data_dir)
    servers.append(server)
    server.start()

    assert asyncio.run(handshake_status(server, query)) == 403


def test_the_right_key_keeps_the_stream_open(servers: list[LiveServer], data_dir: Path) -> None:
    server = LiveServer(data_dir)
    servers.append(server)
    server.start()

    async def quiet() -> bool:
        async with aiohttp.ClientSession() as client, client.ws_connect(
                f"ws://127.0.0.1:{server.port}/ws?x-api-key={server.api_key}") as socket:
            try:
                await asyncio.wait_for(socket.receive(), 1)
            except TimeoutError:
                return not socket.closed
            return False

    assert asyncio.run(quiet())
