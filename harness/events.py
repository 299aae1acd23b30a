"""What an agent run emits, in order. The REPL, scripts and tests consume the same events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from harness.client import Usage
from harness.toolcalls import ToolCall
from harness.tools import ToolResult

StopReason = Literal[
    "final_answer",     # the model called final_answer (constrained mode)
    "end_of_sequence",  # the model stopped with no call: its text is the answer
    "stop_string",      # a caller-given stop string ended the reply
    "length",           # the reply hit max_tokens and continuing did not finish it
    "max_steps",        # the step limit was reached
    "max_retries",      # the model kept writing calls that could not be used
    "replan",           # inside a plan step, the model found that the plan must change
    "cancelled",        # the caller cancelled (Ctrl-C, task.cancel())
    "error",            # the server failed; the message says why
]


@dataclass
class TextDelta:
    text: str


@dataclass
class ThinkingDelta:
    text: str


@dataclass
class ToolCallEvent:
    call: ToolCall
    problem: str | None = None  # why it will not run (unknown tool, bad arguments), if so


@dataclass
class ToolResultEvent:
    result: ToolResult


@dataclass
class ParseProblem:
    errors: list[str]


@dataclass
class AnswerRejected:
    """The harness sent an answer back (it parroted a note, or stated numbers nobody gave); it already
    streamed, so a UI should mark it as withdrawn."""

    reason: str
    answer: str
    message: str


@dataclass
class SkillLoaded:
    name: str
    path: str


@dataclass
class MemoryRecalled:
    query: str
    facts: list[str]


@dataclass
class Compacted:
    """Older turns were replaced by a summary to fit the context: the prefix cache breaks here."""

    estimated_tokens: int
    replaced: int
    kept: int


@dataclass
class TurnRecord:
    """One request to the model and what came of it (what /trace shows)."""

    raw_text: str
    content: str = ""  # the text outside calls and thinking
    streamed_answer: str = ""  # a constrained final answer's text, as streamed
    server_tool_calls: list[dict[str, Any]] = field(default_factory=list)  # parsed by the server, if so
    thinking: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    ttft_s: float | None = None
    elapsed_s: float = 0.0
    finish_reason: str | None = None
    stop_reason: str | int | None = None
    prompt_messages: int = 0
    constrained: bool = False
    refused: list[bool] = field(default_factory=list)  # per call: stopped by the harness, not run
    guessed: list[str] = field(default_factory=list)  # tools refused because a value was guessed
    # (tool named, refused tool, its parameter, the user's word to look up or "")
    lookup_for: list[tuple[str, str, str, str]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # tools still to call for values the user listed (siblings)
    # Tools whose refused call has now run with the values looked up (fill): not offered next turn.
    finished: list[str] = field(default_factory=list)
    filled: bool = False  # a refusal here named the value a result gave, and its call is the next action (fill)
    # The values a note here named for the next action's calls, {tool: {parameter: [values]}}: with ``pin``,
    # guided decoding lets those parameters take nothing else (constrained.pinned).
    pins: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    # The probability of answering the model gave the run's first action, asked before it (harness/decide.py).
    answer_probability: float | None = None
    decline_probability: float | None = None  # and of opening that answer with "Sorry", when it was one
    # The candidates (token, probability) for the first token of that action's name, as the probe read them.
    name_choices: list[tuple[str, float]] = field(default_factory=list)
    # The tool that made decide's first action a call: a code only it takes (Agent._coded), or its verb
    # opening a part of the request (claims.asked_tools).
    coded: str | None = None
    # After a person decide had looked up by name (Agent._person): (tool, parameter) for each call the task asks
    # for that takes a value that lookup returns (get_orders' customer_id), named in the note after it (fill).
    then: list[tuple[str, str]] = field(default_factory=list)
    # (tool to run first, refused tool, its parameter): prose written before the tool the task speaks of had run
    # (Agent._unread_source); after that tool's result the refused call is named again.
    write_from: list[tuple[str, str, str]] = field(default_factory=list)
    instead: str = ""  # the tool a refusal here named in place of a guessed call's (Agent._named_instead): next
    unfit: str = ""  # what no offered tool does or gives (claims.unfit_action, unfit_thing), when decide declined for it
    probes: int = 0  # requests made to read those probabilities
    probe_usage: Usage = field(default_factory=Usage)  # theirs (``usage`` is the turn's own request)
    rejected: str | None = None  # why the harness sent this turn's answer back ("echo", "restated", "claimed", "untried", "numbers", "untimed", "unused")

    @property
    def lookup(self) -> list[str]:
        """The tools named to find the guessed values (next turn's only ones)."""
        return sorted({finder for finder, *_ in self.lookup_for})


@dataclass
class TurnUsage:
    turn: TurnRecord


@dataclass
class PlanEvent:
    plan: Any  # harness.planner.Plan
    revision: int = 0


@dataclass
class StepStarted:
    index: int
    goal: str


@dataclass
class StepFinished:
    index: int
    ok: bool
    outcome: str


@dataclass
class Result:
    text: str
    stop_reason: StopReason
    turns: list[TurnRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    session_id: str = ""
    error: str | None = None

    @classmethod
    def from_turns(cls, turns: list[TurnRecord], stop_reason: StopReason, text: str = "", *,
                   session_id: str = "", error: str | None = None) -> "Result":
        """The result of a run made of ``turns``: its usage is theirs, summed (with their probes')."""
        usage = Usage()
        for turn in turns:
            usage = add_usage(add_usage(usage, turn.usage), turn.probe_usage)
        return cls(text=text, stop_reason=stop_reason, turns=list(turns), usage=usage, session_id=session_id,
                   error=error)

    @property
    def ok(self) -> bool:
        return self.stop_reason in ("final_answer", "end_of_sequence", "stop_string")


def add_usage(a: Usage, b: Usage) -> Usage:
    return Usage(a.prompt_tokens + b.prompt_tokens, a.completion_tokens + b.completion_tokens,
                 a.cached_tokens + b.cached_tokens)


@dataclass
class Final:
    result: Result


Event = (TextDelta | ThinkingDelta | ToolCallEvent | ToolResultEvent | ParseProblem | SkillLoaded
         | AnswerRejected | MemoryRecalled | Compacted | TurnUsage | PlanEvent | StepStarted | StepFinished | Final)
