"""Benchmarks behind `harness bench ...`. Each reports medians of repeated runs, measured in one
process, so ratios compare like with like on a noisy shared machine."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
import uuid
from typing import Any

from harness.client import AsyncClient, ChatDelta, Client
from harness.constrained import action_schema, tools_for_prompt
from harness.prompt import render_system
from harness.toolcalls import StreamingToolCallParser, parse_tool_calls
from harness.tools import Tool, ToolSet, tool


def model_text_corpus(target_bytes: int = 1_000_000, seed: int = 7) -> str:
    """Realistic model output: prose, code fences, thinking, calls in every format."""
    rng = random.Random(seed)
    pieces = [
        "I'll look at the file first, then summarise what it does. ",
        "The function `parse(text)` returns a dict like {\"a\": 1} and a list [1, 2, 3].\n",
        "<think>The user wants the weather; I should call the tool with the city name.</think>",
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}\n</tool_call>\n',
        '```json\n{"name": "read_file", "arguments": {"path": "src/main.py", "start_line": 1}}\n```\n',
        '[TOOL_CALLS][{"name": "search_files", "arguments": {"pattern": "*.py", "text": "def \\\\w+"}}]',
        '<|python_tag|>{"name": "now", "parameters": {}}; {"name": "list_dir", "parameters": {"path": "."}}',
        '\n[get_weather(city="Oslo", days=3), now()]\n',  # pythonic calls stand on a line of their own
        "```python\nfor i in range(10):\n    print({i: [i, i * 2]})\n```\n",
        "Done. See [the docs](https://example.org) for more — 日本語もOK 😀.\n",
    ]
    out: list[str] = []
    size = 0
    while size < target_bytes:
        piece = rng.choice(pieces)
        out.append(piece)
        size += len(piece.encode())
    return "".join(out)


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_parser(size_bytes: int = 1_000_000, chunk_chars: int = 4, repeats: int = 5) -> dict[str, Any]:
    """Parser throughput in MB of model text per second, batch and streamed in token-sized chunks."""
    text = model_text_corpus(size_bytes)
    mb = len(text.encode()) / 1e6
    chunks = [text[i:i + chunk_chars] for i in range(0, len(text), chunk_chars)]

    def streamed() -> None:
        parser = StreamingToolCallParser()
        for c in chunks:
            parser.feed(c)
        parser.finish()

    batch_s = _median_time(lambda: parse_tool_calls(text), repeats)
    stream_s = _median_time(streamed, repeats)
    calls = len(parse_tool_calls(text).calls)
    return {"bytes": len(text.encode()), "calls": calls, "chunk_chars": chunk_chars, "repeats": repeats,
            "batch_mb_s": round(mb / batch_s, 2), "stream_mb_s": round(mb / stream_s, 2)}


@tool
def get_weather(city: str, unit: str = "celsius") -> dict[str, Any]:
    """Get the current weather for a city.

    Args:
        city: the city name
        unit: celsius or fahrenheit
    """
    return {"city": city, "temperature": 21, "unit": unit}


@tool
def search_notes(query: str, limit: int = 5) -> list[str]:
    """Search the user's notes.

    Args:
        query: words to look for
        limit: how many notes to return
    """
    return []


BENCH_QUESTIONS = ["What's the weather in Oslo?", "Find my notes about the budget meeting.",
                   "What's the weather in Buenos Aires in fahrenheit?", "Search my notes for 'vLLM prefix cache'."]


def bench_constrained(client: Client, repeats: int = 5, tool_counts: tuple[int, ...] = (10, 50),
                      grammar_repeats: int = 5) -> dict[str, Any]:
    """Decode speed of tool-call turns with and without guided decoding, on the live server, and
    what compiling a new tool set's grammar costs (see grammar_cost).

    Both modes answer the same questions from the same cached system prompt; decode speed is
    (completion tokens - 1) / (time after the first token), time to first token includes any
    grammar compilation.
    """
    tools = ToolSet([get_weather, search_notes])
    system = render_system("You are a helpful assistant.", tools_for_prompt(tools), "json")
    schema = action_schema(tools)
    modes: dict[str, dict[str, list[float]]] = {"free": {"tps": [], "ttft": [], "ok": []},
                                                "constrained": {"tps": [], "ttft": [], "ok": []}}
    for _ in range(repeats):
        for question in BENCH_QUESTIONS:
            messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
            for mode in ("free", "constrained"):
                options: dict[str, Any] = {"max_tokens": 96, "temperature": 0}
                if mode == "constrained":
                    options["json_schema"] = schema
                result = client.complete(messages, **options)
                decode = result.elapsed_s - (result.ttft_s or 0.0)
                if result.usage.completion_tokens > 1 and decode > 0:
                    modes[mode]["tps"].append((result.usage.completion_tokens - 1) / decode)
                modes[mode]["ttft"].append(result.ttft_s or result.elapsed_s)
                parsed = parse_tool_calls(result.text)
                modes[mode]["ok"].append(float(bool(parsed.calls) and not parsed.errors
                                               and all(tools.check(c.name, c.arguments) is None
                                                       or c.name == "final_answer" for c in parsed.calls)))
    report: dict[str, Any] = {"model": client.get_model(), "repeats": repeats, "questions": len(BENCH_QUESTIONS)}
    for mode, m in modes.items():
        report[f"{mode}_decode_tokens_per_s"] = round(statistics.median(m["tps"]), 2)
        report[f"{mode}_ttft_s"] = round(statistics.median(m["ttft"]), 4)
        report[f"{mode}_valid_call_share"] = round(sum(m["ok"]) / len(m["ok"]), 3)
    report["decode_ratio"] = round(report["constrained_decode_tokens_per_s"] / report["free_decode_tokens_per_s"], 3)
    report["same_tools_identical_bytes"] = stable_schema_check()

    model = report["model"]  # asked here: the sync client cannot be used inside the loop below

    async def grammars() -> list[dict[str, Any]]:
        async with AsyncClient(base_url=client.base_url, model=model) as aclient:
            return [await grammar_cost(aclient, n, grammar_repeats) for n in tool_counts]

    report["grammar"] = asyncio.run(grammars())
    report["grammar_repeats"] = grammar_repeats
    return report


# --- the cost of a new tool set's grammar ------------------------------------------------------

_ARG_SHAPES: list[dict[str, Any]] = [  # shapes real tools take; no `pattern` (one failed to compile when this was written; the decline's does)
    {"type": "string", "description": "a name or path"},
    {"type": "integer", "minimum": 1, "maximum": 100, "description": "how many"},
    {"type": "string", "enum": ["low", "medium", "high"], "description": "the level"},
    {"type": "boolean", "description": "whether to include hidden items"},
    {"type": "array", "items": {"type": "string"}, "maxItems": 8, "description": "the tags"},
    {"type": "object", "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}},
     "required": ["start"], "description": "a line range"},
    {"type": "number", "description": "a threshold between 0 and 1"},
]


def synthetic_tools(n: int, tag: str) -> ToolSet:
    """``n`` distinct tools shaped like real ones (2 to 4 arguments of mixed types, one optional);
    ``tag`` goes into every name, so a new tag is a tool set the server has never compiled."""
    made = []
    for i in range(n):
        arity = 2 + i % 3
        names = [f"arg{j}" for j in range(arity)]
        props = {name: _ARG_SHAPES[(i + j) % len(_ARG_SHAPES)] for j, name in enumerate(names)}
        made.append(Tool.from_schema(f"t{tag}_{i:02d}", f"Synthetic tool {i}.",
                                     {"type": "object", "properties": props, "required": names[:-1]},
                                     lambda **kwargs: kwargs))
    return ToolSet(made)


def schema_bytes(schema: dict[str, Any]) -> bytes:
    """The schema as the request carries it (key order kept: it is the order the grammar writes)."""
    return json.dumps(schema, ensure_ascii=False).encode()


GRAMMAR_PROMPT = [{"role": "system", "content": "Call one of the tools."}, {"role": "user", "content": "Go."}]
STREAM_PROMPT = [{"role": "user", "content": "Count from 1 to 500, separated by spaces."}]


async def _first_token_s(client: AsyncClient, schema: dict[str, Any] | None) -> float:
    """Seconds to the first token of a one-token reply (with ``schema``: under guided decoding)."""
    options: dict[str, Any] = {"max_tokens": 1, "temperature": 0}
    if schema is not None:
        options["json_schema"] = schema
    result = await client.complete(GRAMMAR_PROMPT, **options)
    return result.ttft_s or result.elapsed_s


Arrivals = list[tuple[float, int]]  # (time, completion tokens so far) per streamed chunk


async def _stream_beside(client: AsyncClient, schema: dict[str, Any], warmup_tokens: int = 8,
                         max_tokens: int = 48) -> tuple[Arrivals, tuple[float, float]]:
    """A free-text stream with a guided one-token request sent into its middle: the stream's chunk
    arrivals with the server's running token count (under load vLLM merges tokens into one chunk),
    past its first few tokens, which carry its prefill; and the request's window (sent, first token)."""
    arrivals: Arrivals = []
    window: list[float] = []
    started = asyncio.Event()

    async def stream() -> None:
        usage = {"stream_options": {"include_usage": True, "continuous_usage_stats": True}, "ignore_eos": True}
        async for item in client.stream_chat(STREAM_PROMPT, max_tokens=max_tokens, temperature=0, extra=usage):
            if isinstance(item, ChatDelta) and item.usage is not None and item.usage.completion_tokens:
                arrivals.append((time.perf_counter(), item.usage.completion_tokens))
                if item.usage.completion_tokens >= warmup_tokens:
                    started.set()
        started.set()  # a stream that ended early must not leave the request waiting

    async def probe() -> None:
        await started.wait()
        t0 = time.perf_counter()
        await _first_token_s(client, schema)
        window.extend([t0, time.perf_counter()])

    await asyncio.gather(stream(), probe())
    return [(t, n) for t, n in arrivals if n > warmup_tokens // 2], (window[0], window[1])


def tokens_in_window(arrivals: Arrivals, window: tuple[float, float]) -> float:
    """How many of a stream's tokens fall in ``window``: the tokens of each chunk are spread over the
    gap before it, so a gap that straddles an edge counts by the share of it inside."""
    start, end = window
    return sum((nb - na) * max(0.0, min(b, end) - max(a, start)) / (b - a)
               for (a, na), (b, nb) in zip(arrivals, arrivals[1:]) if b > a)


def decode_rates(streams: list[tuple[Arrivals, tuple[float, float]]]) -> tuple[float | None, float | None]:
    """Tokens per second of streams inside their windows and outside them, pooled over the streams."""
    streams = [(t, w) for t, w in streams if len(t) > 1]  # a stream that ended at once timed nothing
    inside = sum(tokens_in_window(t, w) for t, w in streams)
    inside_s = sum(max(0.0, min(w[1], t[-1][0]) - max(w[0], t[0][0])) for t, w in streams)
    outside = sum(t[-1][1] - t[0][1] for t, _ in streams) - inside
    outside_s = sum(t[-1][0] - t[0][0] for t, _ in streams) - inside_s
    return (round(inside / inside_s, 2) if inside_s > 0 else None,
            round(outside / outside_s, 2) if outside_s > 0 else None)


async def grammar_cost(client: AsyncClient, n_tools: int, repeats: int = 5) -> dict[str, Any]:
    """What a new tool set's action grammar costs: the first guided request's time to first token
    (compilation included) vs the same tools again (the server's grammar cache) vs no grammar,
    and a concurrent stream's decode rate while it compiles vs while a cached one is used."""
    new_s, again_s, free_s = [], [], []
    beside: dict[str, list[tuple[Arrivals, tuple[float, float]]]] = {"new": [], "cached": []}
    for _ in range(repeats):
        schema = action_schema(synthetic_tools(n_tools, uuid.uuid4().hex[:8]))
        free_s.append(await _first_token_s(client, None))
        new_s.append(await _first_token_s(client, schema))
        again_s.append(await _first_token_s(client, schema))
        schema = action_schema(synthetic_tools(n_tools, uuid.uuid4().hex[:8]))
        beside["new"].append(await _stream_beside(client, schema))
        beside["cached"].append(await _stream_beside(client, schema))
    report: dict[str, Any] = {
        "tools": n_tools, "schema_bytes": len(schema_bytes(schema)),
        "first_request_ttft_s": round(statistics.median(new_s), 4),
        "same_tools_again_ttft_s": round(statistics.median(again_s), 4),
        "no_grammar_ttft_s": round(statistics.median(free_s), 4),
    }
    report["compile_s"] = round(report["first_request_ttft_s"] - report["same_tools_again_ttft_s"], 4)
    report["stream_alone_tokens_per_s"] = decode_rates(beside["new"] + beside["cached"])[1]
    report["stream_during_compile_tokens_per_s"] = decode_rates(beside["new"])[0]
    report["stream_during_cached_tokens_per_s"] = decode_rates(beside["cached"])[0]
    return report


def stable_schema_check() -> bool:
    """Whether the same tools, registered in another order and declared afresh, give the same bytes."""
    first = synthetic_tools(12, "stable")
    again = ToolSet(reversed(list(synthetic_tools(12, "stable"))))
    return schema_bytes(action_schema(first)) == schema_bytes(action_schema(again))


WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu budget meeting server deploy "
         "kestrel bergen oslo tea coffee friday monday release cache prefix token model agent skill").split()


def _vocabulary(rng: random.Random, size: int = 20_000) -> tuple[list[str], list[float]]:
    """Words with Zipf-like frequencies, as in real notes: a few very common, most rare."""
    syllables = ["ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "de", "po", "an", "el", "or", "ux", "ie"]
    words = list(WORDS) + ["".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(size)]
    return words, [1.0 / (rank + 1) for rank in range(len(words))]


def bench_recall(n_facts: int = 100_000, n_queries: int = 200, seed: int = 3) -> dict[str, Any]:
    """Recall latency (FTS5) over ``n_facts`` facts, and message append throughput, in a temp DB."""
    import tempfile
    from pathlib import Path

    from harness.memory import MemoryStore

    rng = random.Random(seed)
    vocab, weights = _vocabulary(rng)
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore(Path(tmp) / "bench.db")
        with store.conn:  # bulk-load the facts in one transaction: loading is not what is measured
            store.conn.execute("BEGIN")
            store.conn.executemany(
                "INSERT INTO facts (text, tags, created, updated) VALUES (?, '', 0, 0)",
                ((" ".join(rng.choices(vocab, weights, k=12)) + f" #{i}",) for i in range(n_facts)))
        queries = [" ".join(rng.choices(vocab, weights, k=rng.randint(1, 3))) + rng.choice(["", "?", "!"])
                   for _ in range(n_queries)]
        latencies = []
        for q in queries:
            started = time.perf_counter()
            store.recall(q, limit=5)
            latencies.append((time.perf_counter() - started) * 1000)
        session = store.new_session("bench")
        n_appends = 2000
        started = time.perf_counter()
        for i in range(n_appends):
            store.append(session, {"role": "user", "content": f"message {i} " + " ".join(rng.choices(WORDS, k=20))})
        appends_per_s = n_appends / (time.perf_counter() - started)
        store.close()
    latencies.sort()
    return {"facts": n_facts, "queries": n_queries, "median_ms": round(statistics.median(latencies), 3),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 3), "appends_per_s": round(appends_per_s, 1)}


# --- prefix reuse over a scripted episode ------------------------------------------------------

PACKING_SKILL = """---
name: packing-list
description: Write a packing list for a trip. Use whenever the user asks what to pack.
---
# Packing list
List exactly these items, then stop: passport, charger, umbrella, warm jumper.
"""

EPISODE = [
    "Remember this fact about me: my favourite city is Bergen.",
    "Recall my favourite city from memory, then get the weather there.",
    "Load the packing-list skill and tell me what to pack for a trip there.",
]
RESUMED_TASK = "Thanks. Which city did we talk about?"


def _episode_agent(base_url: str | None, model: str | None, db: str, skills_dir: str, salt: str,
                   session: str | None = None):  # type: ignore[no-untyped-def]
    from harness.agent import Agent
    from harness.memory import MemoryStore
    from harness.skills import load_skills
    from harness.techniques import Techniques

    # A salt of this run's own: blocks cached by earlier runs cannot inflate the figure. No probes
    # (decide): they send a turn's own prompt first, so its hits would not be the transcript's doing.
    return Agent(tools=[get_weather], client=AsyncClient(base_url, model), skills=load_skills([skills_dir]),
                 memory=MemoryStore(db), session=session, max_steps=4, cache_salt=salt,
                 techniques=Techniques().without("decide"))


def _requests_of(agent: Any) -> list[dict[str, Any]]:
    """Every request an agent made: the messages it sent, the raw reply, and the server's usage."""
    return [{"messages": agent.messages[: t.prompt_messages], "reply": t.raw_text,
             "prompt_tokens": t.usage.prompt_tokens, "cached_tokens": t.usage.cached_tokens,
             "completion_tokens": t.usage.completion_tokens} for t in agent.turns]


def resume_episode(base_url: str, model: str, db: str, skills_dir: str, salt: str, session: str) -> None:
    """The resumed turn, run in a fresh process by bench_prefix; prints its requests as JSON."""
    with _episode_agent(base_url, model, db, skills_dir, salt, session) as agent:
        agent.run(RESUMED_TASK)
        print(json.dumps(_requests_of(agent)))


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def bench_prefix(client: Client, block_size: int | None = None, session_turns: int = 0, sessions: int = 3) -> dict[str, Any]:
    """Cached vs ideal prompt tokens per request over a scripted episode with tool calls, a memory
    recall, a skill load and a resume in a fresh process (see EPISODE); with ``session_turns``, also
    ``sessions`` long sessions of that many turns (see long_session, ttft_summary)."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    before = client.metrics()
    block_size = block_size or before.block_size or 128  # the server's own, where it reports it
    with tempfile.TemporaryDirectory() as tmp:
        db, skills_dir = str(Path(tmp) / "memory.db"), Path(tmp) / "skills"
        (skills_dir / "packing-list").mkdir(parents=True)
        (skills_dir / "packing-list" / "SKILL.md").write_text(PACKING_SKILL)
        # An earlier session with the same configuration: the system prompt is the same bytes,
        # so the episode's first request should find it cached.
        salt = uuid.uuid4().hex
        warm = _episode_agent(client.base_url, client.get_model(), db, str(skills_dir), salt)
        warm.run("Hello!")
        requests = [dict(r, phase="earlier session") for r in _requests_of(warm)]
        warm.close()
        agent = _episode_agent(client.base_url, client.get_model(), db, str(skills_dir), salt)
        events: list[str] = []
        for task in EPISODE:
            for event in agent.stream(task):
                name = type(event).__name__
                if name in ("ToolCallEvent", "SkillLoaded", "MemoryRecalled"):
                    events.append(name if name != "ToolCallEvent" else f"call:{event.call.name}")  # type: ignore[attr-defined]
        requests += [dict(r, phase="episode") for r in _requests_of(agent)]
        agent.close()
        code = "import sys; from harness.bench import resume_episode; resume_episode(*sys.argv[1:])"
        out = subprocess.run([sys.executable, "-c", code, client.base_url, client.get_model(), db, str(skills_dir),
                              salt, agent.session_id], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"the resumed process failed: {out.stderr[-2000:]}")
        resumed = json.loads(out.stdout.strip().splitlines()[-1])
        requests += [dict(r, phase="resumed (new process)") for r in resumed]
    after = client.metrics()

    turns, seen = [], []
    for i, r in enumerate(requests):
        prompt = client.tokenize(messages=r["messages"])
        if len(prompt) != r["prompt_tokens"]:
            raise RuntimeError(f"/tokenize gives {len(prompt)} tokens for request {i}, the server counted "
                               f"{r['prompt_tokens']}: the comparison would be meaningless")
        full = client.tokenize(messages=[*r["messages"], {"role": "assistant", "content": r["reply"]}],
                               add_generation_prompt=False)
        # What an earlier request left in the KV cache: its prompt and every generated token but
        # the last (a sampled token is never fed back). Shared with this prompt, whole blocks only.
        shared = max((min(_common_prefix(prompt, s), kv) for s, kv in seen), default=0)
        # The server always computes at least the last token, so a full hit is one block short.
        ideal = min(shared, len(prompt) - 1) // block_size * block_size
        # Append-only: each request of the conversation starts with the one before and its reply, verbatim.
        previous = seen[-1][0] if seen and requests[i - 1]["phase"] != "earlier session" else None
        seen.append((full, len(prompt) + max(r["completion_tokens"] - 1, 0)))
        if r["phase"] == "earlier session":
            continue
        turns.append({"request": i, "phase": r["phase"], "prompt_tokens": r["prompt_tokens"],
                      "cached_tokens": r["cached_tokens"], "ideal_tokens": ideal,
                      "ratio": round(r["cached_tokens"] / ideal, 4) if ideal else None,
                      "extends_previous": None if previous is None else prompt[:len(previous)] == previous})
    cached = sum(t["cached_tokens"] for t in turns)
    ideal = sum(t["ideal_tokens"] for t in turns)
    long = ttft_summary([long_session(client, session_turns) for _ in range(sessions)]) if session_turns else {}
    return {**long, "model": client.get_model(), "block_size": block_size, "turns": turns, "events": events,
            "prompt_tokens": sum(t["prompt_tokens"] for t in turns), "cached_tokens": cached,
            "ideal_tokens": ideal, "ratio": round(cached / ideal, 4) if ideal else None,
            "append_only": all(t["extends_previous"] is not False for t in turns),
            "server_hits_delta": int(after.hits - before.hits),
            "server_queries_delta": int(after.queries - before.queries)}


# --- a long session: time to first token at turn N vs turn 1 -------------------------------------

SESSION_TASKS = ["What's the weather in {city}?", "Thanks. Is that warm for {city}?",
                 "And in fahrenheit, for {city}?", "Say in one sentence what you did for {city}."]


def session_task(turn: int) -> str:
    """The user's message at ``turn`` (from 1): weather questions and follow-ups, cycling over cities."""
    return SESSION_TASKS[(turn - 1) % len(SESSION_TASKS)].format(city=CITIES[(turn - 1) // len(SESSION_TASKS) % len(CITIES)])


def long_session(client: Client, turns: int) -> list[dict[str, Any]]:
    """One session of ``turns`` user turns on one agent, after an earlier session with the same
    configuration (so turn 1 finds the system prompt, and the grammar, already on the server, as
    a real session does); per turn, its first request's tokens and time to first token."""
    from harness.agent import Agent

    salt = uuid.uuid4().hex  # this session's own blocks: earlier runs cannot make it look faster
    model = client.get_model()

    def agent() -> Agent:
        return Agent(client=AsyncClient(base_url=client.base_url, model=model), tools=[get_weather], max_steps=4,
                     cache_salt=salt)

    with agent() as warm:
        warm.run("Hello!")
    out = []
    with agent() as session:
        for turn in range(1, turns + 1):
            first = session.run(session_task(turn)).turns[0]
            out.append({"turn": turn, "prompt_tokens": first.usage.prompt_tokens,
                        "cached_tokens": first.usage.cached_tokens,
                        "ttft_s": first.ttft_s if first.ttft_s is not None else first.elapsed_s})
    return out


def ttft_summary(sessions: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over sessions of each turn's figures, and time to first token at the last turn over the first."""
    per_turn = [{"turn": rows[0]["turn"],
                 **{k: statistics.median(r[k] for r in rows) for k in ("prompt_tokens", "cached_tokens", "ttft_s")}}
                for rows in zip(*sessions)]
    for row in per_turn:
        row["ttft_s"] = round(row["ttft_s"], 4)
    first, last = per_turn[0]["ttft_s"], per_turn[-1]["ttft_s"]
    # One turn's time follows how many of its tokens are new, which the block boundaries decide
    # (18 or 32 at turn 1, say): the last five turns over the first five is the steadier figure.
    k = min(5, len(per_turn) // 2) or 1
    head = statistics.median(r["ttft_s"] for r in per_turn[:k])
    tail = statistics.median(r["ttft_s"] for r in per_turn[-k:])
    return {"sessions": len(sessions), "session_turns": per_turn, "ttft_first_s": first, "ttft_last_s": last,
            "ttft_ratio": round(last / first, 3) if first else None,
            "ttft_ratio_median5": round(tail / head, 3) if head else None}


# --- many agents at once -------------------------------------------------------------------------

CITIES = ["Oslo", "Lima", "Cairo", "Perth", "Quito", "Dakar", "Hanoi", "Tunis", "Riga", "Sofia", "Accra",
          "Porto", "Minsk", "Seoul", "Kyoto", "Turin", "Bern", "Doha", "Male", "Suva"]


async def _one_agent(base_url: str, model: str, city: str) -> Any:
    from harness.agent import Agent


    async with Agent(tools=[get_weather], client=AsyncClient(base_url, model), max_steps=3) as agent:
        return await agent.arun(f"What's the weather in {city}?")


def bench_concurrent(client: Client, agents: int = 16) -> dict[str, Any]:
    """N agents at once against one server vs the same N one after another."""
    cities = [CITIES[i % len(CITIES)] for i in range(agents)]
    base_url, model = client.base_url, client.get_model()
    asyncio.run(_one_agent(base_url, model, "Reykjavik"))  # the shared system prompt is now cached

    async def concurrently() -> list[Any]:
        return list(await asyncio.gather(*(_one_agent(base_url, model, c) for c in cities)))

    async def one_by_one() -> list[Any]:
        return [await _one_agent(base_url, model, c) for c in cities]

    report: dict[str, Any] = {"model": model, "agents": agents}
    for name, runner in (("concurrent", concurrently), ("sequential", one_by_one)):
        started = time.perf_counter()
        results = asyncio.run(runner())
        wall = time.perf_counter() - started
        prompt = sum(r.usage.prompt_tokens for r in results)
        report[f"{name}_s"] = round(wall, 2)
        report[f"{name}_tokens_per_s"] = round(sum(r.usage.completion_tokens for r in results) / wall, 1)
        report[f"{name}_cached_share"] = round(sum(r.usage.cached_tokens for r in results) / max(prompt, 1), 3)
        report[f"{name}_answered"] = sum(r.ok for r in results)
    report["ratio"] = round(report["concurrent_s"] / report["sequential_s"], 3)
    return report


# --- the harness's own time per turn ---------------------------------------------------------------


def bench_overhead(messages: int = 200, turns: int = 50) -> dict[str, Any]:
    """Harness time per model turn (render, request, stream parsing, tools, SQLite commit) with a
    ``messages``-long transcript, against an in-process server whose own time is subtracted."""
    import tempfile
    from pathlib import Path

    import httpx

    from harness.agent import Agent
    from harness.tools import builtin_tools

    server_time = [0.0]
    reply_cycle = [
        '{"name":"now","arguments":{}}',
        '{"name":"final_answer","arguments":{"answer":"It is late."}}',
    ]
    counter = [0]

    async def handler(request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        if request.url.path == "/v1/models":
            response = httpx.Response(200, json={"data": [{"id": "bench", "max_model_len": 1_000_000}]})
        else:
            json.loads(request.content)  # what a server does first; counted as server time
            text = reply_cycle[counter[0] % 2]
            counter[0] += 1
            chunks = [text[i:i + 4] for i in range(0, len(text), 4)]
            body = "".join(f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': c}}]})}\n\n"
                           for c in chunks)
            body += ('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
                     'data: {"choices":[],"usage":{"prompt_tokens":9000,"completion_tokens":12,'
                     '"prompt_tokens_details":{"cached_tokens":8960}}}\n\ndata: [DONE]\n\n')
            response = httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})
        server_time[0] += time.perf_counter() - started
        return response

    from harness.memory import MemoryStore

    per_turn: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        client = AsyncClient(base_url="http://bench.test", model="bench", transport=httpx.MockTransport(handler))
        agent = Agent(client=client, tools=builtin_tools(tmp), memory=MemoryStore(Path(tmp) / "m.db"),
                      constrained=True)

        async def run() -> None:
            await agent._ensure_system()
            while len(agent.messages) < messages:  # a long conversation already on record
                agent._append({"role": "user", "content": "Earlier question " * 20})
                agent._append({"role": "assistant", "content": "Earlier answer " * 40})
            for _ in range(turns):
                server_time[0] = 0.0
                started = time.perf_counter()
                result = await agent.arun("What time is it?")
                elapsed = time.perf_counter() - started - server_time[0]
                per_turn.append(elapsed * 1000 / max(len(result.turns), 1))
            await agent.aclose()

        asyncio.run(run())
    per_turn.sort()
    return {"messages": messages, "turns": turns, "median_ms": round(statistics.median(per_turn), 3),
            "p95_ms": round(per_turn[int(len(per_turn) * 0.95) - 1], 3)}
