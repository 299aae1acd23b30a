"""Plan-and-execute against a scripted server: the plan, steps restricted to their tools, a
failing step and a replan, plans stored in memory."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from harness import events as ev
from harness.agent import Agent
from harness.techniques import Techniques
from harness.planner import cut_repeated_step, plan_schema
from harness.memory import MemoryStore
from scripted import Reply, ScriptedServer
from harness.tools import tool


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return {"a": "apple"}.get(key, "")


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


def plan(*steps: tuple[str, list[str]]) -> Reply:
    return Reply(json.dumps({"steps": [{"goal": g, "tools": t} for g, t in steps]}))


def final(text: str) -> Reply:
    return Reply(json.dumps({"name": "final_answer", "arguments": {"answer": text}}))


def call(name: str, **args) -> Reply:
    return Reply(json.dumps({"name": name, "arguments": args}))


def agent(server, **kw) -> Agent:
    kw.setdefault("techniques", Techniques.none())  # the plan mechanics; scripted values are not grounded
    return Agent(tools=[lookup, shout], client=server.client(), constrained=True, **kw)


def test_plan_then_steps_then_final(tmp_path):
    server = ScriptedServer([plan(("look up a", ["lookup"]), ("shout it", ["shout"])),
                             call("lookup", key="a"), final("apple"),
                             call("shout", text="apple"), final("APPLE"),
                             final("The answer is APPLE.")])
    db = MemoryStore(tmp_path / "m.db")
    a = agent(server, memory=db)
    events = list(a.stream("shout what a is", plan=True))
    result = events[-1].result
    assert (result.stop_reason, result.text) == ("final_answer", "The answer is APPLE.")
    assert [type(e).__name__ for e in events if isinstance(e, (ev.PlanEvent, ev.StepStarted, ev.StepFinished))] == \
        ["PlanEvent", "StepStarted", "StepFinished", "StepStarted", "StepFinished"]
    # The planner request was guided by the Plan schema, with tools limited to real ones.
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["steps"]["items"]["properties"]["tools"]["items"]["enum"] == a.tools.names
    assert {"lookup", "shout", "recall"} <= set(a.tools.names)
    # Step 1 had to start by calling its tool, lookup (or ask for a new plan); then it could answer.
    step1 = server.requests[1]["response_format"]["json_schema"]["schema"]
    assert {o["properties"]["name"]["const"] for o in step1["anyOf"]} == {"lookup", "replan"}
    # Once lookup had run, the step was done: its answer (or a replan) was the only action left.
    step1_then = server.requests[2]["response_format"]["json_schema"]["schema"]
    assert {o["properties"]["name"]["const"] for o in step1_then["anyOf"]} == {"final_answer", "replan"}
    # Every request extends the one before: steps share the session's prefix.
    for a, b in zip(server.requests, server.requests[1:]):
        assert b["messages"][: len(a["messages"])] == a["messages"]
    stored = db.plan(1)
    assert stored["status"] == "done" and [s["status"] for s in stored["steps"]] == ["done", "done"]


def test_failing_step_triggers_a_replan():
    server = ScriptedServer([plan(("look up z", ["lookup"])),
                             call("nope"), call("nope"), call("nope"),  # the step fails: max_retries
                             plan(("look up a instead", ["lookup"])),
                             call("lookup", key="a"), final("apple"),
                             final("apple, after a replan")])
    events = list(agent(server, max_retries=2).stream("find a fruit", plan=True))
    finished = [e for e in events if isinstance(e, ev.StepFinished)]
    plans = [e for e in events if isinstance(e, ev.PlanEvent)]
    assert [f.ok for f in finished] == [False, True]
    assert [p.revision for p in plans] == [0, 1]
    assert "did not succeed" in server.requests[4]["messages"][-1]["content"]
    assert events[-1].result.text == "apple, after a replan"


def test_replans_are_bounded():
    failing = [call("nope"), call("nope")]
    server = ScriptedServer([plan(("x", ["lookup"])), *failing, plan(("y", ["lookup"])), *failing,
                             plan(("z", ["lookup"])), *failing])
    result = agent(server, max_retries=1).run("x", plan=True)
    assert result.stop_reason == "max_retries" and "after 2 replans" in result.error


def test_server_failure_during_planning_is_an_error_result():
    result = agent(ScriptedServer([])).run("x", plan=True)
    assert result.stop_reason == "error" and "script exhausted" in result.error


def test_plan_schema_without_tools_allows_any_names():
    assert "enum" not in plan_schema([])["properties"]["steps"]["items"]["properties"]["tools"]["items"]


def test_a_step_whose_result_changes_the_plan_asks_for_a_new_one():
    server = ScriptedServer([plan(("look up z", ["lookup"]), ("shout z", ["shout"])),
                             call("replan", reason="z does not exist; a does"),
                             plan(("look up a", ["lookup"])), call("lookup", key="a"), final("apple"),
                             final("apple")])
    events = list(agent(server).stream("find a fruit", plan=True))
    plans = [e for e in events if isinstance(e, ev.PlanEvent)]
    finished = [e for e in events if isinstance(e, ev.StepFinished)]
    assert [p.revision for p in plans] == [0, 1] and len(plans[1].plan.steps) == 1
    assert not finished[0].ok and finished[0].outcome == "z does not exist; a does"
    assert "you found that the plan must change: z does not exist" in server.requests[2]["messages"][-1]["content"]
    # replan is offered inside a step only.
    step_schema = server.requests[1]["response_format"]["json_schema"]["schema"]
    assert "replan" in {o["properties"]["name"]["const"] for o in step_schema["anyOf"]}
    assert events[-1].result.text == "apple"


def test_replan_is_not_an_action_outside_plans():
    server = ScriptedServer([final("done")])
    agent(server).run("x")
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert "replan" not in {o["properties"]["name"]["const"] for o in schema["anyOf"] if o.get("type") == "object"}


@pytest.mark.parametrize("constrained", [True, False])
def test_a_step_never_runs_a_tool_outside_its_list(constrained):
    ran: list[str] = []

    @tool
    def write_note(text: str) -> str:
        """Write a note."""
        ran.append(text)
        return "written"

    outside = '<tool_call>{"name": "write_note", "arguments": {"text": "x"}}</tool_call>' if not constrained \
        else json.dumps({"name": "write_note", "arguments": {"text": "x"}})
    answer = "apple" if not constrained else json.dumps({"name": "final_answer", "arguments": {"answer": "apple"}})
    server = ScriptedServer([plan(("look up a", ["lookup"])), Reply(outside), Reply(answer), Reply(answer)])
    a = Agent(tools=[lookup, write_note], client=server.client(), constrained=constrained,
              techniques=Techniques.none())
    events = list(a.stream("what is a", plan=True))
    refused = [e for e in events if isinstance(e, ev.ToolResultEvent) and e.result.name == "write_note"]
    assert ran == [] and refused and "not one of this step's tools" in refused[0].result.output


def test_a_planned_session_is_titled_by_the_task_not_the_planner_prompt(tmp_path):
    server = ScriptedServer([plan(("look up a", ["lookup"])), call("lookup", key="a"), final("apple"),
                             final("a is apple.")])
    db = MemoryStore(tmp_path / "m.db")
    a = agent(server, memory=db)
    a.run("what is a?", plan=True)
    assert db.session(a.session_id).title == "what is a?"


def names_offered(request: dict) -> set[str]:
    schema = request["response_format"]["json_schema"]["schema"]
    options = schema.get("anyOf", [schema])
    return {o["properties"]["name"]["const"] for o in options if o.get("type") == "object"}


def test_a_step_whose_call_failed_may_call_again_before_answering():
    server = ScriptedServer([plan(("look up a", ["lookup"])), call("lookup", kee="a"), call("lookup", key="a"),
                             final("apple"), final("a is apple.")])
    result = agent(server).run("what is a?", plan=True)
    assert result.text == "a is apple."
    # The first call was invalid (no result): the tool stayed on offer; after the second ran, only the answer.
    assert "lookup" in names_offered(server.requests[2])
    assert names_offered(server.requests[3]) == {"final_answer", "replan"}


def test_a_step_whose_tools_an_earlier_step_used_may_answer_at_once():
    server = ScriptedServer([plan(("look up a", ["lookup"]), ("say what a is", ["lookup"])),
                             call("lookup", key="a"), final("apple"), final("a is apple"), final("a is apple.")])
    events = list(agent(server).stream("what is a?", plan=True))
    assert [e.ok for e in events if isinstance(e, ev.StepFinished)] == [True, True]
    assert names_offered(server.requests[1]) == {"lookup", "replan"}  # first use: a call comes first
    assert "final_answer" in names_offered(server.requests[3])  # step 2: lookup's result is above
    assert len(server.requests) == 5
    assert names_offered(server.requests[4]) == {"final_answer"}  # all steps done: the answer


def test_a_plan_holds_each_step_once_and_each_tool_once_per_step():
    server = ScriptedServer([plan(("Look up a.", ["lookup", "lookup"]), ("look up A", ["lookup"]),
                                  ("shout it", ["shout"]), ("Look up a", ["lookup"])),
                             call("lookup", key="a"), final("apple"), call("shout", text="apple"), final("APPLE"),
                             final("APPLE")])
    events = list(agent(server).stream("shout what a is", plan=True))
    steps = [e for e in events if isinstance(e, ev.PlanEvent)][0].plan.steps
    assert [(s.goal, s.tools) for s in steps] == [("Look up a.", ["lookup"]), ("shout it", ["shout"])]
    assert events[-1].result.text == "APPLE"


def test_a_plan_that_loops_on_a_step_is_cut_there_and_the_model_stops_writing():
    steps = [{"goal": "look up a", "tools": ["lookup"]}, {"goal": "shout it", "tools": ["shout"]},
             {"goal": "Look up a.", "tools": ["lookup"]}, {"goal": "look up A", "tools": ["lookup"]},
             {"goal": "more", "tools": []}]
    text = json.dumps({"steps": steps}, separators=(",", ":"))
    # The server drops the stream right after the third copy: the harness must have stopped reading.
    end = text.index('{"goal":"look up A"') + len(json.dumps(steps[3], separators=(",", ":")))
    server = ScriptedServer([Reply(text, drop_after=(end - 1) // 7 + 1), call("lookup", key="a"), final("apple"),
                             call("shout", text="apple"), final("APPLE"), final("The answer is APPLE.")])
    a = agent(server)
    events = list(a.stream("shout what a is", plan=True))
    plans = [e.plan for e in events if isinstance(e, ev.PlanEvent)]
    assert [s.goal for s in plans[0].steps] == ["look up a", "shout it"]
    assert plans[0].goal == "shout what a is"  # the task itself: the model no longer writes it
    assert "goal" not in plan_schema(["lookup"])["properties"]
    record = a.turns[0]
    assert record.finish_reason == "cut" and json.loads(record.raw_text) == {"steps": steps[:3]}
    assert record.usage.completion_tokens > 0 and record.usage.prompt_tokens == 100  # counts kept, chunk by chunk
    # The transcript holds the reply as cut, and the next request extends it.
    sent = server.requests[1]["messages"]
    assert sent[len(server.requests[0]["messages"])] == {"role": "assistant", "content": record.raw_text}
    assert events[-1].result.text == "The answer is APPLE."


def test_cut_repeated_step_reads_any_spacing_and_escapes():
    twice = '{"steps":[{"goal":"a","tools":[]},{"goal":"b","tools":["x"]},{"goal":"A.","tools":[]}'
    assert cut_repeated_step(twice) is None  # a step written twice may be followed by new ones
    assert cut_repeated_step(twice + ',{"goal":"a"') is None  # the third not closed yet
    assert json.loads(cut_repeated_step(twice + ',{"goal":"a","tools":[]}')) == json.loads(twice + "]}")
    text = '{"steps": [ {"goal": "say \\"hi\\"", "tools": []},\n {"goal":"Say \\"hi\\"!","tools":[]}'
    assert cut_repeated_step(text) is None
    assert json.loads(cut_repeated_step(text + ', {"goal": "say hi", "tools": []}')) == \
        {"steps": [{"goal": 'say "hi"', "tools": []}, {"goal": 'Say "hi"!', "tools": []}]}


@given(st.text(alphabet='{}[]",:\\ goaltsx', max_size=300))
def test_cut_repeated_step_never_raises_and_only_closes_a_prefix(text):
    cut = cut_repeated_step(text)
    assert cut is None or (cut.endswith("]}") and text.startswith(cut[:-2].rstrip()))
