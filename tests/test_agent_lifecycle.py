"""One event loop and one connection pool per agent, closed with it; switching sessions in the
REPL closes the old session's client and store."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from rich.console import Console

from harness.agent import Agent
from harness.memory import MemoryStore
from harness.repl import Repl
from scripted import Reply, ScriptedServer


def is_closed(store: MemoryStore) -> bool:
    try:
        store.conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_sync_calls_share_one_connection_pool():
    server = ScriptedServer([Reply("one"), Reply("two"), Reply("three")])
    agent = Agent(client=server.client(), constrained=False)
    pool = agent.client.http
    agent.run("a")
    list(agent.stream("b"))
    agent.run("c")
    assert (agent.client.http is pool, pool.is_closed) == (True, False)


def test_with_closes_the_client_and_the_store(tmp_path):
    server = ScriptedServer([Reply("hi")])
    store = MemoryStore(tmp_path / "m.db")
    with Agent(client=server.client(), memory=store, constrained=False) as agent:
        agent.run("hello")
    assert (agent.client.closed, is_closed(store)) == (True, True)


def test_async_with_closes_the_client_and_the_store(tmp_path):
    server = ScriptedServer([Reply("hi")])
    store = MemoryStore(tmp_path / "m.db")

    async def main() -> Agent:
        async with Agent(client=server.client(), memory=store, constrained=False) as agent:
            await agent.arun("hello")
        return agent

    agent = asyncio.run(main())
    assert (agent.client.closed, is_closed(store)) == (True, True)


@pytest.mark.parametrize("command", ["/new", "/resume {session}"])
def test_switching_sessions_closes_the_old_client_and_store(tmp_path, command):
    server = ScriptedServer([Reply("hi")])
    made: list[Agent] = []

    def make(session: str | None) -> Agent:
        made.append(Agent(client=server.client(), memory=MemoryStore(tmp_path / "m.db"), session=session,
                          constrained=False))
        return made[-1]

    repl = Repl(make, console=Console(record=True, width=100))
    repl.agent.run("hello")
    repl.command(command.format(session=repl.agent.session_id))
    old, new = made
    assert (old.client.closed, is_closed(old.memory), new.client.closed, is_closed(new.memory)) == \
        (True, True, False, False)
