"""The memory and skills MCP server, driven by the MCP SDK's own client over stdio: the same
SQLite file the chat uses, writes from both sides at once, errors as MCP errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from harness.skill_trust import project_skills, trust
from harness.memory import MemoryStore

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")

SKILL = """---
name: tidy-notes
description: Tidy a folder of notes.
---

Sort the notes by date.
"""


def text(result: CallToolResult) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def with_server(tmp_path: Path, session_fn: Callable[[ClientSession], Awaitable[T]], *extra: str) -> T:
    """Start ``python -m harness.mcp_server`` on tmp_path/memory.db (a private harness home, tmp_path
    as its working directory), run ``session_fn`` with a connected client session, return its result."""

    async def main() -> T:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "harness.mcp_server", "--memory", str(tmp_path / "memory.db"), *extra],
            env={"HARNESS_HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path(__file__).parent.parent)},
            cwd=tmp_path,
        )
        with (tmp_path / "stderr.txt").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await session_fn(session)

    return asyncio.run(main())


@pytest.fixture
def skills_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "skills" / "tidy-notes"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(SKILL)
    (folder / "references").mkdir()
    (folder / "references" / "style.md").write_text("dates first\n")
    return tmp_path / "skills"


def test_lists_the_memory_and_skill_tools(tmp_path):
    async def names(session: ClientSession) -> list[str]:
        return [t.name for t in (await session.list_tools()).tools]

    assert with_server(tmp_path, names) == ["remember", "recall", "forget", "list_skills", "load_skill"]


def test_remember_then_recall_then_forget(tmp_path):
    async def steps(session: ClientSession) -> list[str]:
        remembered = await session.call_tool("remember", {"text": "The deploy key is in the vault.", "tags": ["ops"]})
        found = await session.call_tool("recall", {"query": "deploy key"})
        forgotten = await session.call_tool("forget", {"fact_id": 1})
        after = await session.call_tool("recall", {"query": "deploy key"})
        return [text(r) for r in (remembered, found, forgotten, after)]

    assert with_server(tmp_path, steps) == ["remembered as fact #1", "#1: The deploy key is in the vault.",
                                            "forgot fact #1", "no remembered facts match"]


def test_list_skills_and_load_skill(tmp_path, skills_dir):
    async def steps(session: ClientSession) -> tuple[str, str]:
        listed = await session.call_tool("list_skills", {})
        loaded = await session.call_tool("load_skill", {"name": "tidy-notes"})
        return text(listed), text(loaded)

    listed, loaded = with_server(tmp_path, steps, "--skills", str(skills_dir))
    assert "tidy-notes: Tidy a folder of notes." in listed.splitlines()
    # The body as the chat's load_skill tool renders it, file list included.
    assert loaded == ("# Skill: tidy-notes\n\nSort the notes by date.\n\n"
                      "Files in this skill (read them with read_skill_file):\n- references/style.md")


@pytest.mark.parametrize("trusted, listed, warned", [
    (False, False, True),   # an untrusted checkout's skills never reach the client, and stderr says why
    (True, True, False),    # once the user has run `harness skills trust` there, they are served
])
def test_project_skills_are_served_only_when_trusted(tmp_path, monkeypatch, trusted, listed, warned):
    folder = tmp_path / ".harness" / "skills" / "sneaky"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(SKILL.replace("tidy-notes", "sneaky"))
    if trusted:
        monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))  # the server's home too
        trust(project_skills(tmp_path))  # type: ignore[arg-type]

    async def names(session: ClientSession) -> str:
        return text(await session.call_tool("list_skills", {}))

    served = "sneaky" in with_server(tmp_path, names)
    assert (served, "untrusted project skills" in (tmp_path / "stderr.txt").read_text()) == (listed, warned)


@pytest.mark.parametrize("tool, arguments, message", [
    ("forget", {"fact_id": 42}, "there is no fact #42"),
    ("load_skill", {"name": "no-such-skill"}, "there is no skill named 'no-such-skill'"),
    ("remember", {"text": "   "}, "a fact needs some text"),
    ("recall", {"query": "x", "limit": 0}, "limit"),
])
def test_bad_calls_are_mcp_errors_and_the_server_goes_on(tmp_path, tool, arguments, message):
    async def steps(session: ClientSession) -> tuple[CallToolResult, CallToolResult]:
        failed = await session.call_tool(tool, arguments)
        return failed, await session.call_tool("remember", {"text": "still here"})

    failed, after = with_server(tmp_path, steps)
    assert (failed.is_error, message in text(failed), after.is_error) == (True, True, False)


def test_mcp_and_the_chat_share_one_memory_file(tmp_path):
    with MemoryStore(tmp_path / "memory.db") as store:
        store.remember("Written by the chat.")

    async def steps(session: ClientSession) -> str:
        await session.call_tool("remember", {"text": "Written over MCP."})
        return text(await session.call_tool("recall", {"query": "written", "limit": 10}))

    seen_over_mcp = with_server(tmp_path, steps)
    with MemoryStore(tmp_path / "memory.db") as store:
        seen_by_chat = sorted(f.text for f in store.facts())
    assert ("Written by the chat." in seen_over_mcp, seen_by_chat) == (
        True, ["Written by the chat.", "Written over MCP."])


def test_concurrent_writes_from_both_sides_lose_nothing(tmp_path):
    n = 40
    MemoryStore(tmp_path / "memory.db").close()  # created first, so both sides open an existing file

    def write_directly() -> None:
        with MemoryStore(tmp_path / "memory.db") as store:
            for i in range(n):
                store.remember(f"direct fact {i}")

    async def steps(session: ClientSession) -> list[bool]:
        over_mcp = asyncio.gather(*(session.call_tool("remember", {"text": f"mcp fact {i}"}) for i in range(n)))
        results, _ = await asyncio.gather(over_mcp, asyncio.to_thread(write_directly))
        return [r.is_error for r in results]

    errors = with_server(tmp_path, steps)
    with MemoryStore(tmp_path / "memory.db") as store:
        texts = {f.text for f in store.facts(limit=10 * n)}
    assert (any(errors), texts) == (False, {f"direct fact {i}" for i in range(n)} | {f"mcp fact {i}" for i in range(n)})


@pytest.mark.parametrize("args, message", [
    (["--memory", "{tmp}"], "is a directory, not a database file"),
    (["--bogus"], "No such option"),
])
def test_bad_command_line_is_a_clear_error_not_a_traceback(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "harness.mcp_server", *(a.format(tmp=tmp_path) for a in args)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
                          env={"HARNESS_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
                          cwd=Path(__file__).parent.parent)
    assert (done.returncode != 0, message in done.stderr, "Traceback" in done.stderr) == (True, True, False)
