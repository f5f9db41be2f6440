"""A delivery batch's statements with their SQL made once (`webhooks_app.statements`), a list as
one parameter (`waha_project.database.any_of`): on PostgreSQL and on SQLite, they pick, lock and
write the rows the ORM's filters would, and read back what the ORM reads."""

from __future__ import annotations

from pathlib import Path

from tests.database.children import run_child

CHILD = """
import json
from datetime import timedelta
from unittest import mock
import django
django.setup()
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone
from webhooks_app import statements
from webhooks_app.models import Delivery

now = timezone.now()
def make(n, origin="http://a.example:80", **fields):
    return Delivery.objects.create(
        session_name="s", event="message", event_id=f"evt_{n}", event_timestamp=n,
        body=json.dumps({"n": n}), url=origin + "/hook", hmac_key="k",
        custom_headers=[{"name": "X-Ü", "value": "✓ \\\\ \\"q\\""}], retry_policy="constant",
        retry_delay_seconds=2, retry_attempts=3, **fields).pk

due_old = make(1, next_attempt_at=now - timedelta(seconds=30))
due_new = make(2, next_attempt_at=now - timedelta(seconds=10))
due_soon = make(3, next_attempt_at=now + timedelta(seconds=0.5))  # within the tolerance
later = make(4, next_attempt_at=now + timedelta(seconds=60))
locked = make(5, next_attempt_at=now - timedelta(seconds=20),
              locked_until=now + timedelta(seconds=60), claim_token="other")
lock_over = make(6, next_attempt_at=now - timedelta(seconds=25),
                 locked_until=now - timedelta(seconds=1), claim_token="gone")
done = make(7, next_attempt_at=None, status="delivered")
other_origin = make(8, origin="http://b.example:80", next_attempt_at=now - timedelta(seconds=40))
everything = [due_old, due_new, due_soon, later, locked, lock_over, done, other_origin]

with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")):
    among = sorted(pk for pk, _ in statements.due_among(everything, now))
    among_none = statements.due_among([], now)
    oldest = [pk for pk, _ in statements.oldest_due(now, 10, besides=[], origins_besides=[])]
    oldest_but = [pk for pk, _ in statements.oldest_due(
        now, 2, besides=[due_old], origins_besides=["http://b.example:80"])]
    until = now + timedelta(seconds=40)
    locked_now = statements.lock([due_old, due_new, locked, later], now, until, "tok")
    again = statements.lock([due_old, due_new], now, until, "tok2")
expected = {pk: {name: getattr(row, name) for name in statements.SENT_FIELDS}
            for pk, row in Delivery.objects.in_bulk([due_old, due_new]).items()}
claims = sorted(Delivery.objects.filter(claim_token="tok").values_list("pk", "locked_until"))
with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")):
    attempts = statements.attempts_of([due_new, due_old, later])
    finished_at = now + timedelta(seconds=1)
    values = {"status": "delivered", "next_attempt_at": None, "enqueued_at": None,
              "locked_until": None, "claim_token": "", "waiting_until": None,
              "last_status_code": 204, "last_error": "", "finished_at": finished_at}
    wrote = statements.finish([due_old, due_new], 1, values)
    wrote_again = statements.finish([due_old, due_new], 1, values)

read = {d.pk: {name: getattr(d, name) for name in statements.SENT_FIELDS} for d in locked_now}
rows = {pk: Delivery.objects.get(pk=pk) for pk in everything}
print(json.dumps({
    "vendor": connection.vendor,
    "ids": {"due_old": due_old, "due_new": due_new, "due_soon": due_soon, "later": later,
            "locked": locked, "lock_over": lock_over, "other_origin": other_origin},
    "among": among, "among_none": among_none, "oldest": oldest, "oldest_but": oldest_but,
    "locked_now": sorted(read),
    "differ": [(pk, name, repr(value), repr(expected[pk][name]))
               for pk in read for name, value in read[pk].items()
               if value != expected[pk][name] or type(value) is not type(expected[pk][name])],
    "claims": [[pk, until_ == until] for pk, until_ in claims],
    "deferred": sorted(locked_now[0].get_deferred_fields()),
    "again": len(again),
    "attempts": {str(k): v for k, v in attempts.items()},
    "wrote": [wrote, wrote_again],
    "finished": [[rows[pk].status, rows[pk].attempts, rows[pk].finished_at == finished_at,
                  rows[pk].last_status_code, rows[pk].locked_until, rows[pk].claim_token]
                 for pk in (due_old, due_new)],
    "untouched": [rows[later].claim_token, rows[locked].claim_token, rows[locked].attempts],
}))
"""


def test_a_batch_s_statements_pick_lock_and_write_what_the_orm_would(
        database_url: str | None, tmp_path: Path) -> None:
    result = run_child(CHILD, database_url, tmp_path)
    ids = result["ids"]

    assert result["vendor"] == ("postgresql" if database_url else "sqlite")
    # Due: pending, its time come (or within a second), not locked by a running claim.
    assert result["among"] == sorted([ids["due_old"], ids["due_new"], ids["due_soon"],
                                      ids["lock_over"], ids["other_origin"]])
    assert result["among_none"] == []
    # The longest due first; neither the ids nor the origins left out; at most the limit.
    assert result["oldest"] == [ids["other_origin"], ids["due_old"], ids["lock_over"],
                                ids["due_new"], ids["due_soon"]]
    assert result["oldest_but"] == [ids["lock_over"], ids["due_new"]]
    # Only what is still due is locked, and read back as the ORM reads it, the rest deferred.
    assert result["locked_now"] == sorted([ids["due_old"], ids["due_new"]])
    assert result["differ"] == []
    assert result["claims"] == [[ids["due_old"], True], [ids["due_new"], True]]
    assert "created_at" in result["deferred"] and "origin" not in result["deferred"]
    assert result["again"] == 0
    assert result["attempts"] == {str(ids["due_new"]): 0, str(ids["due_old"]): 0,
                                  str(ids["later"]): 0}
    # Written once: over the attempt number it claimed, never again.
    assert result["wrote"] == [2, 0]
    assert result["finished"] == [["delivered", 1, True, 204, None, ""]] * 2
    assert result["untouched"] == ["", "other", 0]
