"""The tool-use benchmark behind `harness bench tooluse`: cases of our own, scored by what the agent did.

Cases live in ``harness/data/tooluse/<category>.yaml``; the tools they offer, with deterministic
results, in ``tools.yaml``. A case passes when the agent made exactly the expected calls (a multiset:
order-free; strings compared without case or punctuation, numbers by value, optional arguments may be
left out or given their default) and its final answer contains the expected facts. Questions that need
no call pass only with an answer and no call at all.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.grounding import ungrounded_arguments
from harness.tools import Tool, ToolSet, canonical_json

DATA = Path(__file__).parent / "data" / "tooluse"
CATEGORIES = ("single", "choose", "parallel", "multi_step", "no_tool", "missing_tool", "missing_argument")
ANY = "*"
# The model alone: each case's message with no tool offered, as plain chat (no grammar, examples or checks).
# Its no_tool score is what the model knows by itself, the most the harness can get from its own answers.
UNAIDED = "unaided"
# What an answer that declines for want of a tool says (checked when a case gives nothing else).
DECLINES = ("cannot", "can't", "can not", "unable", "not able", "don't have", "do not have", "no tool",
            "not available", "isn't available", "not possible", "sorry", "not supported", "no way to",
            "don't support", "do not support", "not have access", "no access", "unfortunately")


@dataclass(frozen=True)
class ExpectedCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    tools: tuple[str, ...]
    user: str
    calls: tuple[ExpectedCall, ...]
    answer: tuple[str, ...] = ()
    answer_any: tuple[str, ...] = ()


@dataclass
class Outcome:
    case: Case
    passed: bool
    why: str
    calls: list[tuple[str, dict[str, Any]]]
    answer: str
    stop_reason: str
    requests: int
    prompt_tokens: int
    cached_tokens: int
    elapsed_s: float
    raw: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # the run's transcript after the system prompt
    # What decide's probes read at the first action (harness/decide.py): answering, opening with "Sorry", and
    # the likeliest first tokens of the action's name.
    probabilities: tuple[float | None, float | None] = (None, None)
    name_choices: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None  # why the run stopped, when it was an error (a timeout, the server gone)

    def record(self) -> dict[str, Any]:
        """One JSON line of ``--transcripts``: what the case asked, what the agent did, and the verdict."""
        return {"id": self.case.id, "category": self.case.category, "passed": self.passed, "why": self.why,
                "user": self.case.user, "calls": [[n, a] for n, a in self.calls], "answer": self.answer,
                "stop": self.stop_reason, "requests": self.requests, "answer_probability": self.probabilities[0],
                "decline_probability": self.probabilities[1],
                "name_choices": [[t, round(p, 4)] for t, p in self.name_choices[:5]], "error": self.error,
                "messages": self.messages}


# --- data ------------------------------------------------------------------------------------------


def normalise(value: str) -> str:
    """Case, punctuation and spacing do not matter."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


_UNITS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                      "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}


def spoken_numbers(text: str) -> set[int]:
    """The numbers ``text`` (normalised) says in words, each number's words read together: "twenty seven"
    is 27 and never 7, "two hundred and five" is 205; "one two" is two numbers ("one" counts, as in "no
    one"). Linear; never raises."""
    found: set[int] = set()
    total = current = 0
    last = ""  # the kind of the word before: unit, tens, scale, and; "" outside a number

    def close() -> None:
        nonlocal total, current, last
        found.add(total + current)
        total = current = 0
        last = ""

    for word in text.split():
        if word in _UNITS:
            if last == "unit" or last == "tens" and _UNITS[word] >= 10:
                close()  # "one two", "twenty eleven": a new number
            current += _UNITS[word]
            last = "unit"
        elif word in _TENS:
            if last in ("unit", "tens"):
                close()
            current += _TENS[word]
            last = "tens"
        elif word in _SCALES and last in ("unit", "tens", "scale"):
            if word == "hundred":
                current *= 100
            else:
                total, current = total + current * _SCALES[word], 0
            last = "scale"
        elif word == "and" and last == "scale":
            last = "and"
        elif last:
            close()
    if last:
        close()
    return found


def says(fact: str, text: str) -> bool:
    """Whether an answer (``text``, normalised) states an expected fact: its words, or for a number, the
    number in words ("seven continents" for 7; not "twenty-seven")."""
    fact = normalise(fact)
    if fact in text:
        return True
    return re.fullmatch(r"[0-9]{1,9}", fact) is not None and int(fact) in spoken_numbers(text)


def _fill(template: Any, arguments: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda m: str(arguments.get(m.group(1), m.group(0))), template)
    if isinstance(template, dict):
        return {k: _fill(v, arguments) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, arguments) for v in template]
    return template


def _make_tool(spec: dict[str, Any]) -> Tool:
    table = {normalise(k): v for k, v in (spec.get("results") or {}).items()}
    key, default = spec.get("key"), spec.get("default", {"status": "ok"})

    def run(**arguments: Any) -> Any:
        found = table.get(normalise(arguments.get(key, ""))) if key else None
        return found if found is not None else _fill(default, arguments)

    return Tool.from_schema(spec["name"], spec["description"], spec["parameters"], run)


def load_tools(path: Path = DATA / "tools.yaml") -> dict[str, Tool]:
    return {spec["name"]: _make_tool(spec) for spec in yaml.safe_load(path.read_text())}


def load_cases(directory: Path = DATA, categories: tuple[str, ...] = CATEGORIES) -> list[Case]:
    known = load_tools(directory / "tools.yaml")
    cases: list[Case] = []
    for category in categories:
        for raw in yaml.safe_load((directory / f"{category}.yaml").read_text()) or []:
            case = Case(id=raw["id"], category=category, tools=tuple(raw["tools"]), user=raw["user"],
                        calls=tuple(ExpectedCall(c["name"], c.get("arguments") or {}) for c in raw.get("calls") or []),
                        answer=tuple(str(a) for a in raw.get("answer") or ()),
                        answer_any=tuple(str(a) for a in raw.get("answer_any") or ()))
            unknown = [t for t in case.tools if t not in known]
            if unknown:
                raise ValueError(f"case {case.id} offers unknown tools {unknown}")
            cases.append(case)
    return cases


# --- scoring ---------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def values_match(expected: Any, actual: Any) -> bool:
    if expected == ANY:
        return actual is not None and actual != ""
    x, y = _number(expected), _number(actual)
    if x is not None and y is not None:
        return abs(x - y) <= 1e-6 * max(1.0, abs(x))
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(values_match(a, b) for a, b in zip(expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(values_match(v, actual[k]) for k, v in expected.items())
    return normalise(expected) == normalise(actual)


def call_matches(expected: ExpectedCall, name: str, arguments: dict[str, Any], schema: dict[str, Any],
                 said: str = "") -> bool:
    """Same tool, the expected values; any other argument must be optional and either its default or,
    where it has none, made of what the user said (a timer labelled "9 minutes" for "9 minutes")."""
    if name != expected.name:
        return False
    if any(k not in arguments or not values_match(v, arguments[k]) for k, v in expected.arguments.items()):
        return False
    properties, required = schema.get("properties", {}), set(schema.get("required", []))
    for k, v in arguments.items():
        if k in expected.arguments:
            continue
        spec = properties.get(k, {})
        if k in required or not isinstance(spec, dict):
            return False
        if "default" in spec:
            if not values_match(spec["default"], v):
                return False
        elif ungrounded_arguments({k: v}, {"properties": {k: spec}, "required": [k]}, said):
            return False
    return True


def score(case: Case, calls: list[tuple[str, dict[str, Any]]], answer: str, answered: bool,
          tools: dict[str, Tool]) -> tuple[bool, str]:
    """(passed, why) for what the agent did on ``case``."""
    unmatched = list(calls)
    for expected in case.calls:
        schema = tools[expected.name].parameters
        hit = next((c for c in unmatched if call_matches(expected, c[0], c[1], schema, case.user)), None)
        if hit is None:
            return False, f"missing call {expected.name}({canonical_json(expected.arguments)})"
        unmatched.remove(hit)
    if unmatched:
        name, arguments = unmatched[0]
        return False, f"unexpected call {name}({canonical_json(arguments)})"
    if not answered:
        return False, "no final answer"
    text = normalise(answer)
    missing = [a for a in case.answer if not says(a, text)]
    if missing:
        return False, f"answer lacks {missing}"
    wanted = case.answer_any
    if not wanted and case.category == "missing_tool":
        wanted = DECLINES
    if wanted and not any(says(a, text) for a in wanted):
        return False, f"answer has none of {list(wanted)[:6]}"
    if case.category == "missing_argument" and "?" not in answer:
        return False, "answer asks nothing"
    if not answer.strip():
        return False, "empty answer"
    return True, "ok"


# --- running ---------------------------------------------------------------------------------------


def _distinct(calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """A call repeated verbatim counts once (the harness answers a repeat without running it)."""
    seen: set[str] = set()
    out = []
    for name, arguments in calls:
        key = canonical_json([name, arguments])
        if key not in seen:
            seen.add(key)
            out.append((name, arguments))
    return out


async def run_case(case: Case, tools: dict[str, Tool], make_agent: Callable[[ToolSet], Any]) -> Outcome:
    agent = make_agent(ToolSet([tools[name] for name in case.tools]))
    started = time.perf_counter()
    try:
        result = await agent.arun(case.user)
    finally:
        await agent.aclose()
    messages = [dict(m) for m in agent.messages[1:]]
    ran = [(r.name, r.arguments) for t in result.turns
           for r, refused in zip(t.results, t.refused or [False] * len(t.results), strict=True)
           if not refused and (r.ok or not r.output.startswith(("There is no tool", "The arguments for")))]
    calls = _distinct(ran)
    answered = result.stop_reason in ("final_answer", "end_of_sequence", "stop_string")
    passed, why = score(case, calls, result.text, answered, tools)
    requests = len(result.turns) + sum(t.probes for t in result.turns)  # decide's probes are requests too
    first = result.turns[0] if result.turns else None
    probabilities = (first.answer_probability, first.decline_probability) if first is not None else (None, None)
    return Outcome(case, passed, why, calls, result.text, result.stop_reason, requests, result.usage.prompt_tokens,
                   result.usage.cached_tokens, time.perf_counter() - started, [t.raw_text for t in result.turns],
                   messages, probabilities, first.name_choices if first is not None else [], result.error)


async def run_cases(cases: list[Case], make_agent: Callable[[ToolSet], Any], concurrency: int = 8,
                    progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    tools = load_tools()
    gate = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> Outcome:
        async with gate:
            outcome = await run_case(case, tools, make_agent)
        if progress:
            progress(outcome)
        return outcome

    return list(await asyncio.gather(*(one(c) for c in cases)))


def summarise(outcomes: list[Outcome], wall_s: float) -> dict[str, Any]:
    by_category: dict[str, float] = {}
    counts: dict[str, list[int]] = {}
    for o in outcomes:
        counts.setdefault(o.case.category, []).append(int(o.passed))
    for category in CATEGORIES:
        if category in counts:
            by_category[category] = round(sum(counts[category]) / len(counts[category]), 4)
    prompt = sum(o.prompt_tokens for o in outcomes)
    return {
        "accuracy": round(sum(o.passed for o in outcomes) / max(len(outcomes), 1), 4),
        "by_category": by_category,
        "cases": len(outcomes),
        "passed": sum(o.passed for o in outcomes),
        "requests": sum(o.requests for o in outcomes),
        "prompt_tokens": prompt,
        "cached_tokens": sum(o.cached_tokens for o in outcomes),
        "cached_share": round(sum(o.cached_tokens for o in outcomes) / max(prompt, 1), 4),
        "wall_s": round(wall_s, 1),
        "median_case_s": round(statistics.median(o.elapsed_s for o in outcomes), 2) if outcomes else 0.0,
        "failures": [{"id": o.case.id, "why": o.why, "answer": o.answer[:200], "stop": o.stop_reason}
                     for o in outcomes if not o.passed],
    }


# --- configurations compared in one run -------------------------------------------------------------


def configurations(compare: bool, free: bool, without: tuple[str, ...], unaided: bool = False) -> dict[str, dict[str, Any]]:
    """Agent settings by label. With ``compare``: every technique on, each one off, none, and free mode. With
    ``unaided``, one more: the model alone (UNAIDED)."""
    from harness.techniques import Techniques

    extra = {UNAIDED: {UNAIDED: True}} if unaided else {}
    if not compare:
        label = "free" if free else "constrained"
        label += "".join(f" -{n}" for n in without)
        return {label: {"constrained": not free, "techniques": Techniques().without(*without)}, **extra}
    configs: dict[str, dict[str, Any]] = {"all": {"constrained": True, "techniques": Techniques()}}
    for name in Techniques.names():
        configs[f"-{name}"] = {"constrained": True, "techniques": Techniques().without(name)}
    configs["none"] = {"constrained": True, "techniques": Techniques.none()}
    configs["free"] = {"constrained": False, "techniques": Techniques()}
    configs["free none"] = {"constrained": False, "techniques": Techniques.none()}
    return {**configs, **extra}


def sample(cases: list[Case], per_category: int | None) -> list[Case]:
    """At most ``per_category`` cases of each category, spread evenly over its file (deterministic)."""
    if not per_category:
        return cases
    out: list[Case] = []
    for category in CATEGORIES:
        mine = [c for c in cases if c.category == category]
        step = max(len(mine) / per_category, 1.0)
        out += [mine[int(i * step)] for i in range(min(per_category, len(mine)))]
    return out


def agent_for(tools: ToolSet, client: Any, label: str, options: dict[str, Any]) -> Any:
    """The agent that runs one case under the configuration ``label`` (``options``: Agent's keywords, or
    UNAIDED: no tools at all)."""
    from harness.agent import Agent

    options = dict(options)
    if options.pop(UNAIDED, False):
        tools = ToolSet()  # the model alone: plain chat, nothing offered, nothing checked
    # A salt per configuration: one configuration's cached prompts cannot flatter another's.
    return Agent(tools, client=client, max_steps=6, max_tokens=256, cache_salt=f"tooluse-{label}", **options)


def bench_tooluse(base_url: str, model: str, configs: dict[str, dict[str, Any]],
                  categories: tuple[str, ...] = CATEGORIES, concurrency: int = 8,
                  progress: Callable[[str, Outcome], None] | None = None,
                  per_category: int | None = None, transcripts: Path | None = None) -> dict[str, Any]:
    """Run every case under each configuration (one after another; cases concurrently within one).
    With ``transcripts``, each case's record (``Outcome.record``, labelled) is one JSON line of that file."""
    from harness.agent import Agent
    from harness.client import AsyncClient

    cases = sample(load_cases(categories=categories), per_category)
    runs: dict[str, Any] = {}
    for label, options in configs.items():
        def make(tools: ToolSet, label: str = label, options: dict[str, Any] = options) -> Agent:
            return agent_for(tools, AsyncClient(base_url, model), label, options)

        started = time.perf_counter()
        outcomes = asyncio.run(run_cases(cases, make, concurrency,
                                         (lambda o, label=label: progress(label, o)) if progress else None))
        runs[label] = summarise(outcomes, time.perf_counter() - started)
        if transcripts is not None:
            with transcripts.open("a", encoding="utf-8") as out:
                for o in outcomes:
                    out.write(json.dumps({"label": label, **o.record()}, ensure_ascii=False) + "\n")
    first = next(iter(runs.values()))
    return {"model": model, "categories": list(categories), "concurrency": concurrency,
            **{k: first[k] for k in ("accuracy", "by_category", "cases")}, "runs": runs}
