"""A list's rows read as plain values (`Session.objects.listed()`) hold what the sessions' own
rows hold, datetimes included (on SQLite they are read as text and parsed apart)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest

from sessions_app.models import LISTED_FIELDS, Session

pytestmark = pytest.mark.django_db


def test_listed_rows_hold_what_the_rows_hold() -> None:
    moments = [None, datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
               datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
               datetime(2026, 3, 29, 1, 30, 0, 1, tzinfo=UTC) + timedelta(hours=5)]
    for n, moment in enumerate(moments):
        Session.objects.create(name=f"s{n}", status_changed_at=moment,
                               lease_expires_at=moments[-1 - n], owner="engine-a" if n else "",
                               me={"id": f"{n}@c.us"} if n else None,
                               config={"metadata": {"n": str(n)}})

    listed = {row.name: asdict(row) for row in Session.objects.order_by("name").listed()}

    for session in Session.objects.all():
        assert listed[session.name] == {name: getattr(session, name) for name in LISTED_FIELDS}
    assert listed["s1"]["status_changed_at"] == moments[1]
    assert listed["s1"]["status_changed_at"].tzinfo is not None
