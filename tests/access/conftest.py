"""Fixtures of the access tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def keyless(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI application, sending no key of its own: each request names one."""
    async with httpx.AsyncClient(transport=api._transport, base_url="http://testserver",
                                 timeout=30) as client:
        yield client
