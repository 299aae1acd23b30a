"""Parsing tool calls out of model text: Hermes, Llama-3 JSON, Mistral, pythonic, bare JSON.

There is one parser, and it is the streaming one: ``parse_tool_calls`` feeds it the whole text
at once. Every decision it takes depends only on text it has already seen, and it waits
("needs more") whenever the next characters could change the decision, so any split of the text
into deltas gives exactly the batch result. Content is released as soon as it cannot be the
start of a call; a call is released as soon as it closes.

Nothing here raises on model output: what cannot be read becomes an entry in ``errors``
(for the model to read and retry) or stays content.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Format = Literal["auto", "hermes", "llama3", "mistral", "pythonic", "json"]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
HERMES_OPEN, HERMES_CLOSE = "<tool_call>", "</tool_call>"
MISTRAL_TAG = "[TOOL_CALLS]"
PYTHON_TAG = "<|python_tag|>"
FENCE = "```"
_TAGS = (THINK_OPEN, HERMES_OPEN, MISTRAL_TAG, PYTHON_TAG, FENCE)
_CALL_START = re.compile(r'\s*\{\s*"(name|function|type)"\s*:')
_OPENER_CHAR = re.compile(r"[<\[`{]")
_PYTHONIC_HEAD = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_PYTHONIC_MAYBE = re.compile(r"\[\s*(?:[A-Za-z_][\w.]*\s*)?")


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    raw: str = ""


@dataclass
class ParsedOutput:
    content: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    thinking: str = ""


@dataclass
class ContentDelta:
    text: str


@dataclass
class ThinkingDelta:
    text: str


@dataclass
class CallParsed:
    call: ToolCall


@dataclass
class ParseError:
    message: str


Event = ContentDelta | ThinkingDelta | CallParsed | ParseError


# --- reading one call ---------------------------------------------------------------------


def _call_from_obj(obj: Any, raw: str) -> ToolCall | str | None:
    """A ToolCall from a decoded object, an error message, or None if it is not call-shaped."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):  # OpenAI shape {"type": "function", "function": {...}}
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not {"arguments", "parameters"} & obj.keys():
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            return f"the arguments of the call to {name!r} are a string that is not valid JSON: {exc}"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return f"the arguments of the call to {name!r} must be a JSON object, got {type(args).__name__}"
    return ToolCall(name=name, arguments=args, raw=raw)


def _calls_from_json(text: str, raw: str) -> list[ToolCall | str] | None:
    """Calls from JSON text: one object, an array, or objects separated by whitespace/';'.

    None when the text is valid JSON that is not call-shaped (so it is content)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = _json_sequence(text)
        if value is None:
            return None
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    out = [_call_from_obj(item, raw) for item in items]
    if any(o is None for o in out):
        return None
    return out  # type: ignore[return-value]


def _json_sequence(text: str) -> list[Any] | None:
    """Several JSON values separated by whitespace or ';' (Llama-3 style), or None."""
    decoder = json.JSONDecoder()
    values, i = [], 0
    while i < len(text):
        while i < len(text) and text[i] in " \t\r\n;":
            i += 1
        if i >= len(text):
            break
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return None
        values.append(value)
    return values if len(values) > 1 else None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _literal(node: ast.AST) -> Any:
    return ast.literal_eval(node)


def _calls_from_pythonic(text: str) -> list[ToolCall | str] | None:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None
    if not isinstance(tree.body, ast.List) or not tree.body.elts:
        return None
    out: list[ToolCall | str] = []
    for node in tree.body.elts:
        if not isinstance(node, ast.Call):
            return None
        name = ast.unparse(node.func)
        if node.args:
            out.append(f"the call to {name!r} passes positional arguments; name every argument (f(a=1))")
            continue
        try:
            args = {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg is not None}
        except (ValueError, SyntaxError, TypeError):
            out.append(f"the arguments of the call to {name!r} must be literals (strings, numbers, lists, dicts)")
            continue
        out.append(ToolCall(name=name, arguments=args, raw=ast.get_source_segment(text.strip(), node) or ""))
    return out


# --- scanning -------------------------------------------------------------------------------


def _balanced_end(text: str, start: int, quotes: str = '"') -> int | None:
    """Index just past the bracket that closes ``text[start]``, or None if it is not closed yet."""
    depth, i, quote = 0, start, ""
    pairs = {"{": "}", "[": "]", "(": ")"}
    closers = set(pairs.values())
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in quotes:
            quote = ch
        elif ch in pairs:
            depth += 1
        elif ch in closers:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


_LONGEST_TAG = max(len(t) for t in _TAGS + (MISTRAL_TAG,))


def _partial_tag_at(text: str, i: int) -> bool:
    """True if text[i:] is a proper prefix of some tag (so more text could complete it)."""
    if len(text) - i >= _LONGEST_TAG:
        return False  # only the last few characters can be an unfinished tag
    tail = text[i:]
    return any(tag.startswith(tail) and tag != tail for tag in _TAGS + (MISTRAL_TAG,))


class StreamingToolCallParser:
    """Feed model text in any pieces; get content, thinking, calls and errors as they complete."""

    def __init__(self, format: Format = "auto") -> None:
        self.format = format
        self.buf = ""
        self.pos = 0
        self.in_think = False
        self.after_call = False
        self.result = ParsedOutput()
        self._content: list[str] = []
        self._thinking: list[str] = []

    # public API

    def feed(self, text: str) -> list[Event]:
        if self.pos > 1024:  # drop what is consumed, so a long stream stays linear
            self.buf, self.pos = self.buf[self.pos:], 0
        self.buf += text
        return list(self._drain(final=False))

    def finish(self) -> list[Event]:
        events = list(self._drain(final=True))
        self.result.content = "".join(self._content).strip()
        self.result.thinking = "".join(self._thinking).strip()
        return events

    # internals

    def _emit_content(self, text: str) -> Iterator[Event]:
        if self.after_call:
            stripped = text.lstrip()
            if stripped.startswith(";"):  # Llama-3 separates calls with ';'
                text = text[: len(text) - len(stripped)] + stripped[1:]
            if text.strip():
                self.after_call = False
        if text:
            self._content.append(text)
            yield ContentDelta(text)

    def _emit_calls(self, calls: list[ToolCall | str]) -> Iterator[Event]:
        for c in calls:
            if isinstance(c, ToolCall):
                self.result.calls.append(c)
                yield CallParsed(c)
            else:
                self.result.errors.append(c)
                yield ParseError(c)
        self.after_call = True

    def _error(self, message: str) -> Iterator[Event]:
        self.result.errors.append(message)
        yield ParseError(message)

    def _drain(self, final: bool) -> Iterator[Event]:
        while self.pos < len(self.buf):
            if self.in_think:
                end = self.buf.find(THINK_CLOSE, self.pos)
                if end == -1:
                    # Release thinking up to a possible partial "</think>" at the end.
                    keep = next((k for k in range(len(THINK_CLOSE) - 1, 0, -1)
                                 if not final and self.buf.endswith(THINK_CLOSE[:k])), 0)
                    upto = len(self.buf) - keep
                    if upto > self.pos:
                        self._thinking.append(self.buf[self.pos:upto])
                        yield ThinkingDelta(self.buf[self.pos:upto])
                        self.pos = upto
                    return
                if end > self.pos:
                    self._thinking.append(self.buf[self.pos:end])
                    yield ThinkingDelta(self.buf[self.pos:end])
                self.pos = end + len(THINK_CLOSE)
                self.in_think = False
                continue
            step = self._step(final)
            if step is None:
                return
            yield from step

    def _next_opener(self, final: bool) -> tuple[int, bool]:
        """(index of the next possible opener, whether it is only a partial tag)."""
        buf = self.buf
        fmt = self.format
        for match in _OPENER_CHAR.finditer(buf, self.pos):
            i, ch = match.start(), match.group()
            if buf.startswith(_TAGS, i) or (ch == "[" and buf.startswith(MISTRAL_TAG, i)):
                return i, False
            if not final and _partial_tag_at(buf, i):
                return i, True
            if ch == "{" and fmt in ("auto", "llama3", "json"):
                return i, False
            if ch == "[" and fmt in ("auto", "pythonic", "json"):
                return i, False
        return len(buf), False

    def _step(self, final: bool) -> Iterator[Event] | None:
        """Consume one segment starting at self.pos, or None when more text is needed."""
        buf, pos = self.buf, self.pos
        i, partial = self._next_opener(final)
        if i > pos:
            self.pos = i
            return self._emit_content(buf[pos:i])
        if partial:
            return None
        if buf.startswith(THINK_OPEN, i):
            self.in_think = True
            self.pos = i + len(THINK_OPEN)
            return iter(())
        if buf.startswith(HERMES_OPEN, i):
            return self._tagged(i, final)
        if buf.startswith(MISTRAL_TAG, i):
            return self._after_tag(i, len(MISTRAL_TAG), final)
        if buf.startswith(PYTHON_TAG, i):
            # The tag is a marker; the JSON calls after it are read as bare JSON.
            self.pos = i + len(PYTHON_TAG)
            return iter(())
        if buf.startswith(FENCE, i):
            return self._fence(i, final)
        if buf[i] == "{":
            return self._bare(i, final)
        return self._bracket(i, final)

    def _tagged(self, i: int, final: bool) -> Iterator[Event] | None:
        start = i + len(HERMES_OPEN)
        end = self.buf.find(HERMES_CLOSE, start)
        if end == -1 and not final:
            return None
        body = self.buf[start:] if end == -1 else self.buf[start:end]
        raw = self.buf[i:] if end == -1 else self.buf[i:end + len(HERMES_CLOSE)]
        self.pos = len(self.buf) if end == -1 else end + len(HERMES_CLOSE)
        calls = _calls_from_json(body.strip(), raw)
        if calls is not None:
            return self._emit_calls(calls)
        if end == -1:
            return self._error(f"the output ended inside an unfinished <tool_call>: {body.strip()[:200]!r}")
        return self._error(self._json_problem(body, "<tool_call>"))

    def _after_tag(self, i: int, tag_len: int, final: bool) -> Iterator[Event] | None:
        j = i + tag_len
        while j < len(self.buf) and self.buf[j].isspace():
            j += 1
        if j >= len(self.buf):
            if not final:
                return None
            self.pos = j
            return self._error("the output ended right after [TOOL_CALLS] with no calls")
        end = _balanced_end(self.buf, j) if self.buf[j] in "[{" else -1
        if end is None and not final:
            return None
        if end is None or end == -1:
            self.pos = len(self.buf) if end is None else j
            got = "the end of the output" if end is None else repr(self.buf[j])
            return self._error(f"[TOOL_CALLS] must be followed by a JSON array of calls, not {got}")
        raw = self.buf[i:end]
        self.pos = end
        calls = _calls_from_json(self.buf[j:end], raw)
        if calls is None:
            return self._error(self._json_problem(self.buf[j:end], "[TOOL_CALLS]"))
        return self._emit_calls(calls)

    def _fence(self, i: int, final: bool) -> Iterator[Event] | None:
        newline = self.buf.find("\n", i + len(FENCE))
        if newline == -1:
            if not final:
                return None
            self.pos = len(self.buf)
            return self._emit_content(self.buf[i:])
        close = self.buf.find(FENCE, newline + 1)
        if close == -1 and not final:
            return None
        lang = self.buf[i + len(FENCE):newline].strip().lower()
        body = self.buf[newline + 1:] if close == -1 else self.buf[newline + 1:close]
        end = len(self.buf) if close == -1 else close + len(FENCE)
        raw = self.buf[i:end]
        self.pos = end
        json_ok = self.format in ("auto", "json", "llama3") and lang in ("", "json", "tool_call", "tool_code")
        python_ok = self.format in ("auto", "pythonic") and lang in ("", "python", "py", "tool_code")
        if json_ok or python_ok:
            calls = _calls_from_json(body.strip(), raw) if json_ok else None
            if calls is None and python_ok and body.strip().startswith("["):
                calls = _calls_from_pythonic(body)
            if calls is not None:
                return self._emit_calls(calls)
            if close == -1 and _CALL_START.match(body):
                return self._error(f"the output ended inside an unfinished tool call: {body.strip()[:200]!r}")
            if lang == "json" and _CALL_START.match(body) and not _is_json(body):
                return self._error(self._json_problem(body, "the ```json block"))
        return self._emit_content(raw)

    def _bare(self, i: int, final: bool) -> Iterator[Event] | None:
        end = _balanced_end(self.buf, i)
        if end is None:
            if not final:
                return None
            self.pos = len(self.buf)
            if _CALL_START.match(self.buf, i):
                return self._error(f"the output ended inside an unfinished tool call: {self.buf[i:i + 200]!r}")
            return self._emit_content(self.buf[i:])
        raw = self.buf[i:end]
        calls = _calls_from_json(raw, raw)
        self.pos = end
        if calls is not None:
            return self._emit_calls(calls)
        if _CALL_START.match(raw) and not _is_json(raw):
            return self._error(self._json_problem(raw, "the tool call"))
        return self._emit_content(raw)

    def _bracket(self, i: int, final: bool) -> Iterator[Event] | None:
        buf = self.buf
        pythonic = _PYTHONIC_HEAD.match(buf, i)
        if not pythonic:
            maybe = _PYTHONIC_MAYBE.match(buf, i)
            if not final and maybe and maybe.end() == len(buf):
                return None  # cannot tell yet whether "[name(" follows
            j = i + 1
            while j < len(buf) and buf[j].isspace():
                j += 1
            if j >= len(buf) and not final:
                return None
            if j >= len(buf) or buf[j] != "{" or self.format == "pythonic":
                self.pos = i + 1
                return self._emit_content("[")
        end = _balanced_end(buf, i, quotes="\"'" if pythonic else '"')
        if end is None:
            if not final:
                return None
            self.pos = len(buf)
            if pythonic or _CALL_START.match(buf, i + 1):
                return self._error(f"the output ended inside an unfinished list of calls: {buf[i:i + 200]!r}")
            return self._emit_content(buf[i:])
        raw = buf[i:end]
        self.pos = end
        calls = _calls_from_pythonic(raw) if pythonic else _calls_from_json(raw, raw)
        if calls is not None:
            return self._emit_calls(calls)
        return self._emit_content(raw)

    @staticmethod
    def _json_problem(body: str, where: str) -> str:
        try:
            json.loads(body)
        except json.JSONDecodeError as exc:
            return f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): {body.strip()[:200]!r}"
        return (f"{where} must hold {{\"name\": <tool name>, \"arguments\": {{...}}}} (or a list of those): "
                f"{body.strip()[:200]!r}")


def calls_from_openai(tool_call: dict[str, Any]) -> ToolCall | str:
    """A call the server's own tool parser returned (``message.tool_calls[i]``), or an error."""
    fn = tool_call.get("function") or {}
    raw = json.dumps(tool_call, sort_keys=True, ensure_ascii=False)
    result = _call_from_obj({"name": fn.get("name"), "arguments": fn.get("arguments") or "{}"}, raw)
    return result if result is not None else f"the server returned an unreadable tool call: {raw[:200]}"


def parse_tool_calls(text: str, format: Format = "auto") -> ParsedOutput:
    """Split model text into content, thinking, tool calls and parse errors."""
    parser = StreamingToolCallParser(format)
    parser.feed(text)
    parser.finish()
    return parser.result


def parse_stream(deltas: Iterable[str], format: Format = "auto") -> Iterator[Event]:
    """Events from a stream of text deltas (then the parser's final events)."""
    parser = StreamingToolCallParser(format)
    for delta in deltas:
        yield from parser.feed(delta)
    yield from parser.finish()
