"""The agent's public API for one bounded run (Agent.loop under a Policy), for a JSON object under a
schema (Agent.ask_json), and Result.from_turns, against a scripted server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from harness import events as ev
from harness.agent import Agent
from harness.client import Usage
from harness import Policy
from harness.techniques import Techniques
from scripted import Reply, ScriptedServer
from test_planner import lookup, shout  # the same two tools as the planner's tests


def action(name: str, **args) -> Reply:
    return Reply(json.dumps({"name": name, "arguments": args}))


def agent(server: ScriptedServer) -> Agent:
    return Agent(tools=[lookup, shout], client=server.client(), constrained=True, techniques=Techniques.none())


def run(a: Agent, content: str, policy: Policy = Policy()) -> list[ev.Event]:
    async def collect(events: AsyncIterator[ev.Event]) -> list[ev.Event]:
        return [e async for e in events]

    return asyncio.run(collect(a.loop(content, policy)))


def offered(request: dict) -> set[str]:
    """The action names a request's guided-decoding schema allows."""
    return {o["properties"]["name"]["const"] for o in request["response_format"]["json_schema"]["schema"]["anyOf"]}


def test_a_policy_offers_only_its_tools_and_refuses_others():
    server = ScriptedServer([action("shout", text="a"), action("final_answer", answer="none")])
    events = run(agent(server), "look a up", Policy(allowed=("lookup",)))
    assert offered(server.requests[0]) == {"lookup", "final_answer"}
    refused = [e.result for e in events if isinstance(e, ev.ToolResultEvent)]
    assert not refused[0].ok and "not one of this step's tools (lookup)" in refused[0].output


def test_must_call_leaves_the_answer_out_of_the_first_action_only():
    server = ScriptedServer([action("lookup", key="a"), action("final_answer", answer="apple")])
    events = run(agent(server), "look a up", Policy(allowed=("lookup",), must_call=True))
    assert [offered(r) for r in server.requests] == [{"lookup"}, {"lookup", "final_answer"}]
    assert events[-1].result.text == "apple"


def test_must_answer_offers_only_the_answer():
    server = ScriptedServer([action("final_answer", answer="done")])
    run(agent(server), "say done", Policy(must_answer=True))
    assert offered(server.requests[0]) == {"final_answer"}


def test_may_replan_ends_the_run_with_the_reason():
    server = ScriptedServer([action("replan", reason="no such key")])
    events = run(agent(server), "look z up", Policy(may_replan=True))
    assert "replan" in offered(server.requests[0])
    result = events[-1].result
    assert (result.stop_reason, result.text, result.ok) == ("replan", "no such key", False)


def test_without_may_replan_replan_is_not_offered():
    server = ScriptedServer([action("final_answer", answer="done")])
    run(agent(server), "x")
    assert "replan" not in offered(server.requests[0])


def test_a_policy_cannot_require_a_call_and_an_answer_first():
    with pytest.raises(ValueError, match="both a call and an answer"):
        Policy(must_call=True, must_answer=True)


def test_runs_share_nothing_but_the_transcript():
    # A repeated call forces the next action to be an answer; a run that ends there (max_steps)
    # must not hand that on to the next run.
    server = ScriptedServer([action("lookup", key="a"), action("lookup", key="a"), action("final_answer", answer="b")])
    a = agent(server)
    a.max_steps = 2
    assert run(a, "look a up")[-1].result.stop_reason == "max_steps"
    run(a, "again")
    assert offered(server.requests[2]) == {"lookup", "shout", "final_answer"}


def test_ask_json_appends_the_request_and_the_reply_verbatim():
    server = ScriptedServer([Reply('{"n": 1}')])
    a = agent(server)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    record = asyncio.run(a.ask_json("Give n.", schema, max_tokens=50))
    request = server.requests[0]
    assert request["response_format"]["json_schema"]["schema"] == schema and request["max_tokens"] == 50
    assert record.raw_text == '{"n": 1}' and a.turns == [record]
    assert a.messages[0]["role"] == "system"
    assert a.messages[1:] == [{"role": "user", "content": "Give n."}, {"role": "assistant", "content": '{"n": 1}'}]


def test_result_from_turns_sums_their_usage():
    turns = [ev.TurnRecord(raw_text="a", usage=Usage(10, 2, 4)), ev.TurnRecord(raw_text="b", usage=Usage(15, 3, 8))]
    result = ev.Result.from_turns(turns, "final_answer", "done", session_id="s", error=None)
    assert (result.usage, result.turns, result.text, result.session_id) == (Usage(25, 5, 12), turns, "done", "s")
