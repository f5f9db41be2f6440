"""An engine's claim of one session (`SessionQuerySet.claim`, its SQL made once): on PostgreSQL
and on SQLite it takes exactly the rows `claimable_by` selects, and sets the lease."""

from __future__ import annotations

from pathlib import Path

from tests.database.children import run_child

CHILD = """
import json
from datetime import timedelta
from unittest import mock
import django
django.setup()
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone
from sessions_app.models import Session

now = timezone.now()
rows = {
    "free": {},
    "mine": {"owner": "me", "lease_expires_at": now + timedelta(seconds=5)},
    "mine_expired": {"owner": "me", "lease_expires_at": now - timedelta(seconds=5)},
    "taken": {"owner": "other", "lease_expires_at": now + timedelta(seconds=5)},
    "taken_expired": {"owner": "other", "lease_expires_at": now - timedelta(seconds=5)},
    "taken_no_lease": {"owner": "other", "lease_expires_at": None},
}
made = {name: Session.objects.create(name=name, **fields) for name, fields in rows.items()}
claimable = set(Session.objects.claimable_by("me", now).values_list("name", flat=True))
Session.objects.claim("no-such-uid", "me", now, 30)  # made once, before the check below
with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")):
    won = {name: Session.objects.claim(session.uid, "me", now, 30)
           for name, session in made.items()}
after = {row.name: [row.owner, (row.lease_expires_at - now).total_seconds()
                    if row.lease_expires_at else None]
         for row in Session.objects.all()}
print(json.dumps({"claimable": sorted(claimable), "won": won, "after": after}))
"""


def test_the_claim_takes_what_claimable_by_selects(database_url: str | None,
                                                   tmp_path: Path) -> None:
    result = run_child(CHILD, database_url, tmp_path)

    assert result["claimable"] == ["free", "mine", "mine_expired", "taken_expired"]
    assert result["won"] == {name: name in result["claimable"] for name in result["won"]}
    for name, (owner, lease) in result["after"].items():
        if name in result["claimable"]:
            assert (owner, lease) == ("me", 30.0), name
        else:
            assert owner == "other", name
    assert result["after"]["taken"][1] == 5.0
    assert result["after"]["taken_no_lease"][1] is None
