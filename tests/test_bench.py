"""The benchmarks' pure parts and their options (no server): schema bytes, window rates, ratios."""

from __future__ import annotations

import asyncio
import json

import httpx
import pydantic
import pytest
from click.testing import CliRunner
from scripted import Reply, ScriptedServer

from harness.bench import (
    decode_rates,
    grammar_cost,
    schema_bytes,
    session_task,
    synthetic_tools,
    tokens_in_window,
    ttft_summary,
)
from harness.cli import main
from harness.constrained import action_schema
from harness.tools import ToolSet, builtin_tools, tool


class Item(pydantic.BaseModel):
    name: str
    qty: int = 1


def order(items: list[Item], note: str = "") -> str:
    """Order items.

    Args:
        items: what to order
        note: for the shop
    """
    return note


def ship(item: Item, to: str) -> str:
    """Ship one item.

    Args:
        item: the item
        to: the address
    """
    return to


def declared(tmp_path):  # type: ignore[no-untyped-def]
    """The same tools, declared afresh each call: built-ins and two sharing a nested model ($defs)."""
    return [*builtin_tools(tmp_path), tool(order), tool(ship)]


@pytest.mark.parametrize("parallel", [False, True])
def test_same_tools_in_another_order_give_identical_schema_bytes(tmp_path, parallel):
    first = action_schema(ToolSet(declared(tmp_path)), parallel=parallel)
    again = action_schema(ToolSet(reversed(declared(tmp_path))), parallel=parallel)
    assert schema_bytes(first) == schema_bytes(again)


def test_another_tool_set_gives_other_bytes(tmp_path):
    tools = declared(tmp_path)
    assert schema_bytes(action_schema(ToolSet(tools))) != schema_bytes(action_schema(ToolSet(tools[1:])))


def test_synthetic_tools_are_distinct_and_never_use_pattern():
    tools = synthetic_tools(50, "abc")
    text = schema_bytes(action_schema(tools)).decode()
    assert len(tools.names) == 50 and '"pattern"' not in text  # tool shapes only (see _ARG_SHAPES)


def test_a_new_tag_is_a_new_grammar():
    assert schema_bytes(action_schema(synthetic_tools(10, "a"))) != schema_bytes(action_schema(synthetic_tools(10, "b")))


STEADY = [(0.0, 4), (1.0, 5), (2.0, 6), (3.0, 7)]  # (time, tokens so far): one token a second


@pytest.mark.parametrize(("arrivals", "window", "tokens"), [
    (STEADY, (1.0, 2.0), 1.0),    # one whole gap inside
    (STEADY, (1.5, 1.75), 0.25),  # a window shorter than a token gets its share
    (STEADY, (2.5, 9.0), 0.5),    # past the stream's end
    (STEADY, (5.0, 6.0), 0.0),
    ([(0.0, 4), (1.0, 8)], (0.5, 1.0), 2.0),  # tokens merged into one chunk are spread over its gap
])
def test_tokens_in_window(arrivals, window, tokens):
    assert tokens_in_window(arrivals, window) == pytest.approx(tokens)


def test_decode_rates_inside_and_outside_the_windows():
    # 10 tok/s outside; inside the window of the first stream one token took 0.5 s (2 tok/s).
    slow = [(0.0, 1), (0.1, 2), (0.2, 3), (0.7, 4), (0.8, 5), (0.9, 6)]
    steady = [(0.0, 1), (0.1, 2), (0.2, 3), (0.3, 4)]
    inside, outside = decode_rates([(slow, (0.2, 0.7)), (steady, (5.0, 6.0))])
    assert (inside, outside) == (2.0, 10.0)


def test_ttft_summary_takes_medians_per_turn_then_the_last_over_the_first():
    sessions = [[{"turn": 1, "prompt_tokens": 600, "cached_tokens": 512, "ttft_s": t1},
                 {"turn": 2, "prompt_tokens": 700, "cached_tokens": 640, "ttft_s": t2}]
                for t1, t2 in ((0.1, 0.3), (0.2, 0.2), (0.4, 0.25))]
    report = ttft_summary(sessions)
    assert (report["ttft_first_s"], report["ttft_last_s"], report["ttft_ratio"]) == (0.2, 0.25, 1.25)


def test_ttft_summary_also_gives_the_last_five_turns_over_the_first_five():
    # Turn 1 fast by chance (few new tokens) must not decide the steadier figure.
    times = [0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.2, 0.25, 0.25, 0.25, 0.3]
    sessions = [[{"turn": i + 1, "prompt_tokens": 600 + 50 * i, "cached_tokens": 576 + 50 * i, "ttft_s": t}
                 for i, t in enumerate(times)]]
    report = ttft_summary(sessions)
    assert (report["ttft_ratio"], report["ttft_ratio_median5"]) == (3.0, 1.25)


def test_session_tasks_cycle_over_cities():
    tasks = [session_task(t) for t in range(1, 21)]
    assert len(set(tasks)) == 20


def test_grammar_cost_sends_identical_bytes_for_the_same_tools():
    stream = Reply("1 2 3 4 5 6 7 8 9 10 11 12", chunk=1)
    server = ScriptedServer([Reply("{"), Reply("{"), Reply("{"), stream, Reply("{"), stream, Reply("{")])
    report = asyncio.run(grammar_cost(server.client(), 10, repeats=1))
    sent = [json.dumps(r.get("response_format"), sort_keys=False) for r in server.requests]
    # free, new tools, the same again; then a stream beside new tools, and beside them again.
    assert (sent[0], sent[1] == sent[2], sent[4] == sent[6], sent[1] != sent[4], report["tools"]) == \
        ("null", True, True, True, 10)


@pytest.mark.parametrize("args", [["bench", "constrained", "--tool-sets", "ten"],
                                  ["bench", "constrained", "--tool-sets", "10,0"],
                                  ["bench", "prefix", "--turns", "1"],
                                  ["bench", "prefix", "--turns", "-3"]])
def test_bad_bench_options_are_usage_errors(args):
    result = CliRunner().invoke(main, [*args, "--base-url", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output


def test_grammar_cost_finishes_when_the_stream_ends_before_the_request_is_sent():
    short = Reply("1 2", chunk=1)  # fewer tokens than the stream's warm-up: the request goes after it
    server = ScriptedServer([Reply("{"), Reply("{"), Reply("{"), short, Reply("{"), short, Reply("{")])
    report = asyncio.run(asyncio.wait_for(grammar_cost(server.client(), 3, repeats=1), timeout=30))
    assert report["stream_during_compile_tokens_per_s"] is None


def test_bench_constrained_runs_its_grammar_part_with_a_sync_client(monkeypatch):
    # The grammar part runs in an event loop of its own, where the sync client cannot be asked anything
    # ("Runner.run() cannot be called from a running event loop" crashed `bench constrained`).
    from harness import bench
    from harness.client import Client

    seen: list[tuple[str, int]] = []

    async def grammar_cost(aclient, n_tools, repeats=5):  # type: ignore[no-untyped-def]
        seen.append((await aclient.get_model(), n_tools))
        return {"tools": n_tools}

    monkeypatch.setattr(bench, "grammar_cost", grammar_cost)
    call = '{"name": "get_weather", "arguments": {"city": "Oslo"}}'
    fake = ScriptedServer([Reply(call) for _ in range(2 * len(bench.BENCH_QUESTIONS))])
    client = Client(base_url="http://scripted.test", transport=httpx.MockTransport(fake.handle))
    try:
        report = bench.bench_constrained(client, repeats=1, tool_counts=(10,), grammar_repeats=1)
    finally:
        client.close()
    assert report["grammar"] == [{"tools": 10}] and seen == [("scripted", 10)]
    assert report["model"] == "scripted" and report["free_valid_call_share"] == 1.0
