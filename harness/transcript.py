"""The transcript: the exact messages the model sees, append-only, committed to memory as
each one happens, and reloaded byte-for-byte on resume so the server's prefix cache still
serves it.

The one exception to append-only is compaction, when the context is full: older turns are
replaced by a summary. The originals stay in the store (marked ``compacted``); the cache break
this causes is reported, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.memory import MemoryStore

Message = dict[str, Any]

SUMMARY_PREFIX = "Summary of the earlier part of this conversation (older messages were compacted):\n\n"
SUMMARY_REQUEST = (
    "Summarise the conversation so far for your own later reference: the user's goals, facts learned, "
    "tool results that matter, decisions made and open questions. Be complete but brief; plain text."
)


@dataclass
class Compaction:
    replaced: int  # messages replaced by the summary
    kept: int
    summary: str


TITLE_CHARS = 80  # a session's title: the start of its first user message, on one line


def title_of(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1] + "…"


class Transcript:
    def __init__(self, store: MemoryStore | None = None, session_id: str | None = None) -> None:
        self.store = store
        self.session_id = session_id
        self.title: str | None = None
        self.messages: list[Message] = []
        self._seqs: list[int] = []  # the store's seq of each message in self.messages
        if store is not None and session_id is not None:
            if (session := store.session(session_id)) is None:
                raise HarnessError(f"there is no session {session_id!r} in {store.path}",
                                   hint="list sessions with `harness memory list`")
            for m in store.messages(session_id, include_compacted=False):
                self.messages.append(m.as_chat())
                self._seqs.append(m.seq)
            self.title = session.title
        elif store is not None:
            # Created now, so the id is stable from the start (server affinity hashes it).
            self.session_id = store.new_session()

    def __len__(self) -> int:
        return len(self.messages)

    def append(self, message: Message, kind: str = "message", **meta: Any) -> None:
        """Add a message and commit it to the store now (before anything else can go wrong)."""
        if self.store is not None and self.session_id is not None:
            self._seqs.append(self.store.append(self.session_id, message, kind=kind, **meta))
            if message.get("role") == "user" and kind == "message":
                self.name(str(message.get("content") or ""))
        self.messages.append(message)

    def name(self, text: str) -> None:
        """Title the session by how it began (harness memory list, /sessions), once."""
        if self.title is None and self.store is not None and self.session_id is not None:
            self.title = title_of(text)
            self.store.set_title(self.session_id, self.title)

    def compact(self, summary: str, keep: int) -> Compaction:
        """Replace every message between the system prompt and the last ``keep`` by a summary.

        In the store the originals are kept and marked; the kept messages are appended again
        after the summary, so the stored order is the order the model now sees."""
        head, middle, tail = self.messages[:1], self.messages[1:-keep or None], self.messages[-keep:] if keep else []
        if not middle:
            return Compaction(0, len(tail), summary)
        summary_message = {"role": "user", "content": SUMMARY_PREFIX + summary.strip()}
        if self.store is not None and self.session_id is not None:
            old = self._seqs[1:]
            # One transaction: a kill midway must not leave the originals marked and no summary.
            new = self.store.compact(self.session_id, old, summary_message, tail,
                                     summary_extra={"replaces": old[: len(middle)]})
            self._seqs = [*self._seqs[:1], *new]
        self.messages = [*head, summary_message, *tail]
        return Compaction(len(middle), len(tail), summary)
