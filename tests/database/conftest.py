"""The database under test, for the tests that run a child on each (children.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import ThrowawayDatabase


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A throw-away PostgreSQL database's URL, or None: the product's default, SQLite in the
    data directory."""
    if request.param == "sqlite":
        yield None
        return
    made = ThrowawayDatabase("waha_rows").create()
    try:
        yield made.url
    finally:
        made.drop()
