"""Parsing tool calls out of model text: Hermes, Qwen3-Coder, Llama-3/4, Mistral, pythonic, bare JSON.

The formats, as models write them:

- Hermes ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; Qwen3-Coder writes the same tag
  around ``<function=NAME><parameter=P>value</parameter>...</function>``, its values typed by the
  tool's schema (see ``_typed_value``).
- Mistral: ``[TOOL_CALLS][{...}, ...]`` (older models) and ``[TOOL_CALLS]name{...}`` repeated per call
  (tokenizer v11 on: Mistral Small 3.x, Devstral, Magistral), optionally ``name[ARGS]{...}`` or
  ``name[CALL_ID]id[ARGS]{...}`` as Hugging Face tokenizers spell out the special tokens. The name
  form needs the name right after the tag; in ``format="auto"`` a tag followed by neither form is
  prose (a model writing about the token), in ``format="mistral"`` it is an error.
- Llama 3 JSON (optionally after ``<|python_tag|>``), Llama 4's ``<|python_start|>...<|python_end|>``
  around a pythonic list or JSON (the tags never reach the content), pythonic ``[f(a=1)]`` lists on a
  line of their own, bare JSON and ```json fences.

There is one parser, and it is the streaming one: ``parse_tool_calls`` feeds it the whole text
at once. Every decision it takes depends only on text it has already seen, and it waits
("needs more") whenever the next characters could change the decision, so any split of the text
into deltas gives exactly the batch result. Content is released as soon as it cannot be the
start of a call; a call is released as soon as it closes.

A possible call is read by an incremental scanner that follows the JSON grammar (or counts a
pythonic list's brackets), so each character is read once however the text is split: a stray
"{" in prose is prose the moment the next character cannot continue a call, and a call's
strings may hold the format's own tags. Pythonic lists count only on a line of their own, so
prose like "[max(a, b)]" stays text.

Nothing here raises on model output: what cannot be read becomes an entry in ``errors``
(for the model to read and retry) or stays content; nesting deeper than MAX_DEPTH is an error.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_DEPTH = 64  # nesting of a call's arguments; deeper is refused (decoders and validators recurse)

Format = Literal["auto", "hermes", "llama3", "mistral", "pythonic", "json"]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
HERMES_OPEN, HERMES_CLOSE = "<tool_call>", "</tool_call>"
MISTRAL_TAG = "[TOOL_CALLS]"
PYTHON_TAG = "<|python_tag|>"
PYTHON_START, PYTHON_END = "<|python_start|>", "<|python_end|>"  # Llama 4
FENCE = "```"
FUNCTION_OPEN, FUNCTION_CLOSE = "<function=", "</function>"  # Qwen3-Coder, inside <tool_call>
PARAM_OPEN, PARAM_CLOSE = "<parameter=", "</parameter>"
MISTRAL_ARGS, MISTRAL_CALL_ID = "[ARGS]", "[CALL_ID]"
_TAGS = (THINK_OPEN, HERMES_OPEN, MISTRAL_TAG, PYTHON_TAG, PYTHON_START, PYTHON_END, FENCE)
_CALL_START = re.compile(r'\s*\{\s*"(name|function|type)"\s*:')
_OPENER_CHAR = re.compile(r"[<\[`{]")


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


def _too_deep(value: Any) -> bool:
    """Whether containers nest more than MAX_DEPTH levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _too_deep_message(name: str | None) -> str:
    what = f"the arguments of the call to {name!r}" if name else "the tool call"
    return (f"{what} nest more than {MAX_DEPTH} levels deep; flatten them "
            "(or pass deeply nested data as a string)")


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
        except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
            return f"the arguments of the call to {name!r} are a string that is not valid JSON: {exc}"
        except RecursionError:
            return _too_deep_message(name)
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return f"the arguments of the call to {name!r} must be a JSON object, got {type(args).__name__}"
    if _too_deep(args):
        return _too_deep_message(name)
    return ToolCall(name=name, arguments=args, raw=raw)


def _calls_from_json(text: str, raw: str) -> list[ToolCall | str] | None:
    """Calls from JSON text: one object, an array, or objects separated by whitespace/';'.

    None when the text is not JSON, or is JSON that is not call-shaped (so it is content)."""
    try:
        try:
            value = json.loads(text)
        except ValueError:  # JSONDecodeError, or an integer of more than 4300 digits
            value = _json_sequence(text)
            if value is None:
                return None
    except RecursionError:  # the decoder recurses: some thousand levels exhaust the stack
        return [_too_deep_message(None)]
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
        except ValueError:
            return None
        values.append(value)
    return values if len(values) > 1 else None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _json_problem(body: str, where: str) -> str:
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        return f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): {body.strip()[:200]!r}"
    except RecursionError:
        return _too_deep_message(None)
    except ValueError as exc:
        return f"{where} is not valid JSON ({exc}): {body.strip()[:200]!r}"
    return (f"{where} must hold {{\"name\": <tool name>, \"arguments\": {{...}}}} (or a list of those): "
            f"{body.strip()[:200]!r}")


def _calls_from_pythonic(text: str, depth: int = 0) -> list[ToolCall | str] | None:
    """Calls from a pythonic list ``[f(a=1), g()]``; None if the text is not such a list."""
    if depth > MAX_DEPTH + 2:  # the list and the call's parentheses are two levels
        return [_too_deep_message(None)]
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(tree.body, ast.List) or not tree.body.elts:
        return None
    source = text.strip().encode()  # ast's offsets count UTF-8 bytes
    line_starts = [0] + [m.end() for m in re.finditer(b"\n", source)]
    out: list[ToolCall | str] = []
    for node in tree.body.elts:
        if not isinstance(node, ast.Call):
            return None
        name = ast.unparse(node.func)
        if node.args:
            out.append(f"the call to {name!r} passes positional arguments; name every argument (f(a=1))")
            continue
        try:
            args = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg is not None}
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            out.append(f"the arguments of the call to {name!r} must be literals (strings, numbers, lists, dicts)")
            continue
        if _too_deep(args):
            out.append(_too_deep_message(name))
            continue
        # ast.get_source_segment would be quadratic in the length of a line
        first = line_starts[node.lineno - 1] + node.col_offset
        last = line_starts[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
        out.append(ToolCall(name=name, arguments=args, raw=source[first:last].decode(errors="replace")))
    return out


def _is_integer(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "integer": _is_integer,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
_PYTHON_LITERALS = {"True": "true", "False": "false", "None": "null"}  # Qwen3 templates render Python's


def _schema_types(schema: Any) -> set[str]:
    """The JSON types a property's schema admits: its "type", or its anyOf/oneOf members' (one level)."""
    if not isinstance(schema, dict):
        return set()
    members = [schema] + [m for key in ("anyOf", "oneOf") if isinstance(schema.get(key), list)
                          for m in schema[key] if isinstance(m, dict)]
    types: set[str] = set()
    for member in members:
        kind = member.get("type")
        types.update([kind] if isinstance(kind, str) else [k for k in kind if isinstance(k, str)]
                     if isinstance(kind, list) else [])
    return types


def _typed_value(text: str, schema: Any) -> Any:
    """A Qwen3-Coder parameter value typed by its property's schema.

    Strings (and properties of no known type) keep the text verbatim, newlines included; other
    types read the text as JSON (Python's True/False/None too) and keep the text when it does not
    fit, so the schema validation that follows tells the model exactly what is wrong."""
    types = _schema_types(schema)
    if not types or "string" in types:
        return text
    literal = text.strip()
    try:
        value = json.loads(_PYTHON_LITERALS.get(literal, literal))
    except (ValueError, RecursionError):  # not JSON, an integer of 4300+ digits, too deep
        return text
    for kind, fits in _TYPE_CHECKS.items():  # a fixed order: "integer" before "number" (3.0 -> 3)
        if kind in types and fits(value):
            return int(value) if kind == "integer" and isinstance(value, float) else value
    return text


def _call_from_xml(name: str, params: list[tuple[str, str]], schema: Any, raw: str) -> ToolCall | str:
    """A Qwen3-Coder call from its parameters' texts; values typed only when the tool's schema is known.

    Without a schema every value stays a string: guessing ("3" as a number) could break a string
    parameter, and the validation after parsing names any mismatch for the model."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    args: dict[str, Any] = {}
    for pname, text in params:
        if pname in args:
            return f"the call to {name!r} gives the parameter {pname!r} twice; give each parameter once"
        # the template writes each value on lines of its own: one line break each side is layout
        text = text[1:] if text.startswith("\n") else text
        text = text[:-1] if text.endswith("\n") else text
        args[pname] = _typed_value(text, properties.get(pname)) if isinstance(properties, dict) else text
    if _too_deep(args):
        return _too_deep_message(name)
    return ToolCall(name=name, arguments=args, raw=raw)


# --- scanning: where a call ends, read once and incrementally --------------------------------

CALL_KEYS = frozenset({"name", "function", "type", "arguments", "parameters"})
_LONGEST_CALL_KEY = max(map(len, CALL_KEYS))
_WS = re.compile(r"[ \t\r\n]*")
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_WORD_RUN = re.compile(r"[A-Za-z0-9.+\-]*")
# json.loads also takes NaN and Infinity: so does the scanner, or a split could change the result
_JSON_WORD = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null|NaN|-?Infinity")
_CALL_GATE = re.compile(r'(?:\[[ \t\r\n]*)?\{[ \t\r\n]*"(?:name|function|type|arguments|parameters)"')
_DECODER = json.JSONDecoder()

Outcome = Literal["more", "end", "fail", "open"]
# what the JSON scanner reads next
_VALUE, _FIRST_VALUE, _KEY, _FIRST_KEY, _COLON, _AFTER, _STRING, _WORD, _NEXT = range(9)


class _Scan:
    """A scanner whose outcome, once known, never changes ("more" until then)."""

    decided: Outcome | None

    def scan(self, buf: str, final: bool) -> Outcome:
        if self.decided is None:
            outcome = self._scan_to_end(buf, final)
            if outcome == "more":
                return outcome
            self.decided = outcome
        return self.decided

    def _scan_to_end(self, buf: str, final: bool) -> Outcome:
        raise NotImplementedError


class _JsonScan(_Scan):
    """The extent of a JSON value (or of a run of them) in a growing text, each character read once.

    It follows the JSON grammar closely enough to say, as soon as a character arrives, that the
    text can no longer be JSON; strings are skipped in runs, numbers and literals checked as whole
    words. ``gate="call"`` also requires a call's shape from the start: an object whose first key
    is a call key, or a list starting with one; ``gate="bracket"`` requires an object or a list.
    Outcomes: "more" (wait), "end" (``end``/``stop`` are set), "fail" (``failed`` is the index of
    the first character that cannot belong), "open" (the text ended inside the value).
    """

    def __init__(self, start: int, *, run: bool = False, gate: str = "") -> None:
        self.i = start
        self.run = run  # values separated by whitespace or ';' (Llama-3, Hermes bodies)
        self.gate = gate
        self.stack: list[str] = []
        self.state = _VALUE
        self.token = start  # where the current string or word began
        self.is_key = False
        self.key_gate = False  # the next key must be a call key
        self.elem_gate = False  # the next list element must be an object
        self.gate_passed = False
        self.values = 0
        self.end = self.stop = self.failed = -1
        self.next_start = start
        self.decided: Outcome | None = None  # once known, the outcome never changes

    def shift(self, by: int) -> None:
        self.i -= by
        self.token -= by
        self.next_start -= by
        self.end, self.stop, self.failed = (x - by if x >= 0 else x for x in (self.end, self.stop, self.failed))

    def _fail(self, at: int) -> Outcome:
        if self.run and self.values:
            self.stop = self.next_start
            return "end"
        self.failed = at
        return "fail"

    def _value_done(self, i: int) -> Outcome | None:
        if self.stack:
            self.state = _AFTER
            return None
        self.values += 1
        self.end = i
        if self.run:
            self.state = _NEXT
            return None
        self.stop = i
        return "end"

    def _scan_to_end(self, buf: str, final: bool) -> Outcome:
        if self.i == self.next_start and not self.values:
            done = self._whole_value(buf)
            if done is not None:
                return done
        outcome = self._scan(buf)
        if outcome is not None:
            return outcome
        if not final:
            return "more"
        if self.state == _WORD:  # the end of the text ends a word
            if not _JSON_WORD.fullmatch(buf, self.token, self.i):
                return self._fail(self.token)
            outcome = self._value_done(self.i)
            if outcome is not None:
                return outcome
        if self.state == _NEXT:
            self.stop = self.i
            return "end"
        if self.run and self.values:
            self.stop = self.next_start
            return "end"
        return "open"

    def _whole_value(self, buf: str) -> Outcome | None:
        """Fast path, tried once: a value already complete in ``buf`` is read by the C decoder.

        It ends where the scanner would (same grammar), so the result never depends on the split."""
        j = _WS.match(buf, self.i).end()  # type: ignore[union-attr]
        if j >= len(buf) or buf[j] not in "{[" or (self.gate == "call" and not _CALL_GATE.match(buf, j)):
            return None
        try:
            _, end = _DECODER.raw_decode(buf, j)
        except (ValueError, RecursionError):
            return None  # not complete yet, or not JSON: the scanner finds out where
        self.gate_passed = self.gate == "call"
        self.i = end
        return self._value_done(end)

    def _scan(self, buf: str) -> Outcome | None:
        """Read up to the end of ``buf``; an outcome, or None if the text ended first."""
        n = len(buf)
        i = self.i
        stack = self.stack
        try:
            while True:
                state = self.state
                if state == _STRING:
                    i = _STRING_RUN.match(buf, i).end()  # type: ignore[union-attr]
                    if self.is_key and self.key_gate and i - self.token - 1 > _LONGEST_CALL_KEY:
                        return self._fail(self.token)
                    if i >= n:
                        return None
                    ch = buf[i]
                    if ch == "\\":
                        if i + 1 >= n:
                            return None
                        i += 2
                        continue
                    if ch != '"':
                        return self._fail(i)  # a raw control character: JSON strings cannot hold one
                    i += 1
                    if not self.is_key:
                        outcome = self._value_done(i)
                        if outcome is not None:
                            return outcome
                        continue
                    if self.key_gate:
                        if buf[self.token + 1:i - 1] not in CALL_KEYS:
                            return self._fail(self.token)
                        self.key_gate, self.gate_passed = False, True
                    self.state = _COLON
                    continue
                if state == _WORD:
                    i = _WORD_RUN.match(buf, i).end()  # type: ignore[union-attr]
                    if i >= n:
                        return None
                    if not _JSON_WORD.fullmatch(buf, self.token, i):
                        return self._fail(self.token)
                    outcome = self._value_done(i)
                    if outcome is not None:
                        return outcome
                    continue
                i = _WS.match(buf, i).end()  # type: ignore[union-attr]
                if state == _NEXT:
                    while i < n and buf[i] == ";":
                        i = _WS.match(buf, i + 1).end()  # type: ignore[union-attr]
                if i >= n:
                    return None
                ch = buf[i]
                if state == _NEXT:
                    if ch not in "{[":
                        self.stop = i
                        return "end"
                    self.next_start, self.state = i, _VALUE
                    continue
                if state == _FIRST_KEY and ch == "}" and not self.key_gate:
                    stack.pop()
                    i += 1
                    outcome = self._value_done(i)
                    if outcome is not None:
                        return outcome
                    continue
                if state in (_FIRST_KEY, _KEY):
                    if ch != '"':
                        return self._fail(i)
                    self.state, self.is_key, self.token = _STRING, True, i
                    i += 1
                    continue
                if state == _COLON:
                    if ch != ":":
                        return self._fail(i)
                    self.state = _VALUE
                    i += 1
                    continue
                if state == _AFTER:
                    if ch == ",":
                        self.state = _KEY if stack[-1] == "}" else _VALUE
                    elif ch == stack[-1]:
                        stack.pop()
                        outcome = self._value_done(i + 1)
                        if outcome is not None:
                            i += 1
                            return outcome
                    else:
                        return self._fail(i)
                    i += 1
                    continue
                # a value (or, just after '[', the closing bracket)
                if state == _FIRST_VALUE and ch == "]" and not self.elem_gate:
                    stack.pop()
                    i += 1
                    outcome = self._value_done(i)
                    if outcome is not None:
                        return outcome
                    continue
                top = not stack and self.values == 0
                if (top and self.gate and ch not in "{[") or (self.elem_gate and ch != "{"):
                    return self._fail(i)
                if ch == "{" or ch == "[":
                    if top and self.gate == "call":
                        self.key_gate, self.elem_gate = ch == "{", ch == "["
                    elif self.elem_gate:
                        self.key_gate, self.elem_gate = True, False
                    stack.append("}" if ch == "{" else "]")
                    self.state = _FIRST_KEY if ch == "{" else _FIRST_VALUE
                elif ch == '"':
                    self.state, self.is_key, self.token = _STRING, False, i
                elif ch in "-0123456789tfnNI":
                    self.state, self.token = _WORD, i
                else:
                    return self._fail(i)
                i += 1
        finally:
            self.i = i


_PY_PLAIN = re.compile(r"[^\[\](){}'\"\n<>?!;`@$&|^~#%\\]*")  # outside strings: nothing to decide
_PY_STRING_RUN = {"'": re.compile(r"[^'\\\n]*"), '"': re.compile(r'[^"\\\n]*')}
_PY_NOT_LITERAL = frozenset("<>?!;`@$&|^~#%\\")


class _PythonListScan(_Scan):
    """The extent of a pythonic call list ``[f(a=1), g(b="x")]``, each character read once.

    Brackets are counted outside string literals. A character that no list of calls with literal
    arguments holds outside a string, a blank line, or a line break inside a one-line string
    means the text is prose ("fail")."""

    def __init__(self, start: int, *, lenient: bool = False) -> None:
        self.i = start
        self.lenient = lenient  # line breaks inside one-line strings allowed (to skip a broken call)
        self.level = 0
        self.depth = 0
        self.quote = ""
        self.blank_line = False  # only whitespace since the last line break
        self.end = self.failed = -1
        self.decided: Outcome | None = None  # once known, the outcome never changes

    def shift(self, by: int) -> None:
        self.i -= by
        self.end, self.failed = (x - by if x >= 0 else x for x in (self.end, self.failed))

    def _scan_to_end(self, buf: str, final: bool) -> Outcome:
        n = len(buf)
        i = self.i
        try:
            while i < n:
                if self.quote:
                    q = self.quote[0]
                    i = _PY_STRING_RUN[q].match(buf, i).end()  # type: ignore[union-attr]
                    if i >= n:
                        break
                    ch = buf[i]
                    if ch == "\\":
                        if i + 1 >= n:
                            break
                        i += 2
                    elif ch == "\n":
                        if len(self.quote) == 1 and not self.lenient:
                            self.failed = i
                            return "fail"
                        i += 1
                    elif len(self.quote) == 1:
                        self.quote = ""
                        i += 1
                    elif n - i < 3 and not final:
                        break
                    else:
                        if buf.startswith(self.quote, i):
                            self.quote = ""
                            i += 2
                        i += 1
                    continue
                j = _PY_PLAIN.match(buf, i).end()  # type: ignore[union-attr]
                if j > i and not buf[i:j].isspace():
                    self.blank_line = False
                i = j
                if i >= n:
                    break
                ch = buf[i]
                if ch in _PY_NOT_LITERAL:
                    self.failed = i
                    return "fail"
                if ch == "\n":
                    if self.blank_line:
                        self.failed = i
                        return "fail"
                    self.blank_line = True
                    i += 1
                    continue
                self.blank_line = False
                if ch in "'\"":
                    if n - i < 3 and not final:
                        break
                    self.quote = ch * 3 if buf.startswith(ch * 3, i) else ch
                    i += len(self.quote)
                    continue
                i += 1
                if ch in "[({":
                    self.level += 1
                    self.depth = max(self.depth, self.level)
                    continue
                self.level -= 1
                if self.level == 0:
                    self.end = i
                    return "end"
            return "open" if final else "more"
        finally:
            self.i = i

_XML_NAME = re.compile(r"[^<>\n]{0,257}")  # a function or parameter name; longer is refused
_LONGEST_NAME = 256


def _could_be(buf: str, i: int, tags: tuple[str, ...]) -> bool:
    """Whether ``buf[i:]`` (non-empty) is a proper prefix of one of ``tags``: more text decides."""
    tail = buf[i:i + max(map(len, tags))]
    return len(tail) == len(buf) - i and any(t.startswith(tail) and t != tail for t in tags)


class _XmlCallScan(_Scan):
    """The extent of a Qwen3-Coder call ``<function=NAME><parameter=P>value</parameter>...</function>``
    (then ``</tool_call>``), each character read once.

    A value ends only at a ``</parameter>`` that whitespace and then ``<parameter=`` or
    ``</function>`` follow, so a value may hold those tags elsewhere (code that writes them)."""

    def __init__(self, start: int) -> None:
        self.i = start + len(FUNCTION_OPEN)
        self.state = "name"  # name, body, pname, value, after
        self.name = self.pname = ""
        self.params: list[tuple[str, str]] = []
        self.value_start = self.seek = self.look = -1  # the value; where to look for its end next
        self.end = self.failed = -1
        self.problem = ""
        self.decided: Outcome | None = None

    def shift(self, by: int) -> None:
        self.i -= by
        self.value_start, self.seek, self.look, self.end, self.failed = (
            x - by if x >= 0 else x for x in (self.value_start, self.seek, self.look, self.end, self.failed))

    def _fail(self, at: int, problem: str) -> Outcome:
        self.failed, self.problem = at, problem
        return "fail"

    def _where(self) -> str:
        return f"<function={self.name}>" if self.name else "<function=...>"

    def _scan_to_end(self, buf: str, final: bool) -> Outcome:
        n = len(buf)
        waiting: Outcome = "open" if final else "more"
        while True:
            state = self.state
            if state in ("name", "pname"):
                j = _XML_NAME.match(buf, self.i).end()  # type: ignore[union-attr]
                what = "tool" if state == "name" else "parameter"
                if j - self.i > _LONGEST_NAME:
                    return self._fail(self.i, f"a {what} name in a <tool_call> is longer than {_LONGEST_NAME} characters")
                if j == n:
                    return waiting
                text = buf[self.i:j].strip()
                if buf[j] != ">" or not text:
                    tag = "<function=NAME>" if state == "name" else "<parameter=NAME>"
                    return self._fail(j, f"in {self._where()} the {what} name must be written {tag}, "
                                         f"found {buf[self.i - 1:j + 1][:80]!r}")
                if state == "name":
                    self.name, self.state = text, "body"
                else:
                    self.pname, self.state = text, "value"
                    self.value_start = self.seek = j + 1
                self.i = j + 1
            elif state == "body":
                j = self.i = _WS.match(buf, self.i).end()  # type: ignore[union-attr]
                if j == n:
                    return waiting
                if buf.startswith(PARAM_OPEN, j):
                    self.i, self.state = j + len(PARAM_OPEN), "pname"
                elif buf.startswith(FUNCTION_CLOSE, j):
                    self.i, self.state = j + len(FUNCTION_CLOSE), "after"
                elif not final and _could_be(buf, j, (PARAM_OPEN, FUNCTION_CLOSE)):
                    return "more"
                else:
                    return self._fail(j, f"in {self._where()} expected <parameter=NAME> or </function>, "
                                         f"found {buf[j]!r}")
            elif state == "value":
                if self.look < 0:
                    k = buf.find(PARAM_CLOSE, self.seek)
                    if k == -1:
                        if final:
                            return self._fail(n, f"in {self._where()} the parameter {self.pname!r} has no "
                                                 "</parameter>")
                        self.seek = max(self.seek, n - len(PARAM_CLOSE) + 1)
                        return "more"
                    self.seek, self.look = k, k + len(PARAM_CLOSE)
                j = self.look = _WS.match(buf, self.look).end()  # type: ignore[union-attr]
                if j == n and not final:
                    return "more"
                if j == n or buf.startswith((PARAM_OPEN, FUNCTION_CLOSE), j):
                    self.params.append((self.pname, buf[self.value_start:self.seek]))
                    self.i, self.state, self.look = j, "body", -1
                elif not final and _could_be(buf, j, (PARAM_OPEN, FUNCTION_CLOSE)):
                    return "more"
                else:  # "</parameter>" inside the value: it goes on
                    self.seek, self.look = self.seek + 1, -1
            else:  # after </function>
                j = self.i = _WS.match(buf, self.i).end()  # type: ignore[union-attr]
                if j == n:
                    if not final:
                        return "more"
                    self.end = n  # no </tool_call>: the end of the text closes it (as for JSON bodies)
                    return "end"
                if buf.startswith(HERMES_CLOSE, j):
                    self.end = j + len(HERMES_CLOSE)
                    return "end"
                if not final and _could_be(buf, j, (HERMES_CLOSE,)):
                    return "more"
                return self._fail(j, f"after </function> a <tool_call> must close with </tool_call>, "
                                     f"found {buf[j]!r} (one call per <tool_call>)")


_MISTRAL_NAME_CHAR = re.compile(r"[\w.\-]")
# name, optional "[CALL_ID]id", optional "[ARGS]": bounded, so matching again as text streams is cheap
_MISTRAL_HEAD = re.compile(r"([\w.\-]{1,257})(?:\[CALL_ID\][A-Za-z0-9]{0,64})?(?:\[ARGS\])?[ \t]{0,8}")


_PYTHONIC_HEAD = re.compile(r"\[\s{0,32}[A-Za-z_][\w.]{0,64}\s{0,8}\(")
_PYTHONIC_MAYBE = re.compile(r"\[\s{0,32}(?:[A-Za-z_][\w.]{0,64}\s{0,8})?")
_TAG_SEARCH = re.compile("|".join(re.escape(t) for t in _TAGS))
_BLANKS = re.compile(r"[ \t\r]*")
_LONGEST_TAG = max(len(t) for t in _TAGS)


def _partial_tag_at(text: str, i: int) -> bool:
    """True if text[i:] is a proper prefix of some tag (so more text could complete it)."""
    if len(text) - i >= _LONGEST_TAG:
        return False  # only the last few characters can be an unfinished tag
    tail = text[i:]
    return any(tag.startswith(tail) and tag != tail for tag in _TAGS)


class StreamingToolCallParser:
    """Feed model text in any pieces; get content, thinking, calls and errors as they complete.

    A possible call is read by one incremental scanner (``self._scan``) that lives as long as
    the segment at ``self.pos`` is undecided, so every character is read once however the text
    is split, and text is released the moment it cannot be a call."""

    def __init__(self, format: Format = "auto", schemas: Mapping[str, Any] | None = None) -> None:
        self.format = format
        self.schemas = dict(schemas or {})  # tool name -> parameters schema, to type Qwen3-Coder values
        self.python_block = False  # inside Llama 4's <|python_start|> ... <|python_end|>
        self.buf = ""
        self.pos = 0
        self.in_think = False
        self.after_call = False
        self.line_start = True  # the content so far ends at the start of a line
        self.said = False  # some non-blank content has been released
        self.result = ParsedOutput()
        self._content: list[str] = []
        self._thinking: list[str] = []
        # state of the undecided segment at self.pos, and the method that goes on reading it
        self._resume: Callable[[int, bool], Iterator[Event] | None] | None = None
        self._scan: _JsonScan | _PythonListScan | _XmlCallScan | None = None
        self._extent: _PythonListScan | None = None  # the reach of a broken call, to skip it whole
        self._problem = ""
        self._close_from = -1
        self._ws_from = -1  # whitespace already skipped after an opening tag
        self._seek: dict[str, int] = {}

    # public API

    def feed(self, text: str) -> list[Event]:
        if self.pos > 1024:  # drop what is consumed, so a long stream stays linear
            by = self.pos
            self.buf, self.pos = self.buf[by:], 0
            for scan in (self._scan, self._extent):
                if scan is not None:
                    scan.shift(by)
            self._close_from = self._close_from - by if self._close_from >= 0 else -1
            self._ws_from = self._ws_from - by if self._ws_from >= 0 else -1
            self._seek = {k: v - by for k, v in self._seek.items()}
        # Appending to a string nothing else holds lets CPython grow it in place: a long call
        # held back while it streams then costs linear time, not a copy per delta.
        buf, self.buf = self.buf, ""
        buf += text
        self.buf = buf
        return list(self._drain(final=False))

    def finish(self) -> list[Event]:
        events = list(self._drain(final=True))
        self.result.content = "".join(self._content).strip()
        self.result.thinking = "".join(self._thinking).strip()
        return events

    # internals

    def _consume(self, upto: int) -> None:
        """Move past the current segment; its scanning state goes with it."""
        self.pos = upto
        self._scan = self._extent = None
        self._resume = None
        self._problem = ""
        self._close_from = -1
        self._ws_from = -1
        self._seek = {}

    def _find(self, sub: str, start: int) -> int:
        """``buf.find(sub, start)`` that never searches the same text twice while streaming."""
        at = self.buf.find(sub, max(start, self._seek.get(sub, start)))
        if at == -1:
            self._seek[sub] = max(start, len(self.buf) - len(sub) + 1)
        return at

    def _emit_content(self, text: str) -> Iterator[Event]:
        if self.after_call:
            stripped = text.lstrip()
            if stripped.startswith(";"):  # Llama-3 separates calls with ';'
                text = text[: len(text) - len(stripped)] + stripped[1:]
            if text.strip():
                self.after_call = False
        if text:
            tail = text.rstrip(" \t")
            if tail:
                self.line_start = tail.endswith("\n")
                self.said = self.said or not tail.isspace()
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
        self.line_start = True

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
                self.line_start = True
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
            if buf.startswith(_TAGS, i):
                return i, False
            if not final and _partial_tag_at(buf, i):
                return i, True
            if ch == "{" and (fmt in ("auto", "llama3", "json") or self.python_block):
                return i, False
            if ch == "[" and (fmt in ("auto", "json")
                              or ((fmt == "pythonic" or self.python_block) and self._at_line_start(i))):
                return i, False
        return len(buf), False

    def _at_line_start(self, i: int) -> bool:
        """Whether only spaces stand between ``buf[i]`` and the start of its line."""
        j = i
        while j > self.pos and self.buf[j - 1] in " \t":
            j -= 1
        return self.buf[j - 1] == "\n" if j > self.pos else self.line_start

    def _step(self, final: bool) -> Iterator[Event] | None:
        """Consume one segment starting at self.pos, or None when more text is needed."""
        if self._resume is not None:  # an undecided segment: go on reading it
            return self._resume(self.pos, final)
        buf, pos = self.buf, self.pos
        i, partial = self._next_opener(final)
        if i > pos:
            self._consume(i)
            return self._emit_content(buf[pos:i])
        if partial:
            return None
        if buf.startswith(THINK_OPEN, i):
            self.in_think = True
            self._consume(i + len(THINK_OPEN))
            return iter(())
        for tag in (PYTHON_TAG, PYTHON_START, PYTHON_END):
            if buf.startswith(tag, i):
                # Markers, never content; calls after them are read as bare JSON or a pythonic list
                # (between Llama 4's start and end, whatever the format).
                self._consume(i + len(tag))
                self.line_start = True
                self.python_block = tag == PYTHON_START or (self.python_block and tag == PYTHON_TAG)
                return iter(())
        if buf.startswith(HERMES_OPEN, i):
            self._resume = self._tagged
        elif buf.startswith(MISTRAL_TAG, i):
            self._resume = self._after_tag
        elif buf.startswith(FENCE, i):
            self._resume = self._fence
        else:
            self._resume = self._bracket
        return self._resume(i, final)

    def _before_tag(self, i: int, failed: int) -> int:
        """Where prose that began at ``i`` and stopped being a call at ``failed`` ends: at the first
        tag in between if there is one (inside what looked like a string: a stray quote hides no call)."""
        tag = _TAG_SEARCH.search(self.buf, i + 1, failed)
        return max(i + 1, tag.start() if tag else failed)

    def _json_scan(self, start: int, **options: Any) -> _JsonScan:
        if not isinstance(self._scan, _JsonScan):
            self._scan = _JsonScan(start, **options)
        return self._scan

    def _broken(self, start: int, problem: str, final: bool) -> Iterator[Event] | None:
        """A call that is not valid JSON: report it, and skip it to its closing bracket when it has
        one (else to the first character no call holds), so its pieces do not become content."""
        self._problem = problem
        self._extent = _PythonListScan(start, lenient=True)
        self._resume = self._skip_broken
        return self._skip_broken(self.pos, final)

    def _skip_broken(self, i: int, final: bool) -> Iterator[Event] | None:
        assert self._extent is not None
        outcome = self._extent.scan(self.buf, final)
        if outcome == "more":
            return None
        upto = {"end": self._extent.end, "fail": self._extent.failed}.get(outcome, len(self.buf))
        upto = self._before_tag(self.pos, upto)  # a later call is not part of the broken one
        problem = self._problem
        self._consume(max(upto, self.pos + 1))
        return self._error(problem)

    def _tagged(self, i: int, final: bool) -> Iterator[Event] | None:
        buf = self.buf
        start = i + len(HERMES_OPEN)
        if self._scan is None and self._close_from < 0:  # JSON, or Qwen3-Coder's <function=...>?
            j = self._ws_from = _WS.match(buf, max(start, self._ws_from)).end()  # type: ignore[union-attr]
            if buf.startswith(FUNCTION_OPEN, j):
                self._scan = _XmlCallScan(j)
            elif not final and (j == len(buf) or _could_be(buf, j, (FUNCTION_OPEN,))):
                return None
        if isinstance(self._scan, _XmlCallScan):
            return self._xml_call(i, self._scan, final)
        if self._close_from < 0:
            # The body's JSON decides where it ends: a "</tool_call>" inside a string is text.
            scan = self._json_scan(start, run=True)
            outcome = scan.scan(buf, final)
            if outcome == "more":
                return None
            if outcome == "end":
                stop = scan.stop
                if buf.startswith(HERMES_CLOSE, stop) or stop == len(buf):
                    end = stop + len(HERMES_CLOSE) if stop < len(buf) else stop
                    return self._tagged_body(buf[i:end], buf[start:stop])
                if not final and HERMES_CLOSE.startswith(buf[stop:stop + len(HERMES_CLOSE)]) \
                        and len(buf) - stop < len(HERMES_CLOSE):
                    return None  # "</tool_c" so far
                self._close_from = stop
            else:
                self._close_from = start
        # Not JSON, or not only JSON: the body runs to the first closing tag.
        close = self._find(HERMES_CLOSE, self._close_from)
        if close == -1 and not final:
            return None
        if close == -1:
            body = buf[start:]
            self._consume(len(buf))
            return self._error(f"the output ended inside an unfinished <tool_call>: {body.strip()[:200]!r}")
        return self._tagged_body(buf[i:close + len(HERMES_CLOSE)], buf[start:close])

    def _xml_call(self, i: int, scan: _XmlCallScan, final: bool) -> Iterator[Event] | None:
        buf = self.buf
        outcome = scan.scan(buf, final)
        if outcome == "more":
            return None
        if outcome == "end":
            raw = buf[i:scan.end]
            self._consume(scan.end)
            return self._emit_calls([_call_from_xml(scan.name, scan.params, self.schemas.get(scan.name), raw)])
        if outcome == "open":
            self._consume(len(buf))
            return self._error(f"the output ended inside an unfinished <tool_call>: "
                               f"{buf[i + len(HERMES_OPEN):].strip()[:200]!r}")
        # broken: report it and skip it to its closing tag, so its pieces do not become content
        close = self._find(HERMES_CLOSE, scan.failed)
        if close == -1 and not final:
            return None
        problem = scan.problem
        self._consume(len(buf) if close == -1 else close + len(HERMES_CLOSE))
        return self._error(problem)

    def _tagged_body(self, raw: str, body: str) -> Iterator[Event]:
        self._consume(self.pos + len(raw))
        calls = _calls_from_json(body.strip(), raw)
        if calls is not None:
            return self._emit_calls(calls)
        return self._error(_json_problem(body, "<tool_call>"))

    def _after_tag(self, i: int, final: bool) -> Iterator[Event] | None:
        buf = self.buf
        j = i + len(MISTRAL_TAG)
        if j == len(buf) and not final:
            return None
        if j < len(buf) and _MISTRAL_NAME_CHAR.match(buf, j):
            return self._mistral_named(i, j, final)
        scan = self._json_scan(j, gate="bracket")
        outcome = scan.scan(buf, final)
        if outcome == "more":
            return None
        if outcome == "end":
            raw = buf[i:scan.end]
            self._consume(scan.end)
            calls = _calls_from_json(buf[j:scan.end], raw)
            if calls is None:
                return self._error(_json_problem(buf[j:scan.end], "[TOOL_CALLS]"))
            return self._emit_calls(calls)
        if outcome == "open":
            self._consume(len(buf))
            if not scan.stack:
                return self._error("the output ended right after [TOOL_CALLS] with no calls")
            return self._error(f"the output ended inside an unfinished [TOOL_CALLS] list: {buf[j:j + 200].strip()!r}")
        first = _WS.match(buf, j).end()  # type: ignore[union-attr]
        if scan.failed == first:
            if self.format == "auto":  # neither form: prose that mentions the token
                self._consume(j)
                return self._emit_content(buf[i:j])
            self._consume(first)
            return self._error(f"[TOOL_CALLS] must be followed by a tool name and its JSON arguments "
                               f"([TOOL_CALLS]name{{...}}) or a JSON array of calls, not {buf[first]!r}")
        return self._broken(first, _json_problem(buf[first:scan.failed + 1], "[TOOL_CALLS]"), final)

    def _mistral_named(self, i: int, j: int, final: bool) -> Iterator[Event] | None:
        """``[TOOL_CALLS]name{...}`` (or ``name[ARGS]{...}``, ``name[CALL_ID]id[ARGS]{...}``): one call."""
        buf = self.buf
        head = _MISTRAL_HEAD.match(buf, j)
        assert head is not None  # buf[j] is a name character
        h, name = head.end(), head.group(1)
        if not final and (h == len(buf) or _could_be(buf, h, (MISTRAL_ARGS, MISTRAL_CALL_ID))):
            return None
        if len(name) > _LONGEST_NAME:
            self._consume(j + len(name))
            return self._error(f"the tool name after [TOOL_CALLS] is longer than {_LONGEST_NAME} characters")
        if h == len(buf) or buf[h] != "{":
            self._consume(h)
            found = f"not {buf[h]!r}" if h < len(buf) else "but the output ended"
            return self._error(f"[TOOL_CALLS]{name} must be followed by its arguments as a JSON object "
                               f"([TOOL_CALLS]{name}{{...}}), {found}")
        scan = self._json_scan(h, gate="bracket")
        outcome = scan.scan(buf, final)
        if outcome == "more":
            return None
        if outcome == "end":
            raw = buf[i:scan.end]
            self._consume(scan.end)
            call = _call_from_obj({"name": name, "arguments": buf[h:scan.end]}, raw)
            return self._emit_calls([call if call is not None else f"the call to {name!r} is unreadable"])
        if outcome == "open":
            self._consume(len(buf))
            return self._error(f"the output ended inside the arguments of the call to {name!r}: "
                               f"{buf[h:h + 200]!r}")
        return self._broken(h, _json_problem(buf[h:scan.failed + 1], f"the arguments of [TOOL_CALLS]{name}"), final)

    def _fence(self, i: int, final: bool) -> Iterator[Event] | None:
        buf = self.buf
        newline = self._find("\n", i + len(FENCE))
        if newline == -1:
            if not final:
                return None
            self._consume(len(buf))
            return self._emit_content(buf[i:])
        lang = buf[i + len(FENCE):newline].strip().lower()
        json_ok = self.format in ("auto", "json", "llama3") and lang in ("", "json", "tool_call", "tool_code")
        python_ok = self.format in ("auto", "pythonic") and lang in ("", "python", "py", "tool_code")
        close = -1
        if self._close_from < 0:
            self._close_from = newline + 1
            if json_ok:  # JSON decides where it ends: a "```" inside a string is text
                scan = self._json_scan(newline + 1, run=True)
                outcome = scan.scan(buf, final)
                if outcome == "more" or (outcome == "end" and not final and len(buf) - scan.stop < len(FENCE)
                                         and FENCE.startswith(buf[scan.stop:])):  # "``" so far
                    self._close_from = -1
                    return None
                if outcome == "end" and (buf.startswith(FENCE, scan.stop) or scan.stop == len(buf)):
                    close = scan.stop if scan.stop < len(buf) else -1
                    self._close_from = len(buf) + 1  # found: no search
        if self._close_from <= len(buf):
            close = self._find(FENCE, self._close_from)
            if close == -1 and not final:
                return None
        body = buf[newline + 1:] if close == -1 else buf[newline + 1:close]
        end = len(buf) if close == -1 else close + len(FENCE)
        raw = buf[i:end]
        self._consume(end)
        if json_ok or python_ok:
            calls = _calls_from_json(body.strip(), raw) if json_ok else None
            if calls is None and python_ok and body.strip().startswith("["):
                calls = _calls_from_pythonic(body)
            if calls is not None:
                return self._emit_calls(calls)
            if close == -1 and _CALL_START.match(body):
                return self._error(f"the output ended inside an unfinished tool call: {body.strip()[:200]!r}")
            if lang == "json" and _CALL_START.match(body) and not _is_json(body):
                return self._error(_json_problem(body, "the ```json block"))
        return self._emit_content(raw)

    def _bracket(self, i: int, final: bool) -> Iterator[Event] | None:
        """A '{' or '[' in the text: a bare JSON call, a pythonic call list, or prose."""
        buf = self.buf
        if self._scan is None:
            if buf[i] == "[" and (self.format in ("auto", "pythonic") or self.python_block) and self.line_start:
                if not _PYTHONIC_HEAD.match(buf, i):
                    maybe = _PYTHONIC_MAYBE.match(buf, i)
                    if not final and maybe and maybe.end() == len(buf):
                        return None  # cannot tell yet whether "[name(" follows
                else:
                    self._scan = _PythonListScan(i)
            if self._scan is None:
                if self.format == "pythonic" and not self.python_block:
                    self._consume(i + 1)
                    return self._emit_content("[")
                self._scan = _JsonScan(i, gate="call")
        if isinstance(self._scan, _PythonListScan):
            return self._pythonic(i, self._scan, final)
        scan = self._scan
        outcome = scan.scan(buf, final)
        if outcome == "more":
            return None
        if outcome == "end":
            raw = buf[i:scan.end]
            self._consume(scan.end)
            calls = _calls_from_json(raw, raw)
            if calls is not None:
                return self._emit_calls(calls)
            if scan.gate_passed and not _is_json(raw):  # e.g. a bad escape: the scanner is not that strict
                return self._error(_json_problem(raw, "the tool call"))
            return self._emit_content(raw)
        if outcome == "open":  # the text ended inside it: up to the end, or to a tag that follows
            upto = self._before_tag(i, len(buf))
            self._consume(upto)
            if scan.gate_passed:
                return self._error(f"the output ended inside an unfinished tool call: {buf[i:min(upto, i + 200)]!r}")
            return self._emit_content(buf[i:upto])
        if scan.gate_passed:  # it began as a call: tell the model what is wrong with it
            return self._broken(i, _json_problem(buf[i:scan.failed + 1], "the tool call"), final)
        upto = self._before_tag(i, scan.failed)
        self._consume(upto)
        return self._emit_content(buf[i:upto])

    def _pythonic(self, i: int, scan: _PythonListScan, final: bool) -> Iterator[Event] | None:
        """A pythonic call list counts only on a line of its own; prose like "[max(a, b)]" stays text."""
        buf = self.buf
        outcome = scan.scan(buf, final)
        if outcome == "more":
            return None
        whole = self.python_block or not (self.said or self.result.calls or self.result.errors)
        if outcome == "open":  # the text ended inside it: up to the end, or to a tag that follows
            upto = self._before_tag(i, len(buf))
            self._consume(upto)
            if whole:
                return self._error(f"the output ended inside an unfinished list of calls: {buf[i:min(upto, i + 200)]!r}")
            return self._emit_content(buf[i:upto])
        if outcome == "fail":
            upto = self._before_tag(i, scan.failed)
            self._consume(upto)
            return self._emit_content(buf[i:upto])
        after = _BLANKS.match(buf, scan.end).end()  # type: ignore[union-attr]
        if not final and (after == len(buf) or _could_be(buf, after, (PYTHON_END,))):
            return None
        raw = buf[i:scan.end]
        if after == len(buf) or buf[after] == "\n" or buf.startswith(PYTHON_END, after):
            calls = _calls_from_pythonic(raw, scan.depth)
            if calls is not None and (all(isinstance(c, ToolCall) for c in calls) or (whole and (after == len(buf) or self.python_block))):
                self._consume(scan.end)
                return self._emit_calls(calls)
        self._consume(scan.end)
        return self._emit_content(raw)


def calls_from_openai(tool_call: dict[str, Any]) -> ToolCall | str:
    """A call the server's own tool parser returned (``message.tool_calls[i]``), or an error."""
    fn = tool_call.get("function") or {}
    raw = json.dumps(tool_call, sort_keys=True, ensure_ascii=False)
    result = _call_from_obj({"name": fn.get("name"), "arguments": fn.get("arguments") or "{}"}, raw)
    return result if result is not None else f"the server returned an unreadable tool call: {raw[:200]}"


def parse_tool_calls(text: str, format: Format = "auto", schemas: Mapping[str, Any] | None = None) -> ParsedOutput:
    """Split model text into content, thinking, tool calls and parse errors.

    ``schemas`` (tool name -> parameters schema) types Qwen3-Coder's parameter values."""
    parser = StreamingToolCallParser(format, schemas)
    parser.feed(text)
    parser.finish()
    return parser.result


def parse_stream(deltas: Iterable[str], format: Format = "auto",
                 schemas: Mapping[str, Any] | None = None) -> Iterator[Event]:
    """Events from a stream of text deltas (then the parser's final events)."""
    parser = StreamingToolCallParser(format, schemas)
    for delta in deltas:
        yield from parser.feed(delta)
    yield from parser.finish()
