"""Constrained actions: a JSON Schema that admits exactly one well-formed action.

With guided decoding (vLLM ``response_format: json_schema``) the model can then only write a
call to a real tool with schema-valid arguments, or a final answer — always parseable, even
for a 0.5B model. The final answer is itself a call, to the reserved name ``final_answer``, so
one parser reads both.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from harness.tools import Tool, ToolSet, tool

FINAL_ANSWER = "final_answer"
REPLAN = "replan"  # offered only inside a plan step (see planner.py)
ASK_USER = "ask_user"  # offered only after a call was refused for a guessed value (see refusals.py)


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Close every object schema (no extra keys), so guided decoding cannot invent arguments."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def action_schema(tools: ToolSet, final_answer: bool = True, parallel: bool = False) -> dict[str, Any]:
    """The union of every tool's call shape (and the final answer).

    With ``parallel`` the action is a JSON list of one to four of these, so after one call the model
    can add the next ("weather in Oslo and in Rome") in the same turn. (Measured: a list for calls
    beside an object for the answer made the 0.5B model never call at all; the choice of the name
    must stay where it was.)"""
    options: list[dict[str, Any]] = []
    defs: dict[str, Any] = {}
    for t in tools_for_prompt(tools) if final_answer else tools:
        params = _strict(t.parameters)
        # Nested models' $defs must live at the root of the combined schema.
        defs.update(params.pop("$defs", {}))
        options.append({
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": params},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        })
    calls = [o for o in options if o["properties"]["name"]["const"] != FINAL_ANSWER]
    schema: dict[str, Any] = {"anyOf": options}
    if parallel and calls:
        schema = {"type": "array", "items": {"anyOf": options}, "minItems": 1, "maxItems": 4}
    if defs:
        schema["$defs"] = defs
    return schema


def pinned(schema: dict[str, Any], pins: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    """A copy of an action schema in which each pinned parameter of a tool, ``{tool: {parameter: [values]}}``,
    may take only those values (a JSON Schema enum); the other tools and parameters are as they were."""
    schema = copy.deepcopy(schema)
    for option in schema.get("items", schema).get("anyOf", []):
        wanted = pins.get(option["properties"]["name"].get("const"), {})
        properties = option["properties"]["arguments"].get("properties", {})
        for name, values in wanted.items():
            if name in properties and values:
                properties[name] = {"enum": list(values)}
    return schema


def decline_schema(opening: str) -> dict[str, Any]:
    """The final answer alone, made to open with ``opening`` ("Sorry, I can't"): the harness decided to
    decline (harness/decide.py); the model says in its own words what it cannot do."""
    return answer_opening(action_schema(ToolSet([])), opening)


def answer_opening(schema: dict[str, Any], opening: str) -> dict[str, Any]:
    """A copy of an action schema whose final answer (if it offers one) must open with ``opening``; its
    calls are as they were."""
    schema = copy.deepcopy(schema)
    for option in schema.get("items", schema).get("anyOf", []):
        if option["properties"]["name"].get("const") == FINAL_ANSWER:
            # No quote or backslash after the opening: the answer stays one plain JSON string.
            option["properties"]["arguments"]["properties"]["answer"]["pattern"] = \
                "^" + re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", opening) + '[^"\\\\]*$'
    return schema


def fresh_answer_schema(avoid: str) -> dict[str, Any]:
    """The final answer alone, made not to open with any letter of ``avoid`` (either case): the answers
    before it opened so and only echoed the harness's note. Guided decoding has no "not this phrase";
    a first letter is enough to leave the loop."""
    schema = action_schema(ToolSet([]))
    answer = schema["anyOf"][0]["properties"]["arguments"]["properties"]["answer"]
    banned = "".join(dict.fromkeys(c for letter in avoid[:8] for c in (letter.lower(), letter.upper()) if c))
    banned = re.sub(r"([\\\]^\-\[])", r"\\\1", banned)
    answer["pattern"] = "^[^" + banned + '"\\\\ ][^"\\\\]*$'  # nor a quote, backslash or space first
    return schema


def _final_answer(answer: str) -> str:
    """Give your final answer to the user. Use it as soon as you know the answer, and when no tool is needed.

    Args:
        answer: the answer, in plain words
    """
    return answer


def final_answer_tool() -> Tool:
    """The reserved final-answer action, rendered beside the real tools so the model sees it as one.

    Measured with the bundled 0.5B model: unless ``final_answer`` is listed among the tools, it
    keeps calling tools after it has the result."""
    return tool(_final_answer, name=FINAL_ANSWER)


def _replan(reason: str) -> str:
    """Ask for a new plan: what you found shows the remaining steps are wrong.

    Args:
        reason: what you found, and why the plan must change
    """
    return reason


def replan_tool() -> Tool:
    return tool(_replan, name=REPLAN)


def _ask_user(question: str) -> str:
    """Ask the user for a value you need and do not have.

    Args:
        question: the question, e.g. "Which city?"
    """
    return question


def ask_user_tool() -> Tool:
    return tool(_ask_user, name=ASK_USER)


def tools_for_prompt(tools: ToolSet) -> ToolSet:
    """The tools to render when calls are constrained: the real ones plus ``final_answer``."""
    return ToolSet([*tools, final_answer_tool()])


def unlooped(text: str, longest: int = 80, times: int = 3, span: int = 40) -> str:
    """``text`` without the loop it ends in: from the earliest point where one piece (up to ``longest``
    characters) repeats to the end, ``times`` times or more and over ``span`` characters or more, one
    copy is kept, and trailing commas and spaces dropped: "23:40, 23:40, 23:40, ..." → "23:40". A small
    model under greedy decoding can repeat itself until max_tokens. O(len × longest); never raises."""
    text = text[:20_000]
    n, best, period = len(text), len(text), 0
    for k in range(1, min(longest, n // times) + 1):
        i = n - k - 1  # walk back while the text repeats itself k characters on
        while i >= 0 and text[i] == text[i + k]:
            i -= 1
        first = i + 1
        if n - first >= max(times * k, span) and first < best:
            best, period = first, k
    if not period:
        return text
    return text[:best + period].rstrip(" ,;") or text


class FinalAnswerStream:
    """Streams the text of a constrained final answer while it is being generated.

    Under guided decoding the reply is JSON, ``{"name":"final_answer","arguments":{"answer":"..."}}``
    (or a list holding it); this decodes the answer string incrementally so the user sees it arrive,
    not all at the end. Each character is looked at once (only the undecoded tail is kept), and
    nothing the model writes makes it raise."""

    _HEAD = re.compile(r'\s*\[?\s*\{\s*"name"\s*:\s*"final_answer"\s*,\s*"arguments"\s*:\s*\{\s*"answer"\s*:\s*"')
    _MAX_HEAD = 160  # longer than any head the pattern admits in practice: past it, this is no answer
    _ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

    def __init__(self) -> None:
        self._tail = ""  # the head while it is being matched, then the undecoded part of the answer
        self.started = False
        self.done = False
        self._pieces: list[str] = []

    @property
    def text(self) -> str:
        """The answer decoded so far."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    def feed(self, delta: str) -> str:
        """The newly decoded answer text (empty if none, or if this is not a final answer)."""
        if self.done:
            return ""
        self._tail += delta
        if not self.started:
            head = self._HEAD.match(self._tail)
            if head is None:
                if len(self._tail) > self._MAX_HEAD:
                    self.done = True  # a call, not an answer
                return ""
            self.started, self._tail = True, self._tail[head.end():]
        out: list[str] = []
        raw, i = self._tail, 0
        while i < len(raw):
            ch = raw[i]
            if ch == '"':
                self.done = True
                break
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= len(raw):
                break  # wait for the escaped character
            code = raw[i + 1]
            if code in self._ESCAPES:
                out.append(self._ESCAPES[code])
                i += 2
            elif code == "u":
                if i + 6 > len(raw):
                    break
                point = _hex(raw[i + 2:i + 6])
                if 0xD800 <= point < 0xDC00:  # a surrogate pair needs its second half
                    if i + 12 > len(raw):
                        break
                    low = _hex(raw[i + 8:i + 12])
                    out.append(chr(0x10000 + ((point - 0xD800) << 10) + (low - 0xDC00))
                               if raw[i + 6:i + 8] == "\\u" and 0xDC00 <= low < 0xE000 else "\ufffd")
                    i += 12
                else:
                    out.append(chr(point) if not 0xDC00 <= point < 0xE000 else "\ufffd")
                    i += 6
            else:
                out.append(code)
                i += 2
        self._tail = raw[i:]
        piece = "".join(out)
        if piece:
            self._pieces.append(piece)
        return piece


def _hex(digits: str) -> int:
    """A \\u escape's code point; U+FFFD for one that is not four hex digits."""
    try:
        return int(digits, 16) if len(digits) == 4 and digits.isascii() and digits.isalnum() else 0xFFFD
    except ValueError:
        return 0xFFFD
