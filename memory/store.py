"""The persistent store: sessions, their append-only messages, facts with full-text recall,
plans with their steps. SQLite through sqlite-utils, in WAL mode, usable from Python without
the harness and from the sqlite-utils command line.

Every message is committed as it is appended (one short IMMEDIATE transaction), so a crash,
``kill -9`` or Ctrl-C loses at most the reply that was still being generated. A compaction is
one transaction too. SQLite's errors on any operation become the store's own (``errors.py``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlite_utils

from harness.memory.errors import DatabaseCorrupt, DatabaseLocked, StoreError, SchemaTooNew
from harness.memory.migrations import apply_migrations, known_version, stored_version

SQLITE_HEADER = b"SQLite format 3\x00"

P = ParamSpec("P")
R = TypeVar("R")


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    """SQLite's errors (a damaged page may surface on any read) become the store's own, naming the file."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            store = args[0]
            assert isinstance(store, MemoryStore)
            raise store._translate(exc) from exc

    return wrapper


@dataclass
class Fact:
    id: int
    text: str
    tags: list[str]
    session_id: str | None
    created: float
    updated: float


@dataclass
class Session:
    id: str
    title: str | None
    created: float
    updated: float
    model: str | None
    messages: int = 0


@dataclass
class StoredMessage:
    id: int
    session_id: str
    seq: int
    role: str
    content: str
    created: float
    kind: str = "message"  # or "summary" (a compaction) or "compacted" (replaced by a summary)
    tool_name: str | None = None
    tool_arguments: dict[str, Any] | None = None
    tool_result: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    ttft_s: float | None = None
    elapsed_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_chat(self) -> dict[str, Any]:
        """The message as it is sent to the model: exactly the stored text."""
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        message.update(self.extra.get("chat", {}))
        return message


_MESSAGE_FIELDS = ("tool_name", "tool_arguments", "tool_result", "prompt_tokens", "completion_tokens",
                   "cached_tokens", "ttft_s", "elapsed_s")


class MemoryStore:
    def __init__(self, path: str | Path, timeout_s: float = 5.0) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory, not a database file",
                              hint=f"pass a file path with --memory / HARNESS_MEMORY, e.g. {self.path / 'memory.db'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the database {self.path}: {exc.strerror or exc}",
                              hint="pass a path in a writable folder with --memory / HARNESS_MEMORY") from exc
        self._check_file()
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None,
                                        check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self._check_version()  # before anything below writes to the file
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")  # durable at each commit in WAL, fast
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.db = sqlite_utils.Database(self.conn)
            apply_migrations(self.db)
            self._fact_cols = [d[0] for d in self.conn.execute("SELECT * FROM facts LIMIT 0").description]
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    def _check_file(self) -> None:
        """Refuse a file that is not SQLite before SQLite can touch it: it is never overwritten."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise DatabaseCorrupt(
                f"{self.path} is not a SQLite database (it may be corrupt, or another kind of file)",
                hint="it was left untouched; move it aside, or pass another path with --memory / HARNESS_MEMORY",
            )

    def _check_version(self) -> None:
        """Refuse a file a newer store wrote: this code would misread it, and lower its version."""
        found, known = stored_version(self.conn), known_version()
        if found > known:
            self.conn.close()
            raise SchemaTooNew(
                f"{self.path} has schema version {found}, newer than the version {known} this harness knows "
                "(a newer harness wrote it)",
                hint="it was left untouched; upgrade the harness, or pass another path with --memory / HARNESS_MEMORY",
            )

    def _translate(self, exc: sqlite3.DatabaseError) -> StoreError:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return DatabaseLocked(f"{self.path} is locked by another process ({exc})",
                                  hint="close the other harness using it, or retry in a moment")
        # A damaged full-text index fails as "vtable constructor failed".
        if any(sign in text for sign in ("malformed", "not a database", "corrupt", "vtable constructor failed")):
            return DatabaseCorrupt(
                f"{self.path} is damaged: SQLite says {exc!s}",
                hint=f"it was left untouched; recover what is readable with `sqlite3 {self.path} .recover | "
                     "sqlite3 recovered.db`, or move it aside to start afresh",
            )
        return StoreError(f"database error in {self.path}: {exc}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One IMMEDIATE transaction: everything inside is committed together or not at all."""
        try:
            # IMMEDIATE takes the write lock first, so two processes never pick the same seq.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:  # SQLite may have rolled back already (e.g. on corruption)
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "MemoryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, tuple(params))
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    # --- facts ----------------------------------------------------------------------------------

    def remember(self, text: str, tags: Iterable[str] = (), session_id: str | None = None) -> int:
        text = text.strip()
        if not text:
            raise ValueError("a fact needs some text")
        now = time.time()
        cur = self._write("INSERT INTO facts (text, tags, session_id, created, updated) VALUES (?, ?, ?, ?, ?)",
                          (text, " ".join(sorted({t.strip() for t in tags if t.strip()})), session_id, now, now))
        return int(cur.lastrowid or 0)

    def forget(self, fact_id: int) -> bool:
        return self._write("DELETE FROM facts WHERE id = ?", (fact_id,)).rowcount > 0

    @_translated
    def fact(self, fact_id: int) -> Fact | None:
        row = self.conn.execute("SELECT * FROM facts WHERE id = ?", (fact_id,)).fetchone()
        return self._fact(row) if row else None

    @_translated
    def facts(self, limit: int = 100) -> list[Fact]:
        rows = self.conn.execute("SELECT * FROM facts ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._fact(r) for r in rows]

    def _fact(self, row: tuple[Any, ...]) -> Fact:
        d = dict(zip(self._fact_cols, row))
        return Fact(id=d["id"], text=d["text"], tags=(d["tags"] or "").split(), session_id=d["session_id"],
                    created=d["created"], updated=d["updated"])

    @_translated
    def recall(self, query: str, limit: int = 5) -> list[Fact]:
        """Facts ranked by FTS5 (bm25). The query may use FTS syntax; where FTS rejects it
        (punctuation, quotes, a lone operator), its words are searched instead, any of them
        matching, best matches first."""
        query = query.strip()
        if not query:
            return self.facts(limit)
        sql = ("SELECT facts.* FROM facts_fts JOIN facts ON facts.id = facts_fts.rowid "
               "WHERE facts_fts MATCH ? ORDER BY bm25(facts_fts) LIMIT ?")
        words = re.findall(r"\w+", query)
        # Every word first (selective, and the best answers), then any word.
        attempts = [query] if re.fullmatch(r"[\w\s]+", query) is None else []
        if words:
            attempts.append(" ".join(f'"{w}"' for w in words))
        if len(words) > 1:
            attempts.append(" OR ".join(f'"{w}"' for w in words))
        for attempt in attempts:
            try:
                rows = self.conn.execute(sql, (attempt, limit)).fetchall()
            except sqlite3.OperationalError:
                continue  # FTS syntax error: try the next, plainer form
            if rows or attempt is attempts[-1]:
                return [self._fact(r) for r in rows]
        # No word characters at all (emoji, punctuation): fall back to a substring match.
        rows = self.conn.execute("SELECT * FROM facts WHERE instr(text, ?) > 0 ORDER BY id DESC LIMIT ?",
                                 (query, limit)).fetchall()
        return [self._fact(r) for r in rows]

    # --- sessions and messages --------------------------------------------------------------------

    def new_session(self, title: str | None = None, model: str | None = None) -> str:
        # Time-ordered ids: sessions sort by creation, and no two processes collide.
        session_id = f"{int(time.time() * 1000):013x}{uuid.uuid4().hex[:8]}"
        now = time.time()
        self._write("INSERT INTO sessions (id, title, model, created, updated) VALUES (?, ?, ?, ?, ?)",
                    (session_id, title, model, now, now))
        return session_id

    @_translated
    def session(self, session_id: str) -> Session | None:
        row = self.conn.execute(
            "SELECT s.id, s.title, s.created, s.updated, s.model, "
            "(SELECT count(*) FROM messages m WHERE m.session_id = s.id) FROM sessions s WHERE s.id = ?",
            (session_id,)).fetchone()
        return Session(*row) if row else None

    @_translated
    def sessions(self, limit: int = 50, include_empty: bool = False) -> list[Session]:
        """Sessions, most recently used first (empty ones only if asked: an agent opened and left)."""
        rows = self.conn.execute(
            "SELECT s.id, s.title, s.created, s.updated, s.model, "
            "(SELECT count(*) FROM messages m WHERE m.session_id = s.id) AS n "
            "FROM sessions s WHERE n > 0 OR ? ORDER BY s.updated DESC, s.id DESC LIMIT ?",
            (include_empty, limit)).fetchall()
        return [Session(*r) for r in rows]

    @_translated
    def last_session(self) -> Session | None:
        found = self.sessions(limit=1)
        return found[0] if found else None

    def set_title(self, session_id: str, title: str) -> None:
        self._write("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id))

    def append(self, session_id: str, message: dict[str, Any], kind: str = "message", **meta: Any) -> int:
        """Commit one message now. ``message`` is the chat message (role, content, any other chat
        fields); ``meta`` the tool and timing columns. Returns its sequence number."""
        with self._transaction():
            return self._insert(session_id, message, kind, meta)

    def _insert(self, session_id: str, message: dict[str, Any], kind: str, meta: dict[str, Any]) -> int:
        """Add a message inside the caller's transaction; returns its sequence number."""
        chat = {k: v for k, v in message.items() if k not in ("role", "content")}
        meta = dict(meta)
        extra = dict(meta.pop("extra", {}) or {})
        if chat:
            extra["chat"] = chat
        unknown = set(meta) - set(_MESSAGE_FIELDS)
        if unknown:
            raise TypeError(f"unknown message fields: {', '.join(sorted(unknown))}")
        if meta.get("tool_arguments") is not None:
            meta["tool_arguments"] = json.dumps(meta["tool_arguments"], sort_keys=True, ensure_ascii=False)
        now = time.time()
        if self.conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
            raise StoreError(f"there is no session {session_id!r}", hint="list them with `harness memory list`")
        (seq,) = self.conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE session_id = ?",
                                   (session_id,)).fetchone()
        cols = ["session_id", "seq", "role", "content", "kind", "created", "extra", *meta]
        values = [session_id, seq, message.get("role", "user"), message.get("content") or "", kind, now,
                  json.dumps(extra, sort_keys=True, ensure_ascii=False), *meta.values()]
        self.conn.execute(f"INSERT INTO messages ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        self.conn.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
        return int(seq)

    @_translated
    def messages(self, session_id: str, include_compacted: bool = True) -> list[StoredMessage]:
        """Every message of a session in order (originals replaced by a summary included, marked)."""
        cur = self.conn.execute("SELECT * FROM messages WHERE session_id = ? ORDER BY seq", (session_id,))
        cols = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            d = dict(zip(cols, row))
            msg = StoredMessage(
                id=d["id"], session_id=d["session_id"], seq=d["seq"], role=d["role"], content=d["content"],
                created=d["created"], kind=d["kind"], extra=json.loads(d["extra"] or "{}"),
                **{k: d[k] for k in _MESSAGE_FIELDS if k != "tool_arguments"},
                tool_arguments=json.loads(d["tool_arguments"]) if d["tool_arguments"] else None,
            )
            out.append(msg)
        if not include_compacted:
            out = [m for m in out if m.kind != "compacted"]
        return out

    @_translated
    def transcript(self, session_id: str) -> list[dict[str, Any]]:
        """The chat messages the model sees now: originals replaced by summaries left out."""
        return [m.as_chat() for m in self.messages(session_id, include_compacted=False)]

    def mark_compacted(self, session_id: str, seqs: Iterable[int]) -> None:
        """Mark messages as replaced by a summary (they are kept, never deleted)."""
        with self._transaction():
            self._mark_compacted(session_id, list(seqs))

    def _mark_compacted(self, session_id: str, seqs: list[int]) -> None:
        self.conn.execute(f"UPDATE messages SET kind = 'compacted' WHERE session_id = ? AND seq IN "
                          f"({', '.join('?' * len(seqs))})", (session_id, *seqs))

    def compact(self, session_id: str, replaced: Iterable[int], summary: dict[str, Any],
                kept: Iterable[dict[str, Any]], summary_extra: dict[str, Any] | None = None) -> list[int]:
        """Replace messages by a summary in one transaction: mark ``replaced`` compacted, append the
        summary, then the ``kept`` messages again. Returns the new sequence numbers (summary first).

        All or nothing: a kill midway leaves the session as it was, never half compacted."""
        with self._transaction():
            self._mark_compacted(session_id, list(replaced))
            seqs = [self._insert(session_id, summary, "summary", {"extra": summary_extra or {}})]
            seqs += [self._insert(session_id, m, "message", {}) for m in kept]
        return seqs

    # --- plans ------------------------------------------------------------------------------------

    def save_plan(self, session_id: str | None, goal: str, steps: list[dict[str, Any]]) -> int:
        now = time.time()
        cur = self._write("INSERT INTO plans (session_id, goal, status, created, updated) VALUES (?, ?, ?, ?, ?)",
                          (session_id, goal, "running", now, now))
        plan_id = int(cur.lastrowid or 0)
        for i, step in enumerate(steps):
            self._write("INSERT INTO plan_steps (plan_id, idx, goal, tools, status) VALUES (?, ?, ?, ?, ?)",
                        (plan_id, i, step["goal"], json.dumps(step.get("tools", [])), "pending"))
        return plan_id

    def update_step(self, plan_id: int, index: int, status: str, outcome: str | None = None) -> None:
        self._write("UPDATE plan_steps SET status = ?, outcome = ? WHERE plan_id = ? AND idx = ?",
                    (status, outcome, plan_id, index))
        self._write("UPDATE plans SET updated = ? WHERE id = ?", (time.time(), plan_id))

    def finish_plan(self, plan_id: int, status: str) -> None:
        self._write("UPDATE plans SET status = ?, updated = ? WHERE id = ?", (status, time.time(), plan_id))

    @_translated
    def plan(self, plan_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT id, session_id, goal, status FROM plans WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            return None
        steps = self.conn.execute("SELECT idx, goal, tools, status, outcome FROM plan_steps WHERE plan_id = ? "
                                  "ORDER BY idx", (plan_id,)).fetchall()
        return {"id": row[0], "session_id": row[1], "goal": row[2], "status": row[3],
                "steps": [{"index": s[0], "goal": s[1], "tools": json.loads(s[2]), "status": s[3], "outcome": s[4]}
                          for s in steps]}

    # --- export -----------------------------------------------------------------------------------

    @_translated
    def export(self, session_id: str | None = None) -> dict[str, Any]:
        sessions = [self.session(session_id)] if session_id else self.sessions(limit=1_000_000)
        return {
            "sessions": [
                {**s.__dict__, "messages": [m.__dict__ for m in self.messages(s.id)]} for s in sessions if s
            ],
            "facts": [f.__dict__ for f in self.facts(limit=1_000_000)] if session_id is None else [],
        }

    @_translated
    def export_markdown(self, session_id: str) -> str:
        s = self.session(session_id)
        if s is None:
            raise StoreError(f"there is no session {session_id!r}")
        lines = [f"# Session {s.id}" + (f": {s.title}" if s.title else ""), ""]
        for m in self.messages(session_id):
            label = m.role + (f" ({m.kind})" if m.kind != "message" else "")
            lines += [f"## {label} #{m.seq}", "", m.content, ""]
        return "\n".join(lines)
