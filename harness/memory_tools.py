"""The memory tools the model can call: remember, recall, forget.

Recalled facts come back as a tool result, appended to the transcript where they were
recalled; they never enter the system prompt, so the cached prefix survives.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from harness.memory import MemoryStore
from harness.tools import Tool, tool

MEMORY_TOOLS = ("remember", "recall", "forget")
READ_ONLY_MEMORY_TOOLS = ("recall",)  # a read-only agent writes nothing, memory included


def memory_tools(store: MemoryStore, session_id: Callable[[], str | None] = lambda: None,
                 names: Collection[str] = MEMORY_TOOLS) -> list[Tool]:
    """The memory tools named in ``names``, in a fixed order.

    ``session_id`` is asked at call time: the session is created with its first message."""

    @tool
    def remember(text: str, tags: list[str] | None = None) -> str:
        """Store a fact about the user or the task, to recall in later sessions.

        Args:
            text: the fact, as one self-contained sentence
            tags: optional keywords
        """
        fact_id = store.remember(text, tags or (), session_id=session_id())
        return f"remembered as fact #{fact_id}"

    @tool
    def recall(query: str, limit: int = 5) -> str:
        """Search the facts remembered in this and earlier sessions.

        Args:
            query: words to look for
            limit: how many facts to return at most
        """
        facts = store.recall(query, limit=limit)
        if not facts:
            return "no remembered facts match"
        return "\n".join(f"#{f.id}: {f.text}" for f in facts)

    # Deleting is not undoable, so the user approves every deletion, whatever else is allowed.
    @tool(needs_approval=True)
    def forget(fact_id: int) -> str:
        """Delete a remembered fact by its number.

        Args:
            fact_id: the fact's number, as recall shows it (#12 -> 12)
        """
        return f"forgot fact #{fact_id}" if store.forget(fact_id) else f"there is no fact #{fact_id}"

    return [t for t in (remember, recall, forget) if t.name in names]
