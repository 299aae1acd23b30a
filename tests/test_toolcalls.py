"""The tool-call parser: tables of realistic model outputs per format, streaming at every
split position, and a property test that it never raises and never depends on the split."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.toolcalls import (
    CallParsed,
    ContentDelta,
    StreamingToolCallParser,
    ThinkingDelta,
    calls_from_openai,
    parse_stream,
    parse_tool_calls,
)

# (model output, format, expected content, expected [(name, arguments)], number of errors)
CASES = [
    # Hermes / ChatML (Qwen2.5 with its own template, Hermes-2-Pro, ...)
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', "hermes",
     "", [("get_weather", {"city": "Paris"})], 0),
    ('Let me check both.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
     '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich"}}\n</tool_call>', "auto",
     "Let me check both.", [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Zürich"})], 0),
    ('<tool_call>{"name": "write_file", "arguments": {"path": "a.json", "content": "{\\"k\\": [1, {\\"x\\": \\"}\\"}]}"}}'
     '</tool_call> done', "auto", "done",
     [("write_file", {"path": "a.json", "content": '{"k": [1, {"x": "}"}]}'})], 0),
    ('<tool_call>{"name": "search", "arguments": {"query": "日本語 😀", "filters": {"tags": ["a", "b"], "n": 2}}}'
     '</tool_call>', "hermes", "", [("search", {"query": "日本語 😀", "filters": {"tags": ["a", "b"], "n": 2}})], 0),
    ('<tool_call>{"name": "a", "arguments": {"x": 1}</tool_call>', "hermes", "", [], 1),  # broken JSON
    ('<tool_call>{"name": "a", "arguments": {"x": 1}}', "hermes", "", [("a", {"x": 1})], 0),  # no closing tag
    ('<tool_call>{"name": "a", "argu', "hermes", "", [], 1),  # truncated
    # Llama-3.x JSON
    ('{"name": "get_weather", "parameters": {"city": "Paris"}}', "llama3", "", [("get_weather", {"city": "Paris"})], 0),
    ('<|python_tag|>{"name": "a", "parameters": {"x": 1}}; {"name": "b", "parameters": {"y": "z"}}', "llama3",
     "", [("a", {"x": 1}), ("b", {"y": "z"})], 0),
    ('{"type": "function", "function": {"name": "now", "arguments": "{}"}}', "auto", "", [("now", {})], 0),
    # Mistral
    ('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "now", "arguments": {}}]',
     "mistral", "", [("get_weather", {"city": "Paris"}), ("now", {})], 0),
    ('[TOOL_CALLS] [{"name": "a", "arguments": {"s": "x]y"}}]', "auto", "", [("a", {"s": "x]y"})], 0),
    ("[TOOL_CALLS] not json", "mistral", "not json", [], 1),
    # pythonic (Llama-3.2 / Llama-4 style)
    ('[get_weather(city="Paris", days=3), now()]', "pythonic", "",
     [("get_weather", {"city": "Paris", "days": 3}), ("now", {})], 0),
    ("[search(query='it\\'s ] here', tags=['a', 'b'], opts={'n': 1}, exact=True)]", "auto", "",
     [("search", {"query": "it's ] here", "tags": ["a", "b"], "opts": {"n": 1}, "exact": True})], 0),
    ("[f(1, 2)]", "pythonic", "", [], 1),
    # bare JSON and ```json fences (Qwen2.5-Coder writes its calls like this)
    ('```json\n{"name": "read_file", "arguments": {"path": "notes.md"}}\n```', "auto", "",
     [("read_file", {"path": "notes.md"})], 0),
    ('I will list it.\n```json\n[{"name": "list_dir", "arguments": {"path": "."}}, '
     '{"name": "now", "arguments": {}}]\n```\nThen read.', "auto", "I will list it.\n\nThen read.",
     [("list_dir", {"path": "."}), ("now", {})], 0),
    ('{"name": "calc", "arguments": "{\\"expr\\": \\"2+2\\"}"}', "json", "", [("calc", {"expr": "2+2"})], 0),
    ('{"name": "calc", "arguments": "{not json"}', "auto", "", [], 1),
    ('```json\n{"name": "calc", "arguments": {"expr": "2+2"}\n```', "auto", "", [], 1),
    ('{"name": "calc", "arguments": {"expr": "2+', "auto", "", [], 1),
    # content that merely looks like JSON or brackets stays content
    ('The config is {"debug": true} and the list [1, 2].', "auto", 'The config is {"debug": true} and the list [1, 2].', [], 0),
    ("See [the docs](http://x) and `code` < 3 {braces", "auto", "See [the docs](http://x) and `code` < 3 {braces", [], 0),
    ("```python\ndef f(d={}):\n    return [d]\n```", "auto", "```python\ndef f(d={}):\n    return [d]\n```", [], 0),
    ('{"name": "Alice", "age": 3}', "auto", '{"name": "Alice", "age": 3}', [], 0),
    # reasoning is separated, never parsed as calls
    ('<think>Maybe {"name": "a", "arguments": {}}?</think>No call needed: 4.', "auto", "No call needed: 4.", [], 0),
]

# A stray brace or bracket in prose is prose: it hides no later call (issue 11, item 10).
STRAY_OPENERS = [
    ('a { b <tool_call>{"name": "f", "arguments": {}}</tool_call>', "auto", "a { b", [("f", {})], 0),
    ('a { b [TOOL_CALLS][{"name": "f", "arguments": {}}]', "auto", "a { b", [("f", {})], 0),
    ('a { b <|python_tag|>{"name": "f", "parameters": {}}', "llama3", "a { b", [("f", {})], 0),
    ('a [ b <tool_call>{"name": "f", "arguments": {}}</tool_call>', "auto", "a [ b", [("f", {})], 0),
    ('set {1, 2} then {"name": "f", "arguments": {}}', "auto", "set {1, 2} then", [("f", {})], 0),
    ('{"a": "x <tool_call>{"name": "f", "arguments": {}}</tool_call>', "auto", '{"a": "x', [("f", {})], 0),
    ('{{template}} <tool_call>{"name": "f", "arguments": {}}</tool_call>', "hermes", "{{template}}", [("f", {})], 0),
    # a call gone wrong is reported (not shown as text), and still hides no later call
    ('{"name": "Bob", the user <tool_call>{"name": "f", "arguments": {}}</tool_call>', "auto", "", [("f", {})], 1),
    ('{"name": "f", "arguments": {\'x\': 1}} then <tool_call>{"name": "g", "arguments": {}}</tool_call>', "auto",
     "then", [("g", {})], 1),
]

# Pythonic calls count only on a line of their own; prose with brackets stays prose (item 12).
PYTHONIC_IN_PROSE = [
    ("The answer is [max(a, b)] as shown.", "auto", "The answer is [max(a, b)] as shown.", [], 0),
    ("The answer is [max(a, b)] as shown.", "pythonic", "The answer is [max(a, b)] as shown.", [], 0),
    ("Use [f(x=1)] like this.", "auto", "Use [f(x=1)] like this.", [], 0),
    ("See:\n[max(a, b)]\nabove.", "auto", "See:\n[max(a, b)]\nabove.", [], 0),
    ("[TODO(alice): fix this] later", "auto", "[TODO(alice): fix this] later", [], 0),
    ("I'll check.\n[get_weather(city='Paris')]", "auto", "I'll check.", [("get_weather", {"city": "Paris"})], 0),
    ("[\n  get_weather(city='Paris'),\n  now()\n]\n", "pythonic", "", [("get_weather", {"city": "Paris"}), ("now", {})], 0),
    ("[max(a, b)]", "auto", "", [], 1),  # the whole reply: a call list gone wrong, so say why
    ("<|python_tag|>[get_weather(city='Paris')]", "auto", "", [("get_weather", {"city": "Paris"})], 0),
]

# A call's string argument may hold the format's own tags (item 14).
TAGS_IN_STRINGS = [
    ('<tool_call>{"name": "w", "arguments": {"s": "use <tool_call> and </tool_call>"}}</tool_call> ok', "hermes", "ok",
     [("w", {"s": "use <tool_call> and </tool_call>"})], 0),
    ('<tool_call>\n{"name": "w", "arguments": {"s": "</tool_call>"}}\n</tool_call>', "auto", "",
     [("w", {"s": "</tool_call>"})], 0),
    ('[TOOL_CALLS][{"name": "w", "arguments": {"s": "[TOOL_CALLS] ] }"}}]', "mistral", "",
     [("w", {"s": "[TOOL_CALLS] ] }"})], 0),
    ('{"name": "w", "arguments": {"s": "<tool_call><think>[TOOL_CALLS]"}}', "auto", "",
     [("w", {"s": "<tool_call><think>[TOOL_CALLS]"})], 0),
    ('```json\n{"name": "w", "arguments": {"s": "```python\\nx\\n```"}}\n```', "auto", "",
     [("w", {"s": "```python\nx\n```"})], 0),
    ('[w(s="</tool_call> ] <think>")]', "pythonic", "", [("w", {"s": "</tool_call> ] <think>"})], 0),
    ("[w(s='''two\nlines''')]", "pythonic", "", [("w", {"s": "two\nlines"})], 0),
]

# Nesting past MAX_DEPTH is an error for the model, never a RecursionError (item 13).
DEEP = 990
TOO_DEEP = [
    ('<tool_call>{"name": "f", "arguments": {"a": ' + "[" * DEEP + "]" * DEEP + "}}</tool_call>", "hermes"),
    ('{"name": "f", "arguments": {"a": ' + "[" * DEEP + "]" * DEEP + "}}", "auto"),
    ('[TOOL_CALLS][{"name": "f", "arguments": {"a": ' + "[" * DEEP + "]" * DEEP + "}}]", "mistral"),
    ('{"name": "f", "arguments": "{\\"a\\": ' + "[" * DEEP + "]" * DEEP + '}"}', "json"),
    ('{"name": "f", "arguments": {"a": ' + "[" * 70 + "]" * 70 + "}}", "auto"),
    ("[f(a=" + "[" * 150 + "]" * 150 + ")]", "pythonic"),
]
# Mistral since tokenizer v11 (Mistral Small 3.x, Devstral, Magistral): one tag per call, the name, then
# the arguments; Hugging Face tokenizers spell out [ARGS] (and [CALL_ID]) in the text.
MISTRAL_NAMED = [
    ('[TOOL_CALLS]get_weather{"city": "Paris"}', "mistral", "", [("get_weather", {"city": "Paris"})], 0),
    ('Checking both.[TOOL_CALLS]get_weather{"city": "Paris"}[TOOL_CALLS]now{}', "auto", "Checking both.",
     [("get_weather", {"city": "Paris"}), ("now", {})], 0),
    ('[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]now[ARGS]{}', "auto", "",
     [("get_weather", {"city": "Paris"}), ("now", {})], 0),
    ('[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris"}', "mistral", "",
     [("get_weather", {"city": "Paris"})], 0),
    ('[TOOL_CALLS]git.status{"path": "."} done', "auto", "done", [("git.status", {"path": "."})], 0),
    ('[TOOL_CALLS]w{"s": "[TOOL_CALLS]x{} ] }"}', "mistral", "", [("w", {"s": "[TOOL_CALLS]x{} ] }"})], 0),
    ('[TOOL_CALLS]get_weather{"city": "Paris", }', "mistral", "", [], 1),  # broken JSON
    ('[TOOL_CALLS]get_weather{"city": "Par', "auto", "", [], 1),  # cut off
    ('[TOOL_CALLS]get_weather', "auto", "", [], 1),  # a name and nothing more
    ('[TOOL_CALLS]get_weather[ARGS]["Paris"]', "mistral", '["Paris"]', [], 1),  # arguments must be an object
]

# Llama 4: <|python_start|> ... <|python_end|> around a pythonic list (or JSON); the tags are never content.
LLAMA4 = [
    ('<|python_start|>[get_weather(city="Paris"), now()]<|python_end|>', "pythonic", "",
     [("get_weather", {"city": "Paris"}), ("now", {})], 0),
    ('Let me look.\n<|python_start|>[get_weather(city="Paris")]<|python_end|>', "auto", "Let me look.",
     [("get_weather", {"city": "Paris"})], 0),
    ('<|python_start|>[get_weather(city="Paris")]<|python_end|>', "llama3", "", [("get_weather", {"city": "Paris"})], 0),
    ('<|python_start|>{"name": "f", "parameters": {"a": 1}}<|python_end|>', "pythonic", "", [("f", {"a": 1})], 0),
    ('<|python_start|>[max(a, b)]<|python_end|> then', "auto", "then", [], 1),  # a list of calls gone wrong
    ('<|python_start|>[get_weather(city="Paris")]', "auto", "", [("get_weather", {"city": "Paris"})], 0),  # no end tag
    ('Done.<|python_end|>', "auto", "Done.", [], 0),
]

# A tag-shaped word in prose is prose: no call, no error (format="auto").
FORMAT_TAGS_IN_PROSE = [
    ("The [TOOL_CALLS] token starts a call.", "auto", "The [TOOL_CALLS] token starts a call.", [], 0),
    ("Tokens: [TOOL_CALL], [ARGS] and [CALL_ID].", "auto", "Tokens: [TOOL_CALL], [ARGS] and [CALL_ID].", [], 0),
    ("Write `<function=NAME>` then `<parameter=P>`.", "auto", "Write `<function=NAME>` then `<parameter=P>`.", [], 0),
    ("```xml\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n```", "auto",
     "```xml\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n```", [], 0),
    ("<function=f><parameter=a>1</parameter></function>", "auto", "<function=f><parameter=a>1</parameter></function>", [], 0),
    ("Python's <|python_tag_x|> is not a tag.", "auto", "Python's <|python_tag_x|> is not a tag.", [], 0),
]

MORE_CASES = STRAY_OPENERS + PYTHONIC_IN_PROSE + TAGS_IN_STRINGS + MISTRAL_NAMED + LLAMA4 + FORMAT_TAGS_IN_PROSE


@pytest.mark.parametrize(("text", "fmt", "content", "calls", "n_errors"), CASES + MORE_CASES)
def test_formats(text, fmt, content, calls, n_errors):
    out = parse_tool_calls(text, fmt)
    assert out.content == content
    assert [(c.name, c.arguments) for c in out.calls] == calls
    assert len(out.errors) == n_errors, out.errors


@pytest.mark.parametrize(("text", "fmt"), TOO_DEEP)
def test_too_deep_nesting_is_an_error_not_a_crash(text, fmt):
    out = parse_tool_calls(text, fmt)
    assert (out.calls, ["levels deep" in e for e in out.errors]) == ([], [True])


def test_too_deep_arguments_from_the_server_are_an_error():
    deep = "[" * DEEP + "]" * DEEP
    result = calls_from_openai({"function": {"name": "f", "arguments": '{"a": ' + deep + "}"}})
    assert isinstance(result, str) and "levels deep" in result


HUGE_INT = "1" * 5000  # json raises ValueError (not JSONDecodeError) past 4300 digits
HUGE_INTEGERS = [
    ('<tool_call>{"name": "f", "arguments": {"a": ' + HUGE_INT + "}}</tool_call>", "hermes"),
    ('{"name": "f", "arguments": {"a": ' + HUGE_INT + "}}", "auto"),
    ('{"name": "f", "arguments": "{\\"a\\": ' + HUGE_INT + '}"}', "json"),
]


@pytest.mark.parametrize(("text", "fmt"), HUGE_INTEGERS)
def test_integer_too_long_for_python_is_an_error_not_a_crash(text, fmt):
    out = parse_tool_calls(text, fmt)
    assert (out.calls, len(out.errors)) == ([], 1)


def test_raw_text_is_kept_verbatim():
    text = 'a <tool_call>{"name": "x", "arguments": {}}</tool_call> b'
    assert parse_tool_calls(text).calls[0].raw == '<tool_call>{"name": "x", "arguments": {}}</tool_call>'


def test_thinking_is_returned_separately():
    out = parse_tool_calls("<think>step 1\nstep 2</think>\nAnswer.")
    assert (out.thinking, out.content) == ("step 1\nstep 2", "Answer.")


def test_errors_name_the_problem():
    out = parse_tool_calls('<tool_call>{"name": "a", "arguments": {"x": 1}</tool_call>')
    assert "not valid JSON" in out.errors[0] and "column" in out.errors[0]


# Qwen3-Coder: <tool_call><function=NAME><parameter=P>value</parameter></function></tool_call>, each value on
# lines of its own, typed by the tool's schema.
SCHEMAS = {
    "f": {"type": "object", "properties": {
        "n": {"type": "integer"}, "x": {"type": "number"}, "ok": {"type": "boolean"}, "o": {"type": "object"},
        "a": {"type": "array"}, "s": {"type": "string"}, "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "either": {"type": ["string", "integer"]}}},
}


def _qwen(*params: tuple[str, str], name: str = "f") -> str:
    body = "".join(f"<parameter={p}>\n{v}\n</parameter>\n" for p, v in params)
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


# (model output, schemas, expected content, expected [(name, arguments)], number of errors)
QWEN3_CODER = [
    (_qwen(("n", "3"), ("x", "2.5"), ("ok", "true"), ("o", '{"k": [1]}'), ("a", "[1, 2]"), ("maybe", "null")), SCHEMAS,
     "", [("f", {"n": 3, "x": 2.5, "ok": True, "o": {"k": [1]}, "a": [1, 2], "maybe": None})], 0),
    (_qwen(("s", "def f():\n    return 1\n"), ("either", "7")), SCHEMAS, "",  # strings verbatim, newlines kept
     [("f", {"s": "def f():\n    return 1\n", "either": "7"})], 0),
    (_qwen(("ok", "True"), ("maybe", "None"), ("n", "4.0")), SCHEMAS, "", [("f", {"ok": True, "maybe": None, "n": 4})], 0),
    (_qwen(("n", "three"), ("o", "{'k': 1}")), SCHEMAS, "", [("f", {"n": "three", "o": "{'k': 1}"})], 0),  # left to validation
    (_qwen(("n", "3"), ("unknown", "4")), SCHEMAS, "", [("f", {"n": 3, "unknown": "4"})], 0),
    (_qwen(("n", "3")), None, "", [("f", {"n": "3"})], 0),  # no schemas: strings
    (_qwen(("n", "3"), name="other"), SCHEMAS, "", [("other", {"n": "3"})], 0),  # a tool of no known schema
    ("I'll run it.\n" + _qwen(("n", "1")) + "\n" + _qwen(("n", "2")) + "\nok", SCHEMAS, "I'll run it.\n\n\nok",
     [("f", {"n": 1}), ("f", {"n": 2})], 0),
    ("<tool_call><function=now></function></tool_call>", SCHEMAS, "", [("now", {})], 0),
    (_qwen(("s", "a</parameter>b\n</function>\n</tool_call>\n<tool_call>c")), SCHEMAS, "",
     [("f", {"s": "a</parameter>b\n</function>\n</tool_call>\n<tool_call>c"})], 0),
    ("<tool_call>\n<function=f>\n<parameter=s>\nx\n</parameter>\n</function>", SCHEMAS, "", [("f", {"s": "x"})], 0),
    # broken ones are reported and skipped to their closing tag
    ("<tool_call>\n<function=f>\n<parameter=s>\nx\n</parameter>\n", SCHEMAS, "", [], 1),  # cut off
    ("<tool_call>\n<function=f>\n<parameter=s>\nx", SCHEMAS, "", [], 1),
    ("<tool_call>\n<function=f>\nhello\n</function>\n</tool_call> after", SCHEMAS, "after", [], 1),
    ("<tool_call><function=f\n<parameter=s>x</parameter></function></tool_call>", SCHEMAS, "", [], 1),
    ("<tool_call><function=f></function><function=g></function></tool_call>", SCHEMAS, "", [], 1),
    (_qwen(("s", "a"), ("s", "b")), SCHEMAS, "", [], 1),  # the same parameter twice
]


@pytest.mark.parametrize(("text", "schemas", "content", "calls", "n_errors"), QWEN3_CODER)
def test_qwen3_coder_calls(text, schemas, content, calls, n_errors):
    out = parse_tool_calls(text, "auto", schemas)
    assert (out.content, [(c.name, c.arguments) for c in out.calls], len(out.errors)) == (content, calls, n_errors), \
        out.errors


@pytest.mark.parametrize(("text", "schemas", "content", "calls", "n_errors"), QWEN3_CODER)
def test_qwen3_coder_every_split_matches_batch(text, schemas, content, calls, n_errors):
    batch = parse_tool_calls(text, "auto", schemas)
    for cut in range(len(text) + 1):
        result, _ = _stream(text, [cut], "auto", schemas)
        assert result == batch, f"split at {cut}"


def test_qwen3_coder_raw_is_the_whole_tagged_call():
    text = "ok " + _qwen(("n", "1")) + " done"
    assert parse_tool_calls(text, schemas=SCHEMAS).calls[0].raw == _qwen(("n", "1"))


def test_qwen3_coder_integer_wins_over_number_whatever_the_hash_seed():
    value = parse_tool_calls(_qwen(("v", "3.0")), schemas={"f": {"properties": {"v": {"type": ["number", "integer"]}}}})
    assert [(v, type(v)) for v in value.calls[0].arguments.values()] == [(3, int)]


@pytest.mark.parametrize("arguments", [{"n": 3, "s": "two\nlines</parameter>", "o": {"k": [1]}, "ok": False}, {}])
def test_qwen3_coder_calls_rendered_by_the_prompt_parse_back(arguments):
    from harness.prompt import _render_call

    text = _render_call([("f", arguments), ("g", {"s": "x"})], "qwen3coder")
    out = parse_tool_calls(text, schemas=SCHEMAS)
    assert [(c.name, c.arguments) for c in out.calls] == [("f", arguments), ("g", {"s": "x"})]


def _stream(text: str, cuts: list[int], fmt: str = "auto", schemas: dict | None = None):
    pieces, last = [], 0
    for c in sorted(set(cuts)):
        pieces.append(text[last:c])
        last = c
    pieces.append(text[last:])
    parser = StreamingToolCallParser(fmt, schemas)  # type: ignore[arg-type]
    events = []
    for p in pieces:
        events += parser.feed(p)
    events += parser.finish()
    return parser.result, events


@pytest.mark.parametrize(("text", "fmt", "content", "calls", "n_errors"), CASES + MORE_CASES)
def test_every_single_split_matches_batch(text, fmt, content, calls, n_errors):
    batch = parse_tool_calls(text, fmt)
    for cut in range(len(text) + 1):
        result, _ = _stream(text, [cut], fmt)
        assert result == batch, f"split at {cut}"


def test_char_by_char_stream_emits_calls_as_soon_as_they_close():
    text = ('First.<tool_call>{"name": "a", "arguments": {}}</tool_call>Middle'
            '<tool_call>{"name": "b", "arguments": {}}</tool_call>')
    parser = StreamingToolCallParser()
    seen_at = {}
    for i, ch in enumerate(text):
        for ev in parser.feed(ch):
            if isinstance(ev, CallParsed):
                seen_at[ev.call.name] = i
    assert seen_at["a"] == text.index("</tool_call>") + len("</tool_call>") - 1
    assert seen_at["b"] == len(text) - 1


def test_content_streams_before_the_end():
    parser = StreamingToolCallParser()
    events = parser.feed("Hello there, ")
    assert [e.text for e in events if isinstance(e, ContentDelta)] == ["Hello there, "]
    assert parser.feed("wait <tool") == [ContentDelta("wait ")]  # "<tool" may begin a tag: held


@pytest.mark.parametrize(("head", "released"), [
    ("a { b c", "a { b c"),
    ("a [ b c", "a [ b c"),
    ('x {"k": v and more', 'x {"k": v and more'),
    ("see [max(a, b)] and", "see [max(a, b)] and"),
])
def test_stray_opener_releases_text_at_once(head, released):
    events = StreamingToolCallParser().feed(head)
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)) == released


# Each is held back or scanned as a possible call: quadratic streaming would take minutes at this size.
LONG = 400_000
LONG_STREAMS = [
    ("a { " + "word " * (LONG // 5), 0),
    ("a [ " + "word " * (LONG // 5), 0),
    ('{"name": "' + "word " * (LONG // 5), 1),
    ('<tool_call>{"name": "w", "arguments": {"s": "' + "x" * LONG + '"}}</tool_call>', 1),
    ('[TOOL_CALLS][{"name": "w", "arguments": {"s": "' + "x" * LONG + '"}}]', 1),
    ('[w(s="' + "x" * LONG + '")]', 1),
    ("```json\n" + " " * LONG + "```", 0),
    ("{" * (LONG // 4), 0),
    ('[TOOL_CALLS]w{"s": "' + "x" * LONG + '"}', 1),
    ("[TOOL_CALLS]w" + " " * LONG, 1),
    ("<tool_call>\n<function=w>\n<parameter=s>\n" + "x" * LONG + "\n</parameter>\n</function>\n</tool_call>", 1),
    ("<tool_call><function=w><parameter=s>" + "</parameter>x" * (LONG // 13), 1),  # no end: each candidate read once
    ("<tool_call><function=w><parameter=s>x</parameter>" + " " * LONG + "</function></tool_call>", 1),
    ("<tool_call>" + " " * LONG, 1),
    ('<|python_start|>[w(s="' + "x" * LONG + '")]<|python_end|>', 1),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("text", "n_results"), LONG_STREAMS)
def test_streaming_is_linear(text, n_results):
    result, _ = _stream(text, list(range(0, len(text), 4)))
    assert len(result.calls) + len(result.errors) == n_results


def test_thinking_streams_as_deltas():
    events = list(parse_stream(["<think>a", "b</th", "ink>c"]))
    assert [e.text for e in events if isinstance(e, ThinkingDelta)] == ["a", "b"]
    assert [e.text for e in events if isinstance(e, ContentDelta)] == ["c"]


FRAGMENTS = ['<tool_call>', '</tool_call>', '{"name": "f", "arguments": {"a": 1}}', '[TOOL_CALLS]', '<think>',
             '</think>', '```json\n', '```', '<|python_tag|>', '[f(x=1)]', '{', '}', '[', ']', '"', "'", ';',
             'text ', '\n', 'ü', '\\', '{"name": ', '"arguments": {', '[f(', '[max(a, b)]', ' ', ':', ',',
             '1', "'''", 'true', '[{', '[TOOL_CALLS]f{"a": 1}', '[TOOL_CALLS]g', '[ARGS]', '[CALL_ID]x', '<function=f>',
             '<parameter=n>', '</parameter>', '</function>', '<|python_start|>', '<|python_end|>', '\n3\n']


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=14),
       st.lists(st.integers(min_value=0, max_value=200), max_size=6),
       st.sampled_from(["auto", "hermes", "llama3", "mistral", "pythonic", "json"]), st.sampled_from([None, SCHEMAS]))
def test_never_raises_and_split_never_matters(parts, cuts, fmt, schemas):
    text = "".join(parts)
    batch = parse_tool_calls(text, fmt, schemas)
    result, _ = _stream(text, [c for c in cuts if c <= len(text)], fmt, schemas)
    assert result == batch
    for call in batch.calls:
        assert isinstance(call.arguments, dict) and isinstance(call.name, str)
        json.dumps(call.arguments)  # always serialisable back to the model


PROSE_FRAGMENTS = [f for f in FRAGMENTS if not any(tag in f for tag in ("<tool_call>", "<think>", "```", "[TOOL_CALLS]",
                                                                       "<|python_tag|>", "<|python_start|>"))]
LAST_CALL = '\n<tool_call>{"name": "last", "arguments": {}}</tool_call>'


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PROSE_FRAGMENTS), st.text(alphabet='{}[]()"\' :,=\n\\ab', max_size=6)),
                max_size=12),
       st.sampled_from(["auto", "hermes", "llama3", "json", "pythonic"]))
def test_no_prose_hides_a_later_call(parts, fmt):
    names = [c.name for c in parse_tool_calls("".join(parts) + LAST_CALL, fmt).calls]
    assert names[-1:] == ["last"]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    parse_tool_calls(text)


@pytest.mark.parametrize("answer", ["plain", 'quote " and \\ backslash\nnew line', "unicode ü 😀 \u2028", ""])
def test_final_answer_streams_decoded_at_any_split(answer):
    from harness.constrained import FinalAnswerStream

    raw = json.dumps({"name": "final_answer", "arguments": {"answer": answer}}, separators=(",", ":"))
    escaped_ascii = json.dumps({"name": "final_answer", "arguments": {"answer": answer}})  # \\u escapes, spaces
    for text in (raw, escaped_ascii):
        for cut in range(len(text) + 1):
            s = FinalAnswerStream()
            assert s.feed(text[:cut]) + s.feed(text[cut:]) == answer
        s = FinalAnswerStream()
        assert "".join(s.feed(ch) for ch in text) == answer
    assert FinalAnswerStream().feed('{"name":"read_file","arguments":{"path":"a"}}') == ""
