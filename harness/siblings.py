"""Siblings: values the user listed together ("Oslo and Rome", "AAPL, NVDA and AMZN", "'petrichor'
and 'apricity'"). When a call used one of them, each other one is what the same call needs next.

Measured with the 0.5B model (bench tooluse, parallel): asked "Which is warmer, Paris or Madrid?" it
looks up Paris, then answers "Paris is warmer" without Madrid. The harness reads the request for the
values listed beside the one the call used and names the calls still to make (Techniques.siblings).

A sibling is a value of the same form (a capitalised name, a code such as NVDA or C-9034, a quoted
phrase, an email address, a file name, a lone word at the end of its clause) joined to the used one by
"and", "or", a comma, "&" or "vs", with at most prepositions and articles between ("in Oslo and in
Rome"); commas alone make no list ("Paris, France"). When the words between name another tool ("the
weather in Paris, and what time is it in London"), the sibling goes to that tool, under a parameter of
the same name. Everything here is linear in the request's length and never raises.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MAX_REQUEST = 2000  # characters of the request read (a pasted document is not a list of values)
MAX_SPAN = 3  # words in a value
MAX_BRIDGE = 8  # tokens between two listed values when they go to different tools

_TOKEN = re.compile(r"""'[^'\n]{1,80}'|"[^"\n]{1,80}"|[^\W_](?:[\w@+'-]*[\w@+])?(?:\.[\w@+-]+)*|[,&/?!.;:]""",
                    re.UNICODE)
_CONNECTORS = frozenset({",", "and", "or", "&", "/", "vs", "versus", "plus"})
_FILLERS = frozenset({"in", "on", "for", "to", "the", "a", "an", "of", "at", "from", "with", "about", "both",
                      "also", "then", "as", "well", "into"})
# Words that count what a number is of, between listed numbers ("one for 5 minutes and one for 45 minutes").
_COUNTERS = frozenset({"one", "another", "other", "second", "first", "each"})
_ENDS = frozenset({"?", "!", ".", ";", ":"})  # the end of a sentence ends a list
# Words that may follow a lone lower-case value and still end its clause ("in oslo rn?").
_CLOSERS = frozenset({",", "?", "!", ".", ";", ":", "please", "pls", "now", "rn", "today", "tonight", "thanks"})
# Capitalised words that open a sentence or a request, never a value ("Is Toronto or Berlin colder?").
_OPENERS = frozenset("""is are was were be between what which who whom how can could would will should do does
did where when why please tell give show find get send check compare look email call text i my me we our
you your it its this that these those there here hi hey ok okay so""".split())
# Parts of a tool's name that say what it does, not what it is about (get_time is about "time").
_VERBS = frozenset({"get", "set", "find", "lookup", "look", "up", "search", "fetch", "list", "read", "write",
                    "create", "make", "run", "show", "check", "do", "by", "current"})


def _shape(token: str) -> str:
    if token[:1] in "'\"":
        return "quoted"
    if token.replace(",", "").replace(".", "").isdigit():
        return "number"
    if "@" in token:
        return "email"
    if "." in token:
        return "file"
    if any(ch.isdigit() for ch in token) or (len(token) > 1 and token.isupper()):
        return "code"
    if token[:1].isupper():
        return "name"
    return "word" if token[:1].isalpha() else "mark"


def _fold(token: str) -> str:
    return unicodedata.normalize("NFKC", token.strip("'\"")).casefold()


def _tool_topic(name: str) -> set[str]:
    parts = {p for p in re.split(r"[_\W]+", name.casefold()) if p and p not in _VERBS}
    return parts | {p[:-1] for p in parts if len(p) > 3 and p.endswith("s")}


def _value_at(tokens: list[str], i: int, shape: str, step: int) -> tuple[int, int] | None:
    """The span of a value of ``shape`` starting at token i and running in direction ``step``."""
    if not 0 <= i < len(tokens) or _shape(tokens[i]) != shape or \
            _fold(tokens[i]) in _CONNECTORS | _FILLERS | _CLOSERS | _OPENERS:
        return None
    if shape == "word":  # a lone lower-case word is a value only at the end of its clause
        after = i + 1
        if after < len(tokens) and _fold(tokens[after]) not in _CLOSERS and _fold(tokens[after]) not in _CONNECTORS:
            return None
        return (i, i + 1)
    j = i
    while shape == "name" and 0 <= j + step < len(tokens) and abs(j + step - i) < MAX_SPAN and \
            _shape(tokens[j + step]) == "name" and _fold(tokens[j + step]) not in _OPENERS:
        j += step
    return (min(i, j), max(i, j) + 1)


def _unit(tokens: list[str], i: int) -> str:
    """The word after a number at token i, without a plural "s" ("minutes" → "minute"), or ""."""
    word = _fold(tokens[i]) if 0 <= i < len(tokens) else ""
    if not word[:1].isalpha() or word in _CONNECTORS:
        return ""
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _walk(tokens: list[str], start: int, end: int, shape: str, step: int,
          tool_words: dict[str, set[str]]) -> list[tuple[str, str | None, bool]]:
    """Values listed after (step 1) or before (step -1) the span [start, end): (value, other tool or
    None, whether a word joined it: "and", "or", not a comma alone). Numbers are listed with their unit
    between them: "one for 5 minutes and one for 45 minutes" (a number with another unit is none)."""
    found: list[tuple[str, str | None, bool]] = []
    unit = _unit(tokens, end) if shape == "number" else ""
    i = end if step == 1 else start - 1
    while len(found) < 10:
        joined, worded, content, other, span = False, False, False, None, None
        for _ in range(MAX_BRIDGE + 1):  # the words between this value and the next
            if not 0 <= i < len(tokens):
                return found
            word = _fold(tokens[i])
            if word in _CONNECTORS:
                joined, worded = True, worded or word != ","
            elif word in _ENDS:
                return found
            elif joined and (span := _value_at(tokens, i, shape, step)) is not None:
                break
            elif word not in _FILLERS and not (shape == "number" and (
                    word in _COUNTERS or unit and _unit(tokens, i) == unit)):
                content = True
                named = [t for t, w in tool_words.items() if word in w]
                other = named[0] if len(named) == 1 else other
            i += step
        if span is None or (content and other is None):
            return found
        if unit and _unit(tokens, span[1]) not in ("", unit):  # "5 minutes and 45 seconds": not one list
            return found
        found.append((" ".join(t.strip("'\"") for t in tokens[span[0]:span[1]]), other, worded))
        i = span[1] if step == 1 else span[0] - 1
    return found


def siblings(request: str, value: Any, tool: str, tools: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The values ``request`` lists beside ``value`` (an argument of a call to ``tool``), each with the
    tool it goes to: ``tool`` itself, or another tool (of ``tools``: name → parameter names) that the
    words between name. Empty when the value is not in the request as one of a list."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value:g}"  # 5, not 5.0: as the request writes it
        if not isinstance(value, str) or not value.strip():
            return []
        tokens = _TOKEN.findall(request[:MAX_REQUEST])
        wanted = [_fold(t) for t in _TOKEN.findall(value[:200])]
        if not wanted or len(wanted) > MAX_SPAN:  # prose (an email body) is no listed value
            return []
        tool_words = {name: _tool_topic(name) for name in tools if name != tool}
        out: list[tuple[str, str]] = []
        worded = False
        for start in range(len(tokens) - len(wanted) + 1):
            if [_fold(t) for t in tokens[start:start + len(wanted)]] != wanted:
                continue
            end = start + len(wanted)
            shape = _shape(tokens[start])
            for step in (1, -1):
                for found, other, by_word in _walk(tokens, start, end, shape, step, tool_words):
                    out.append((found, other or tool))
                    worded |= by_word
            break
        if not worded:  # commas alone make no list: "Paris, France", "Springfield, Illinois"
            return []
        seen, unique = {_fold(value)}, []
        for found, tool_name in out:
            if _fold(found) not in seen:
                seen.add(_fold(found))
                unique.append((found, tool_name))
        return unique
    except Exception:  # model-chosen input: a hint lost is better than a run broken
        return []
