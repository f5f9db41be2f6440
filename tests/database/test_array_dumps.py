"""Lists sent to PostgreSQL as text arrays (Django's bulk inserts send each column as one) are
escaped in C (`waha_project.database.faster_array_dumps`, registered when the apps load): the
bytes are psycopg's own, and what PostgreSQL reads back is what was sent."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import adapters
from psycopg.adapt import PyFormat
from psycopg.types.array import ListDumper

ELEMENTS = [
    "",
    "plain",
    'say "hi"',
    "back\\slash",
    '\\"both\\"',
    "{braces}, commas; and spaces",
    "NULL",
    None,
    "ünïcødé ✓ 🎉",
    json.dumps({"body": 'a "quoted" \\ text', "nested": {"list": [1, "two"]}}),
]


def test_the_registered_list_dumper_is_the_escaping_one() -> None:
    dumper = adapters.get_dumper(list, PyFormat.TEXT)
    assert dumper is not ListDumper and issubclass(dumper, ListDumper)


def test_its_bytes_are_psycopgs_own() -> None:
    ours = adapters.get_dumper(list, PyFormat.TEXT)(list).upgrade(ELEMENTS, PyFormat.TEXT)
    stock = ListDumper(list).upgrade(ELEMENTS, PyFormat.TEXT)
    assert bytes(ours.dump(ELEMENTS)) == bytes(stock.dump(ELEMENTS))


@pytest.mark.parametrize("cursor_class", [psycopg.ClientCursor, psycopg.Cursor])
def test_postgresql_reads_back_what_was_sent(cursor_class: type[psycopg.Cursor]) -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         cursor_factory=cursor_class) as conn:
        rows = conn.execute("SELECT x FROM unnest(%s::text[]) WITH ORDINALITY AS t(x, n) "
                            "ORDER BY n", [ELEMENTS]).fetchall()
    assert [x for (x,) in rows] == ELEMENTS
