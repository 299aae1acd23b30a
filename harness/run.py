"""One run of the agent loop: the policy it runs under, the state it carries from turn to turn, and
what each of its turns came to. A run is created per ``Agent.loop`` (a user turn, or each step of a
plan and its final answer) and dropped when it ends; nothing of it lives on the agent."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from harness.events import StopReason, TurnRecord


@dataclass(frozen=True)
class Policy:
    """What a run may do. The default is a plain run: every tool, no replanning.

    ``allowed``: the only tools the run may call (None: all of them); a call to another is refused.
    ``may_replan``: the model may call replan to end the run (inside a plan step).
    ``must_call``: the run's first action is a call, not an answer (guided decoding).
    ``must_answer``: every action is an answer; no tool is offered (guided decoding).
    ``answer_when_used``: once every tool in ``allowed`` has run, the next action is the answer (a
    plan step is one action: the 0.5B model otherwise repeats the step's call before answering)."""

    allowed: tuple[str, ...] | None = None
    may_replan: bool = False
    must_call: bool = False
    must_answer: bool = False
    answer_when_used: bool = False

    def __post_init__(self) -> None:
        if self.must_call and self.must_answer:
            raise ValueError("a policy cannot require both a call and an answer first")


@dataclass
class Run:
    """The state one run carries between its turns."""

    policy: Policy
    task: str = ""  # the user's words that started the run (restated after tool results)
    turns: list[TurnRecord] = field(default_factory=list)  # this run's model requests, in order
    force_answer: bool = False  # the next action must be an answer (a repeated call, the last retry)
    sent_back: list[str] = field(default_factory=list)  # the harness's notes on answers it sent back
    partial: str = ""  # an answer sent back for leaving results out, kept: the next one adds to it
    opening: str = ""  # what the answer after one sent back for leaving a result out opens with (Techniques.labelled)
    echoed: str = ""  # the first letters of the answers sent back as echoes: the answer after one opens with none
    unsure: bool = False  # the first action's answer probability was UNSURE_AT or more (Techniques.unsure)


class Next(enum.Enum):
    """What the loop does after a turn."""

    ANSWER = "answer"  # the run ends with the outcome's text
    REPLAN = "replan"  # the run ends: the plan must change (the text says why)
    RETRY = "retry"  # nothing usable came of the turn; a note went back; it counts toward max_retries
    CONTINUE = "continue"  # calls ran: ask the model again


@dataclass(frozen=True)
class Outcome:
    """What one turn's action came to."""

    next: Next
    text: str = ""
    stop: StopReason | None = None  # how the run ends, when it does

    @classmethod
    def answer(cls, text: str, stop: StopReason) -> "Outcome":
        return cls(Next.ANSWER, text, stop)

    @classmethod
    def replan(cls, reason: str) -> "Outcome":
        return cls(Next.REPLAN, reason, "replan")


RETRY = Outcome(Next.RETRY)
CONTINUE = Outcome(Next.CONTINUE)
