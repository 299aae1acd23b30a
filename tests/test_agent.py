"""The agent loop against a scripted server: every stop reason, repair after a malformed call,
parallel calls, cancellation mid-stream, and the append-only transcript."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness import events as ev
from harness.agent import Agent
from harness.techniques import Techniques
from scripted import Reply, ScriptedServer
from harness.tools import tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first
        b: second
    """
    return a + b


@tool
def slow(seconds: float) -> str:
    """Sleep, then say so."""
    time.sleep(seconds)
    return f"slept {seconds}"


def agent(server: ScriptedServer, **kw) -> Agent:
    kw.setdefault("constrained", False)
    # The loop's mechanics, not the techniques (tests/test_tooluse.py has those): scripted calls use
    # values the task never mentions, which grounding would send back.
    kw.setdefault("techniques", Techniques.none())
    return Agent(tools=[add, slow], client=server.client(), **kw)


CALL = '<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>'


def test_tool_call_then_plain_answer_ends_with_end_of_sequence():
    server = ScriptedServer([Reply(CALL), Reply("The sum is 5.")])
    result = agent(server).run("What is 2+3?")
    assert (result.stop_reason, result.text) == ("end_of_sequence", "The sum is 5.")
    assert result.turns[0].results[0].output == "5"
    # The second prompt is the first one plus the model's text verbatim plus the result.
    first, second = server.requests
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assert second["messages"][len(first["messages"])] == {"role": "assistant", "content": CALL}
    assert "Tool result for add:\n5" in second["messages"][-1]["content"]


def test_qwen3_coder_call_values_are_typed_by_the_tools_schema():
    # Qwen3-Coder writes every value as text; the agent's schemas make a and b integers, so the
    # call validates and runs (without them "2" would fail the integer check).
    call = "<tool_call>\n<function=add>\n<parameter=a>\n2\n</parameter>\n<parameter=b>\n3\n</parameter>\n</function>\n</tool_call>"
    server = ScriptedServer([Reply(call), Reply("The sum is 5.")])
    result = agent(server).run("What is 2+3?")
    assert result.turns[0].results[0].output == "5"


def test_final_answer_stop_reason_in_constrained_mode():
    server = ScriptedServer([Reply('{"name":"add","arguments":{"a":1,"b":1}}'),
                             Reply('{"name":"final_answer","arguments":{"answer":"2"}}')])
    result = agent(server, constrained=True).run("1+1?")
    assert (result.stop_reason, result.text) == ("final_answer", "2")
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    objects = [o for o in schema["anyOf"] if o.get("type") == "object"]
    assert {o["properties"]["name"]["const"] for o in objects} == {"add", "slow", "final_answer"}
    assert '"name":"final_answer"' in server.requests[0]["messages"][0]["content"]


def test_stop_string():
    server = ScriptedServer([Reply("Partial answer", stop_reason="###")])
    result = agent(server, stop=["###"]).run("x")
    assert result.stop_reason == "stop_string" and server.requests[0]["stop"] == ["###"]


def test_length_limit_is_continued_in_place_then_reported():
    server = ScriptedServer([Reply("The first half, ", finish="length"), Reply("and the end.")])
    result = agent(server).run("x")
    assert (result.stop_reason, result.text) == ("end_of_sequence", "The first half, and the end.")
    cont = server.requests[1]
    assert cont["continue_final_message"] is True and cont["add_generation_prompt"] is False
    assert cont["messages"][-1] == {"role": "assistant", "content": "The first half, "}

    server = ScriptedServer([Reply("a", finish="length")] * 3)
    assert agent(server).run("x").stop_reason == "length"


def test_step_limit():
    server = ScriptedServer([Reply(CALL)] * 3)
    result = agent(server, max_steps=3).run("loop")
    assert result.stop_reason == "max_steps" and len(result.turns) == 3


def test_malformed_call_then_successful_retry():
    bad = '<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}</tool_call>'  # missing brace
    wrong = '<tool_call>{"name": "add", "arguments": {"a": "two", "b": 3}}</tool_call>'
    server = ScriptedServer([Reply(bad), Reply(wrong), Reply(CALL), Reply("5")])
    events = list(agent(server).stream("2+3?"))
    result = events[-1].result
    assert (result.stop_reason, result.text) == ("end_of_sequence", "5")
    problems = [e for e in events if isinstance(e, ev.ParseProblem)]
    assert "not valid JSON" in problems[0].errors[0]
    assert "not valid JSON" in server.requests[1]["messages"][-1]["content"]
    refused = [e for e in events if isinstance(e, ev.ToolCallEvent) and e.problem]
    assert "at a: 'two' is not of type 'integer'" in refused[0].problem
    assert "at a: 'two' is not of type 'integer'" in server.requests[2]["messages"][-1]["content"]


def test_retries_are_bounded():
    bad = '<tool_call>{"name": "nope", "arguments": {}}</tool_call>'
    server = ScriptedServer([Reply(bad)] * 5)
    result = agent(server, max_retries=2).run("x")
    assert result.stop_reason == "max_retries" and len(result.turns) == 3


def test_parallel_calls_in_one_turn_run_concurrently():
    # Three different calls: the same one twice in an action runs once (test_recoveries).
    calls = "".join(f'<tool_call>{{"name": "slow", "arguments": {{"seconds": {s}}}}}</tool_call>' for s in (0.6, 0.61, 0.62))
    server = ScriptedServer([Reply(calls), Reply("done")])
    started = time.perf_counter()
    result = agent(server).run("x")
    assert time.perf_counter() - started < 1.5
    assert [r.output for r in result.turns[0].results] == ["slept 0.6", "slept 0.61", "slept 0.62"]


def test_cancellation_mid_stream_aborts_promptly_and_keeps_transcript_consistent():
    server = ScriptedServer([Reply("This reply will never finish because the server stalls", hang_after=2)])
    a = agent(server)

    async def main():
        seen = []
        task = asyncio.ensure_future(_collect(a, seen))
        while not seen:
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen, time.perf_counter() - started

    seen, took = asyncio.run(main())
    assert took < 0.5
    assert any(isinstance(e, ev.TextDelta) for e in seen)
    # The unfinished reply is not in the transcript; the user's message is.
    assert [m["role"] for m in a.messages] == ["system", "user"]


async def _collect(a: Agent, seen: list) -> None:
    async for e in a.astream("go"):
        seen.append(e)


def test_ctrl_c_in_sync_stream_reports_cancelled():
    server = ScriptedServer([Reply("stalls here", hang_after=1)])
    a = agent(server)
    stream = a.stream("go")
    first = next(stream)
    assert isinstance(first, ev.TextDelta)
    final = stream.throw(KeyboardInterrupt)
    assert isinstance(final, ev.Final) and final.result.stop_reason == "cancelled"


def test_server_failure_is_an_error_result_not_an_exception():
    server = ScriptedServer([Reply("half of a reply that breaks off", drop_after=1)])
    result = agent(server).run("x")
    assert result.stop_reason == "error" and "dropped" in result.error


def test_thinking_is_kept_verbatim_and_not_parsed_as_calls():
    text = '<think>Should I call {"name": "add", "arguments": {"a": 1, "b": 1}}? No.</think>It is 2.'
    server = ScriptedServer([Reply(text)])
    a = agent(server)
    events = list(a.stream("1+1?"))
    assert "".join(e.text for e in events if isinstance(e, ev.ThinkingDelta)).startswith("Should I call")
    assert events[-1].result.text == "It is 2." and not events[-1].result.turns[0].calls
    assert a.messages[-1] == {"role": "assistant", "content": text}


def test_server_side_tool_parser_path():
    server = ScriptedServer([Reply("", finish="tool_calls", tool_calls=[("add", '{"a": 4, "b": 5}')]),
                             Reply("9")])
    a = agent(server, server_tools=True)
    result = a.run("4+5?")
    assert result.turns[0].calls[0].name == "add" and result.turns[0].results[0].output == "9"
    assert server.requests[0]["tools"][0]["function"]["name"] == "add"
    assert server.requests[0]["tool_choice"] == "auto"
    assert "<tools>" not in server.requests[0]["messages"][0]["content"]  # the server renders them
    # The transcript follows the OpenAI protocol: the call on the assistant message, the result by id.
    assistant, result_message = server.requests[1]["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_0"
    assert result_message == {"role": "tool", "tool_call_id": "call_0", "name": "add", "content": "9"}


def test_a_repeated_call_is_not_rerun_and_the_next_action_must_answer():
    same = '{"name":"add","arguments":{"a":1,"b":2}}'
    server = ScriptedServer([Reply(same), Reply(same), Reply('{"name":"final_answer","arguments":{"answer":"3"}}')])
    result = agent(server, constrained=True).run("1+2?")
    assert result.text == "3"
    # Answered with the earlier result (the tool ran once), and the next action had to be an answer.
    assert result.turns[1].results[0].output == result.turns[0].results[0].output == "3"
    assert result.turns[1].results[0].elapsed_s == 0.0
    first, last = (server.requests[i]["response_format"]["json_schema"]["schema"] for i in (0, 2))
    assert len(first["anyOf"]) == 3  # add, slow, final_answer
    assert [o["properties"]["name"]["const"] for o in last["anyOf"]] == ["final_answer"]


def test_every_event_class_is_in_the_event_union():
    import typing

    union = set(typing.get_args(ev.Event))
    classes = {c for c in vars(ev).values() if isinstance(c, type) and c.__module__ == ev.__name__}
    assert classes - union == {ev.TurnRecord, ev.Result}  # data carried by events, not events
