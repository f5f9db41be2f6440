"""`/ws` with a bad or missing key, as a client sees it on the wire (a real `serve`): the
handshake completes and the server closes at once with 4401, before any frame. A refused
handshake would reach a browser's WebSocket only as 1006, the code of a network error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.support.live_server import LiveServer

pytestmark = pytest.mark.e2e


async def first_message(server: LiveServer, query: str) -> aiohttp.WSMessage:
    async with aiohttp.ClientSession() as client, client.ws_connect(
            f"ws://127.0.0.1:{server.port}/ws?{query}", autoclose=False) as socket:
        return await asyncio.wait_for(socket.receive(), 10)


@pytest.mark.parametrize("query", ["", "x-api-key=wrong-key-000000"])
def test_a_bad_key_completes_the_handshake_then_closes_with_4401(
        servers: list[LiveServer], data_dir: Path, query: str) -> None:
    server = LiveServer(data_dir)
    servers.append(server)
    server.start()

    message = asyncio.run(first_message(server, query))

    assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 4401)


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
