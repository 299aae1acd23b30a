"""The first decision of a run, calibrated: answer, or call a tool.

Under guided decoding the model answers only when ``final_answer`` is likelier than every tool name
together at the first token of the action's ``"name"``. Measured with the 0.5B model over the 236
cases of ``harness bench tooluse`` (the probability of answering at that token, first action of a
run): general questions and requests that no offered tool fits put a median 59% and 29% there, yet a
third and two thirds of them still called a tool; requests that a tool fits put a median 0.8-7%,
and all but 6 of 170 under 25%. So before a run's first action the harness asks for its first few
tokens with their probabilities (a short request whose prompt the real one then finds cached), and
when answering has ``ANSWER_AT`` or more, the action is an answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

ANSWER_AT = 0.25
PROBE_TOKENS = 8  # '[', '{"', 'name', '":"', then the name: a margin for other splits
TOP = 20  # vLLM's default max_logprobs
_NAME_OPEN = re.compile(r'"name"\s*:\s*("?)\s*$')


def probe_options(options: dict[str, Any]) -> dict[str, Any]:
    """The request options of the probe: the action's own, cut to its first tokens, with probabilities."""
    extra = {**(options.get("extra") or {}), "logprobs": True, "top_logprobs": TOP}
    return {**options, "max_tokens": PROBE_TOKENS, "extra": extra}


def answer_probability(logprobs: object, tools: Collection[str], answer: str = "final_answer") -> float | None:
    """The probability that the action names ``answer``, read where its ``"name"`` value starts in
    vLLM's ``choices[0].logprobs.content`` ([{token, logprob, top_logprobs: [{token, logprob}]}]).

    A candidate token counts for the answer when it starts ``answer`` and no tool's name (a tool named
    "fetch" shares "f"). None when the reply never reaches a name or is not that shape. Looks at a
    bounded number of tokens; never raises."""
    if not isinstance(logprobs, list):
        return None
    text = ""
    for entry in logprobs[:4 * PROBE_TOKENS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            return None
        opened = _NAME_OPEN.search(text[-64:])
        if opened is not None and not (opened.group(1) == "" and entry["token"].strip() == '"'):  # not just the quote
            top = entry.get("top_logprobs")
            if not isinstance(top, list):
                return None
            total = 0.0
            for candidate in top:
                token = candidate.get("token") if isinstance(candidate, dict) else None
                logprob = candidate.get("logprob") if isinstance(candidate, dict) else None
                if not isinstance(token, str) or not isinstance(logprob, int | float) or isinstance(logprob, bool):
                    continue
                name = token if opened.group(1) else token.lstrip()
                if not opened.group(1):  # the quote that opens the name is part of this token
                    if not name.startswith('"'):
                        continue
                    name = name[1:]
                if name and (name.startswith(answer) or (answer.startswith(name)
                                                         and not any(t.startswith(name) for t in tools))):
                    if float(logprob) <= 0:  # a log probability (NaN and positive values are not)
                        total += math.exp(float(logprob))
            return min(total, 1.0)
        text += entry["token"]
    return None
