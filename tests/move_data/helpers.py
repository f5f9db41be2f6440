"""`manage.py move_to_postgres`: the embedded default's data moved into PostgreSQL.

Helpers (no pytest here): building a realistic embedded data directory through the product (a
real `serve` with the fake engine, sessions, webhooks to a loopback receiver, incoming messages
kept in the store), a whatsmeow SQLite auth store made by the real neonize library, running the
command as a child on the embedded settings, and reading both databases with plain sqlite3 and
psycopg (the test process never points Django at them).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tests.support.live_server import PROJECT_ROOT
from tests.support.stack import product_environment

# Not copied: the migration history is the target's own, engine processes are live state.
NOT_COPIED = {"django_migrations", "sqlite_sequence", "sessions_app_engineprocess"}


def move(data_dir: Path, *args: str, database_url: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    """`manage.py move_to_postgres ARGS` on the embedded settings of `data_dir` (or, to see it
    refuse, with DATABASE_URL set)."""
    return subprocess.run(
        [sys.executable, "manage.py", "move_to_postgres", *args], cwd=PROJECT_ROOT,
        env=product_environment(data_dir, database_url, None), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=180, check=False,
    )


@contextmanager
def embedded_db(data_dir: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(data_dir / "waha.sqlite3")) as db:
        yield db


def sqlite_tables(data_dir: Path) -> list[str]:
    with embedded_db(data_dir) as db:
        return sorted(name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'") if name not in NOT_COPIED)


def sqlite_count(data_dir: Path, table: str) -> int:
    with embedded_db(data_dir) as db:
        (count,) = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return int(count)


def pg_rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]


def pg_count(url: str, table: str) -> int:
    [(count,)] = pg_rows(url, f'SELECT count(*) FROM "{table}"')
    return int(count)


def pg_snapshot(url: str) -> dict[str, tuple[int, str | None]]:
    """{table: (rows, digest of every row)} of every table in the database."""
    tables = [name for (name,) in pg_rows(
        url, "SELECT table_name FROM information_schema.tables "
             "WHERE table_schema = 'public' ORDER BY table_name")]
    snapshot = {}
    for table in tables:
        [(count, digest)] = pg_rows(
            url, f'SELECT count(*), md5(string_agg(t::text, \'|\' ORDER BY t::text)) '
                 f'FROM "{table}" t')
        snapshot[table] = (int(count), digest)
    return snapshot


# --- a whatsmeow auth store, as the neonize engine keeps one per session ----------------------
def device_row(jid: str, seed: int) -> dict[str, Any]:
    """A whatsmeow_device row (keys of the sizes whatsmeow checks)."""
    def key(size: int, salt: int) -> bytes:
        return bytes((seed * 31 + salt + n) % 256 for n in range(size))

    return {
        "jid": jid, "lid": jid.split(":")[0] + ":7@lid", "registration_id": 1000 + seed,
        "noise_key": key(32, 1), "identity_key": key(32, 2), "signed_pre_key": key(32, 3),
        "signed_pre_key_id": 1, "signed_pre_key_sig": key(64, 4), "adv_key": key(32, 5),
        "adv_details": key(40, 6), "adv_account_sig": key(64, 7),
        "adv_account_sig_key": key(32, 8), "adv_device_sig": key(64, 9),
        "platform": "chrome", "business_name": "", "push_name": f"Device {seed}",
    }


def make_auth_store(path: Path, jid: str, seed: int, *, contact_name: str = "Ann") -> None:
    """The whatsmeow SQLite file of one paired session.

    The real neonize library creates the file and its schema (a store opened by whatsmeow);
    it writes a device only when a phone pairs, so the device and its keys are inserted here.
    """
    from neonize.client import ClientFactory

    path.parent.mkdir(parents=True, exist_ok=True)
    assert ClientFactory.get_all_devices_from_db(str(path)) == []
    device = device_row(jid, seed)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"INSERT INTO whatsmeow_device ({', '.join(device)}) "
                   f"VALUES ({', '.join('?' * len(device))})", tuple(device.values()))
        db.executemany("INSERT INTO whatsmeow_pre_keys (jid, key_id, key, uploaded) "
                       "VALUES (?, ?, ?, ?)",
                       [(jid, n, bytes([n]) * 32, n % 2 == 0) for n in range(1, 6)])
        db.execute("INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) "
                   "VALUES (?, ?, ?)", (jid, "15550001111.0:0", bytes([seed]) * 32))
        db.execute("INSERT INTO whatsmeow_contacts (our_jid, their_jid, first_name, full_name, "
                   "push_name, business_name) VALUES (?, ?, ?, ?, ?, ?)",
                   (jid, "15550001111@s.whatsapp.net", contact_name, f"{contact_name} Smith",
                    contact_name, ""))
        # The same LID mapping is known to every session that talks to this contact.
        db.execute("INSERT INTO whatsmeow_lid_map (lid, pn) VALUES (?, ?)",
                   ("99887766@lid", "15550001111@s.whatsapp.net"))
