"""Plan-and-execute: a planner turn writes a plan (JSON, guided by the Plan schema), then each step
runs as a sub-loop in the same transcript — so every step shares the session's cached prefix —
restricted to the tools the step names. A failed step triggers a replan (bounded).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pydantic

from harness import events as ev
from harness.run import Policy

if TYPE_CHECKING:
    from harness.agent import Agent

MAX_REPLANS = 2

PLAN_REQUEST = (
    "Before doing anything, write a plan for the task below as JSON: "
    '{{"steps": [{{"goal": <one concrete, checkable action>, "tools": [<tool names it needs>]}}, ...]}}. '
    "Use 1 to 6 steps. Do not do the steps yet.\n\nTask: {task}"
)
STEP_REQUEST = (
    "Step {n} of {total}: {goal}\nDo only this step, then give its result as your final answer. If what you "
    "find shows that the rest of the plan is wrong, call replan with the reason instead."
)
REPLAN_REQUEST = (
    "Step {n} ({goal}) did not succeed: {why}\nWrite a new plan, as JSON in the same form, for what remains of "
    "the task: {task}"
)
CHANGED_REQUEST = (
    "At step {n} ({goal}) you found that the plan must change: {why}\nWrite a new plan, as JSON in the same form, "
    "for what remains of the task: {task}"
)
FINISH_REQUEST = "All steps are done. Now give the final answer to the task: {task}"


class PlanStep(pydantic.BaseModel):
    goal: str = pydantic.Field(min_length=1, max_length=400)
    tools: list[str] = pydantic.Field(default_factory=list, max_length=8)

    @pydantic.field_validator("tools")
    @classmethod
    def _once_each(cls, tools: list[str]) -> list[str]:
        return list(dict.fromkeys(tools))


def _step_key(goal: str) -> str:
    return " ".join(re.findall(r"\w+", goal.casefold()))


class Plan(pydantic.BaseModel):
    """A plan never holds the same step twice: the 0.5B model often writes a step two to four times
    ("Compare the weather in Oslo and Rome" four times over), and each copy costs a sub-loop.

    Its goal is the user's task, set by the harness: the model is not asked to write it (measured with
    the 0.5B model: it copied the task, 15 to 20 tokens of decoding for nothing)."""

    goal: str = pydantic.Field(default="", max_length=4000)
    steps: list[PlanStep] = pydantic.Field(min_length=1, max_length=8)

    @pydantic.model_validator(mode="after")
    def _distinct_steps(self) -> "Plan":
        seen: set[str] = set()
        steps = []
        for step in self.steps:
            if (key := _step_key(step.goal)) not in seen:
                seen.add(key)
                steps.append(step)
        self.steps = steps
        return self


_STEP = re.compile(r'\{\s*"goal"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"tools"\s*:\s*\[[^\]]*\]\s*\}')


def cut_repeated_step(text: str) -> str | None:
    """A plan being written, closed just before a step it writes for the third time; None until then.

    Measured with the 0.5B model: a step written three times is a loop that goes on up to the schema's
    limit ("Check the date in the notes.txt file" four times), each copy decoded for nothing. A step
    written twice may still be followed by new ones (Plan drops the copy), so that is not cut."""
    seen: dict[str, int] = {}
    for match in _STEP.finditer(text):
        key = _step_key(match[1])
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 3:
            return text[:match.start()].rstrip().removesuffix(",") + "]}"
    return None


def plan_schema(tool_names: list[str]) -> dict[str, Any]:
    """The Plan schema for guided decoding, with step tools limited to the real tool names."""
    item: dict[str, Any] = {"type": "string"}
    if tool_names:
        item["enum"] = tool_names
    step = {"type": "object", "additionalProperties": False, "required": ["goal", "tools"],
            "properties": {"goal": {"type": "string", "minLength": 1, "maxLength": 400},
                           "tools": {"type": "array", "items": item, "maxItems": 8}}}
    return {"type": "object", "additionalProperties": False, "required": ["steps"],
            "properties": {"steps": {"type": "array", "items": step, "minItems": 1, "maxItems": 6}}}


async def make_plan(agent: "Agent", request: str, task: str) -> tuple[Plan | None, ev.TurnRecord, str]:
    """One planner turn, appended to the transcript like any other. (plan or None, record, problem)."""
    names = [n for n in agent.tools.names if n != "final_answer"]
    record = await agent.ask_json(request, plan_schema(names), max_tokens=600, cut=cut_repeated_step)
    try:
        plan = Plan.model_validate_json(record.raw_text)
    except pydantic.ValidationError as exc:
        return None, record, f"the plan was not valid: {exc.errors()[0]['msg']}"
    plan.goal = plan.goal or task
    return plan, record, ""


async def run_plan(agent: "Agent", task: str, max_replans: int = MAX_REPLANS) -> AsyncIterator[ev.Event]:
    turns: list[ev.TurnRecord] = []

    def final(stop: ev.StopReason, text: str = "", error: str | None = None) -> ev.Final:
        return ev.Final(ev.Result.from_turns(turns, stop, text, session_id=agent.session_id, error=error))

    plan, record, problem = await make_plan(agent, PLAN_REQUEST.format(task=task), task)
    turns.append(record)
    yield ev.TurnUsage(record)
    if plan is None:
        yield final("error", error=problem)
        return
    store = agent.memory
    plan_id = store.save_plan(agent.transcript.session_id, plan.goal, [s.model_dump() for s in plan.steps]) \
        if store else None
    revision, index, replans = 0, 0, 0
    used: set[str] = set()  # the tools that have run in this plan's steps
    yield ev.PlanEvent(plan, revision)
    while index < len(plan.steps):
        step = plan.steps[index]
        yield ev.StepStarted(index, step.goal)
        outcome: ev.Result | None = None
        allowed = tuple(t for t in step.tools if t in agent.tools) or None
        # A step that names its tools starts by using one (the 0.5B model otherwise "answers" a step
        # like "read notes.txt" without reading it), unless earlier steps used them all: their results
        # are above, and a step like "extract the date" may answer from them. Once its tools have run,
        # the step is done and answers.
        fresh = allowed is not None and not set(allowed) <= used
        policy = Policy(allowed=allowed, may_replan=True, must_call=fresh, answer_when_used=True)
        async for event in agent.loop(STEP_REQUEST.format(n=index + 1, total=len(plan.steps), goal=step.goal),
                                      policy):
            if isinstance(event, ev.Final):
                outcome = event.result
            else:
                yield event
        assert outcome is not None
        turns += outcome.turns
        used |= {r.name for t in outcome.turns for r in t.results if r.ok}
        text = outcome.text or outcome.error or outcome.stop_reason
        if store and plan_id:
            status = "done" if outcome.ok else "changed plan" if outcome.stop_reason == "replan" else "failed"
            store.update_step(plan_id, index, status, text)
        yield ev.StepFinished(index, outcome.ok, text)
        if outcome.ok:
            index += 1
            continue
        if replans >= max_replans:
            if store and plan_id:
                store.finish_plan(plan_id, "failed")
            yield final("max_retries", error=f"step {index + 1} failed after {replans} replans: {text}")
            return
        replans += 1
        request = CHANGED_REQUEST if outcome.stop_reason == "replan" else REPLAN_REQUEST
        new_plan, record, problem = await make_plan(agent, request.format(n=index + 1, goal=step.goal, why=text,
                                                                          task=task), task)
        turns.append(record)
        yield ev.TurnUsage(record)
        if new_plan is None:
            yield final("error", error=problem)
            return
        plan, index, revision = new_plan, 0, revision + 1
        if store:
            if plan_id:
                store.finish_plan(plan_id, "replanned")
            plan_id = store.save_plan(agent.transcript.session_id, plan.goal, [s.model_dump() for s in plan.steps])
        yield ev.PlanEvent(plan, revision)
    if store and plan_id:
        store.finish_plan(plan_id, "done")
    # The steps did the work and their results are above: what is left is the answer (the 0.5B model
    # otherwise calls a step's tool once more first).
    async for event in agent.loop(FINISH_REQUEST.format(task=task), Policy(must_answer=True)):
        if isinstance(event, ev.Final):
            turns += event.result.turns
            yield final(event.result.stop_reason, event.result.text, event.result.error)
        else:
            yield event

