"""The harness's memory and skills as an MCP server, so any MCP client shares them.

``harness mcp serve`` (or ``python -m harness.mcp_server``) speaks MCP over stdio through the
official SDK and exposes ``remember``, ``recall`` and ``forget`` on the same SQLite file the chat
uses, and ``list_skills`` / ``load_skill`` on the same skill search path. The store is in WAL
mode with one short transaction per write and a busy timeout, so the chat and any number of
clients can write at once and lose nothing.

stdout carries the protocol: everything for people (warnings, errors) goes to stderr.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import click
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from harness.skills import SkillSet, skill_tools
from harness.memory import StoreError, MemoryStore

SERVER_NAME = "harness"
MAX_RECALL = 100

T = TypeVar("T")


def build_server(store: MemoryStore, skills: SkillSet) -> MCPServer:
    """An MCP server over ``store`` and ``skills``; the caller runs it and closes the store."""
    server = MCPServer(SERVER_NAME, log_level="WARNING", instructions=(
        "The harness's long-term memory (facts shared with the harness chat and other clients) and its skills "
        "(instructions for particular kinds of task: list them, then load one by name and follow it)."))
    # The SDK may run sync tools on worker threads; one connection, one writer at a time.
    lock = threading.Lock()
    # The body exactly as the chat's load_skill tool renders it.
    render_skill = skill_tools(skills)[0]

    def stored(action: Callable[[], T]) -> T:
        """Run a store call; its failures (a locked or damaged file, empty text) become MCP tool errors."""
        try:
            with lock:
                return action()
        except (StoreError, ValueError) as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(structured_output=False)
    def remember(text: str, tags: list[str] | None = None) -> str:
        """Store a fact about the user or the task, to recall in later sessions (shared with the harness chat).

        Args:
            text: the fact, as one self-contained sentence
            tags: optional keywords
        """
        fact_id = stored(lambda: store.remember(text, tags or ()))
        return f"remembered as fact #{fact_id}"

    @server.tool(structured_output=False)
    def recall(query: str = "", limit: Annotated[int, Field(ge=1, le=MAX_RECALL)] = 5) -> str:
        """Search the remembered facts, best matches first; an empty query lists the newest.

        Args:
            query: words to look for
            limit: how many facts to return at most
        """
        facts = stored(lambda: store.recall(query, limit=limit))
        if not facts:
            return "no remembered facts match"
        return "\n".join(f"#{f.id}: {f.text}" for f in facts)

    @server.tool(structured_output=False)
    def forget(fact_id: int) -> str:
        """Delete a remembered fact by its number.

        Args:
            fact_id: the fact's number, as recall shows it (#12 -> 12)
        """
        if not stored(lambda: store.forget(fact_id)):
            raise ToolError(f"there is no fact #{fact_id}; recall shows the facts and their numbers")
        return f"forgot fact #{fact_id}"

    @server.tool(structured_output=False)
    def list_skills() -> str:
        """The available skills, one per line: name, then what it is for. Load one with load_skill."""
        if not skills.skills:
            return "no skills are installed"
        return "\n".join(f"{s.name}: {' '.join(s.description.split())}" for s in skills.skills)

    @server.tool(structured_output=False)
    def load_skill(name: str) -> str:
        """Load a skill's instructions by name (see list_skills).

        Args:
            name: the skill's name
        """
        try:
            return str(render_skill(name))
        except LookupError as exc:
            raise ToolError(str(exc)) from exc

    return server


def serve(memory_path: str | Path | None = None, skills_dirs: Sequence[str] = ()) -> None:
    """Serve the memory at ``memory_path`` (default: the chat's) and the skills over stdio until
    the client closes the connection. Untrusted project skills are skipped with a warning."""
    from harness.build import project_skills_allowed  # the chat's own trust rule and warning
    from harness.config import Settings
    from harness.skills import default_skill_paths, load_skills

    dirs = tuple(skills_dirs)
    skills = load_skills(default_skill_paths(list(dirs), project=project_skills_allowed(dirs)))
    for problem in skills.errors:
        click.secho(f"{problem.level}: {problem}", fg="yellow", err=True)
    with MemoryStore(Settings.load(memory=str(memory_path) if memory_path else None).memory_path()) as store:
        build_server(store, skills).run("stdio")


@click.command("serve")
@click.option("--memory", "memory_db", default=None, metavar="PATH",
              help="memory database (default ~/.harness/memory.db, the chat's)")
@click.option("--skills", "skills_dirs", multiple=True, metavar="DIR",
              help="another folder of skills, searched first (repeatable)")
def serve_command(memory_db: str | None, skills_dirs: tuple[str, ...]) -> None:
    """Serve the harness's memory and skills to other MCP clients over stdio."""
    try:
        serve(memory_db, skills_dirs)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    serve_command()
