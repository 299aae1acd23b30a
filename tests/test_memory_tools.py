"""The memory tools under each --tools mode: read-only offers no writes of any kind, and
deleting a fact needs the user's approval in every mode."""

from __future__ import annotations

import pytest

from harness.agent import Agent
from harness.build import build_agent
from harness.config import Settings
from harness.memory_tools import memory_tools
from harness.memory import MemoryStore
from scripted import Reply, ScriptedServer
from harness.tools import ToolSet, allow_all, deny_all

MEMORY = {"remember", "recall", "forget"}


@pytest.fixture
def store(tmp_path) -> MemoryStore:
    return MemoryStore(tmp_path / "m.db")


@pytest.mark.parametrize(("tool_set", "offered"), [
    ("read", {"recall"}),
    ("all", {"remember", "recall", "forget"}),
    ("read_file,forget", {"forget"}),
    ("read_file", set()),
])
def test_tools_option_decides_which_memory_tools_are_offered(tmp_path, monkeypatch, tool_set, offered):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    agent = build_agent(Settings.load(base_url="http://127.0.0.1:9", memory=str(tmp_path / "m.db"),
                                      workspace=str(tmp_path), tools=tool_set))
    assert {t.name for t in agent.tools} & MEMORY == offered


@pytest.mark.parametrize(("approve", "kept"), [(deny_all, True), (allow_all, False)])
def test_forget_runs_only_when_approved(store, approve, kept):
    fact = store.remember("The staging server is called kestrel.")
    forget = next(t for t in memory_tools(store) if t.name == "forget")
    ToolSet([forget]).run_sync("forget", {"fact_id": fact}, approve)
    assert bool(store.recall("kestrel")) is kept


def test_a_read_only_agent_cannot_delete_a_fact(store):
    fact = store.remember("The staging server is called kestrel.")
    server = ScriptedServer([Reply(f'<tool_call>{{"name": "forget", "arguments": {{"fact_id": {fact}}}}}</tool_call>'),
                             Reply("done")])
    agent = Agent(client=server.client(), memory=store, memory_tool_names=("recall",), constrained=False,
                  approve=allow_all)
    agent.run("Forget the staging server.")
    assert store.recall("kestrel")[0].id == fact
