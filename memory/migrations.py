"""Schema migrations: small named functions, applied once each, in order, recorded in a table."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import sqlite_utils

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_sessions_messages(db: sqlite_utils.Database) -> None:
    db["sessions"].create({"id": str, "title": str, "model": str, "created": float, "updated": float}, pk="id")
    db["messages"].create({
        "id": int, "session_id": str, "seq": int, "role": str, "content": str, "kind": str,
        "tool_name": str, "tool_arguments": str, "tool_result": str,
        "prompt_tokens": int, "completion_tokens": int, "cached_tokens": int,
        "ttft_s": float, "elapsed_s": float, "created": float, "extra": str,
    }, pk="id", foreign_keys=[("session_id", "sessions", "id")], not_null={"session_id", "seq", "role"})
    db["messages"].create_index(["session_id", "seq"], unique=True)


@migration
def m002_facts(db: sqlite_utils.Database) -> None:
    db["facts"].create({"id": int, "text": str, "tags": str, "session_id": str, "created": float,
                        "updated": float}, pk="id", not_null={"text"})
    # unicode61 with diacritics removed: "cafe" finds "café"; triggers keep the index in step.
    db["facts"].enable_fts(["text", "tags"], create_triggers=True, tokenize="unicode61 remove_diacritics 2")


@migration
def m003_plans(db: sqlite_utils.Database) -> None:
    db["plans"].create({"id": int, "session_id": str, "goal": str, "status": str, "created": float,
                        "updated": float}, pk="id")
    db["plan_steps"].create({"plan_id": int, "idx": int, "goal": str, "tools": str, "status": str,
                             "outcome": str}, pk=("plan_id", "idx"), foreign_keys=[("plan_id", "plans", "id")])


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations not yet recorded; returns their names. The schema version is their count."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the lock.
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", [fn.__name__]).fetchone() is None:
                fn(db)
                db.execute("INSERT INTO _migrations (name, applied) VALUES (?, ?)", [fn.__name__, time.time()])
                applied.append(fn.__name__)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    # Never lower it: a newer store may have raised it since this one checked (see stored_version).
    if stored_version(db.conn) < len(MIGRATIONS):
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    return applied


def stored_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file (0 for a new one); reading it writes nothing."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def known_version() -> int:
    """The newest schema version this code can read and write."""
    return len(MIGRATIONS)
