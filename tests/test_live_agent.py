"""The agent with the bundled model on the real server, calls constrained by guided decoding."""

from __future__ import annotations

import pytest

from harness import events as ev
from harness.agent import Agent
from harness.memory import MemoryStore
from harness.client import AsyncClient
from harness.bench import get_weather
from harness.tools import ToolSet, Workspace, builtin_tools

pytestmark = pytest.mark.live


def test_constrained_call_is_parsed_validated_executed_and_fed_back(live_server):
    agent = Agent(client=AsyncClient(live_server.base_url), tools=[get_weather])
    events = list(agent.stream("What's the weather in Oslo?"))
    agent.close()  # its event loop too: an open one leaves pending tasks to be reported at exit
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
    # decide read the real server's probabilities before the first action (harness/decide.py).
    assert result.turns[0].probes >= 1 and 0 <= result.turns[0].answer_probability <= 1
    assert result.turns[0].probe_usage.prompt_tokens == result.turns[0].usage.prompt_tokens


def test_the_decline_schema_is_accepted_and_followed(live_server):
    """The decline's JSON Schema `pattern` compiles on the real server and holds the answer to its opening."""
    import re

    from harness.client import Client
    from harness.constrained import decline_schema

    with Client(live_server.base_url) as client:
        reply = client.chat([{"role": "user", "content": "Turn on the living room lights."}],
                            json_schema=decline_schema("Sorry, I can't"), max_tokens=40, temperature=0)
    # Read from the raw text: 40 tokens may end inside the string, which is still held to its opening.
    assert re.match(r'\s*\{\s*"name"\s*:\s*"final_answer"\s*,\s*"arguments"\s*:\s*\{\s*"answer"\s*:\s*"Sorry, I can\'t',
                    reply.text), reply.text


def test_the_fresh_answer_schema_is_accepted_and_followed(live_server):
    """The pattern that keeps an answer from opening as an echoed one did compiles on the real server,
    and the answer opens otherwise (asked to begin with "Weather", it may not)."""
    import re

    from harness.client import Client
    from harness.constrained import fresh_answer_schema

    with Client(live_server.base_url) as client:
        reply = client.chat([{"role": "user", "content": "Reply with the word Weather, then the weather in Tokyo."}],
                            json_schema=fresh_answer_schema("W"), max_tokens=30, temperature=0)
    opening = re.match(r'\s*\{\s*"name"\s*:\s*"final_answer"\s*,\s*"arguments"\s*:\s*\{\s*"answer"\s*:\s*"(.)',
                       reply.text)
    assert opening is not None and opening.group(1) not in 'wW" ', reply.text


def test_two_step_task_with_file_tools(live_server, tmp_path):
    (tmp_path / "notes.txt").write_text("Team meeting: Friday at 10:00 in room 4.\n")
    tools = ToolSet([t for t in builtin_tools(Workspace(tmp_path)) if t.name in ("read_file", "list_dir")])
    agent = Agent(client=AsyncClient(live_server.base_url), tools=tools)
    result = agent.run("Read notes.txt and tell me on which day the team meeting is.")
    agent.close()
    names = [c.name for t in result.turns for c in t.calls]
    assert "read_file" in names
    assert result.stop_reason == "final_answer"
    assert "friday" in result.text.lower()


def test_plan_end_to_end(live_server, tmp_path):
    (tmp_path / "notes.txt").write_text("Team meeting: Friday at 10:00 in room 4.\n")
    tools = ToolSet([t for t in builtin_tools(Workspace(tmp_path)) if t.name in ("read_file", "list_dir")])
    agent = Agent(client=AsyncClient(live_server.base_url), tools=tools, memory=MemoryStore(tmp_path / "m.db"))
    events = list(agent.stream("Find out on which day the team meeting in notes.txt is.", plan=True))
    plans = [e for e in events if isinstance(e, ev.PlanEvent)]
    finished = [e for e in events if isinstance(e, ev.StepFinished)]
    result = events[-1].result
    assert plans and plans[0].plan.steps
    assert finished and finished[0].ok
    assert any(c.name == "read_file" for t in result.turns for c in t.calls)
    assert result.ok and "friday" in result.text.lower()
    stored = agent.memory.plan(1)
    agent.close()
    assert stored["steps"][0]["status"] == "done"


def test_harness_run_prints_the_answer_and_json(live_server, tmp_path):
    import json
    import subprocess
    import sys

    (tmp_path / "notes.txt").write_text("The wifi password is correct-horse.\n")
    base = [sys.executable, "-m", "harness.cli", "run", "--base-url", live_server.base_url,
            "--workspace", str(tmp_path), "--memory", str(tmp_path / "m.db")]
    out = subprocess.run([*base, "--json", "Read notes.txt and tell me the wifi password."],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] and "correct-horse" in data["text"] and data["steps"]
    bad = subprocess.run([*base[:4], "--base-url", "http://127.0.0.1:9", "--memory", str(tmp_path / "m.db"), "hello"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "no server answers" in bad.stderr and "Traceback" not in bad.stderr
