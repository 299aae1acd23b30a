"""The first decision of a run, calibrated: answer, or call a tool.

Under guided decoding the model answers only when ``final_answer`` is likelier than every tool name
together at the first token of the action's ``"name"``. Measured with the 0.5B model over the 236
cases of ``harness bench tooluse`` (the probability of answering at that token, first action of a
run): general questions and requests that no offered tool fits put a median 59% and 29% there, yet
13 and 21 of their 33 each got under 50% and so a call; requests that a tool fits put a median of
0.8-7%, and 160 of 170 under 25%. So before a run's first action the harness asks for its first few
tokens with their probabilities (a short request whose prompt the real one then finds cached), and
when answering has ``ANSWER_AT`` or more, the action is an answer.

Then, with ``decline``, one more such request reads the answer's first token: an answer that opens
with "Sorry" (as the worked examples' decline does) at ``DECLINE_AT`` or more is made to open with
"Sorry, I can't". Measured the same way: requests no offered tool fits put a median 2.4% there (18
of 33 at 2% or more), general questions 0% (1 of 33 at 2% or more), yet the model's greedy answer
to the former was mostly the request said back as done ("Turned on the living room lights").
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

ANSWER_AT = 0.25
UNSURE_AT = 0.06  # a guessed value after this much for answering: answer (may decline), not ask_user
DECLINE_AT = 0.02
PROBE_TOKENS = 8  # '[', '{"', 'name', '":"', then the name: a margin for other splits
DECLINE_TOKENS = 14  # '{"', 'name', '":"', 'final', '_answer', '","', 'arguments', '":{"', 'answer', '":"', then the text
TOP = 20  # vLLM's default max_logprobs
DECLINE_OPENING = "Sorry, I can't"


def probe_options(options: dict[str, Any], tokens: int = PROBE_TOKENS) -> dict[str, Any]:
    """The request options of the probe: the action's own, cut to its first tokens, with probabilities."""
    extra = {**(options.get("extra") or {}), "logprobs": True, "top_logprobs": TOP}
    return {**options, "max_tokens": tokens, "extra": extra}


def _first_token_choices(logprobs: object, key: str) -> list[tuple[str, float]] | None:
    """The candidates (text, probability) for the first token of the string value of ``key``, read
    from vLLM's ``choices[0].logprobs.content`` ([{token, logprob, top_logprobs: [{token, logprob}]}]),
    with the quote that opens the value taken off. None when the reply never reaches that value or is
    not that shape. Looks at a bounded number of tokens; never raises."""
    if not isinstance(logprobs, list):
        return None
    opening = re.compile(rf'"{re.escape(key)}"\s*:\s*("?)\s*$')
    text = ""
    for entry in logprobs[:4 * DECLINE_TOKENS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            return None
        opened = opening.search(text[-64:])
        if opened is not None and not (opened.group(1) == "" and entry["token"].strip() == '"'):  # not just the quote
            top = entry.get("top_logprobs")
            if not isinstance(top, list):
                return None
            choices = []
            for candidate in top:
                token = candidate.get("token") if isinstance(candidate, dict) else None
                logprob = candidate.get("logprob") if isinstance(candidate, dict) else None
                try:  # a log probability: a number <= 0 (not NaN, not a 400-digit integer)
                    p = math.exp(float(logprob)) if isinstance(logprob, int | float) and not isinstance(logprob, bool) \
                        and float(logprob) <= 0 else None
                except OverflowError:
                    p = None
                if not isinstance(token, str) or p is None:
                    continue
                if not opened.group(1):  # the quote that opens the value is part of this token
                    token = token.lstrip()
                    if not token.startswith('"'):
                        continue
                    token = token[1:]
                choices.append((token, p))
            return choices
        text += entry["token"]
    return None


def name_choices(logprobs: object) -> list[tuple[str, float]]:
    """The candidates (text, probability) for the first token of the action's name, likeliest first; []
    when they cannot be read. Never raises."""
    return sorted(_first_token_choices(logprobs, "name") or [], key=lambda c: -c[1])


def answer_probability(logprobs: object, tools: Collection[str], answer_tool: str = "final_answer") -> float | None:
    """The probability that the action names ``answer_tool``, read where its ``"name"`` value starts. A
    candidate counts for it when it starts ``answer_tool`` and no tool's name (a tool named "fetch"
    shares "f"). None when it cannot be read; never raises."""
    choices = _first_token_choices(logprobs, "name")
    if choices is None:
        return None
    names = [t for t in tools if isinstance(t, str)]
    return min(sum(p for name, p in choices if name and (name.startswith(answer_tool) or (
        answer_tool.startswith(name) and not any(t.startswith(name) for t in names)))), 1.0)


def decline_probability(logprobs: object, opening: str = "Sorry") -> float | None:
    """The probability that the answer opens with ``opening``, read where the ``"answer"`` text
    starts ("Sorry" or "Sor", not "So" or "S"). None when it cannot be read; never raises."""
    choices = _first_token_choices(logprobs, "answer")
    if choices is None:
        return None
    return min(sum(p for text, p in choices if text.startswith(opening) or (len(text) >= 3 and opening.startswith(text))),
               1.0)
