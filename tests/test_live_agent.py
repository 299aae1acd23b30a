"""The agent with the bundled model on the real server, calls constrained by guided decoding."""

from __future__ import annotations

import pytest

from harness import events as ev
from harness.agent import Agent
from harness.bench import get_weather
from tools import ToolSet, Workspace, builtin_tools

pytestmark = pytest.mark.live


def test_constrained_call_is_parsed_validated_executed_and_fed_back(live_server):
    agent = Agent(base_url=live_server.base_url, tools=[get_weather])
    events = list(agent.stream("What's the weather in Oslo?"))
    calls = [e for e in events if isinstance(e, ev.ToolCallEvent)]
    results = [e for e in events if isinstance(e, ev.ToolResultEvent)]
    result = events[-1].result
    assert calls and calls[0].call.name == "get_weather" and calls[0].problem is None
    assert calls[0].call.arguments["city"].lower() == "oslo"
    assert results[0].result.ok and '"temperature": 21' in results[0].result.output
    # Fed back: the next request's transcript carries the result after the model's verbatim call.
    assert agent.messages[2] == {"role": "assistant", "content": result.turns[0].raw_text}
    assert "Tool result for get_weather" in agent.messages[3]["content"]
    assert result.stop_reason == "final_answer" and "21" in result.text
    # The whole system prompt (tool schemas included) was served from cache on the second turn.
    assert result.turns[1].usage.cached_tokens >= result.turns[0].usage.prompt_tokens // 128 * 128


def test_two_step_task_with_file_tools(live_server, tmp_path):
    (tmp_path / "notes.txt").write_text("Team meeting: Friday at 10:00 in room 4.\n")
    tools = ToolSet([t for t in builtin_tools(Workspace(tmp_path)) if t.name in ("read_file", "list_dir")])
    agent = Agent(base_url=live_server.base_url, tools=tools)
    result = agent.run("Read notes.txt and tell me on which day the team meeting is.")
    names = [c.name for t in result.turns for c in t.calls]
    assert "read_file" in names
    assert result.stop_reason == "final_answer"
    assert "friday" in result.text.lower()
