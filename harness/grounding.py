"""Grounding: a value the model puts in a call, or a number in its answer, must come from the conversation.

Small models fill a missing required argument with a plausible guess ("London" when the user named no
city, customer id "C-1234" instead of looking it up) and restate tool results with invented numbers.
The harness catches both by looking for the value's words in what the user wrote and what the tools
returned. Only short values are checked (names, ids, numbers): free text such as an email body is the
model's own to write. Everything here is linear in the size of its inputs and never raises.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# A value of more words than this is prose the model composes, not a fact it must be given.
MAX_WORDS = 3
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w])")


def words(text: str) -> set[str]:
    return set(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def _numbers(text: str) -> set[str]:
    return {_plain_number(n) for n in _NUMBER.findall(text)}


def _plain_number(text: str) -> str:
    text = text.replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value == int(value) else repr(value)


def _looks_like_a_name(value: str) -> bool:
    """One word, or a few words that are all capitalised or carry digits ("New York", "C-1234"): the
    kind of value a user gives. A phrase like "Ada likes tea" is the model's own wording."""
    parts = _WORD.findall(value)
    if not parts or len(parts) > MAX_WORDS:
        return False
    return len(parts) == 1 or all(p[:1].isupper() or any(ch.isdigit() for ch in p) for p in parts)


def _grounded(value: str, known: set[str]) -> bool:
    """Each word of the value was seen, or is the start of a word that was (EUR in 'euros')."""
    for word in words(value):
        if word in known:
            continue
        if len(word) >= 3 and any(k.startswith(word) for k in known if len(k) > len(word)):
            continue
        return False
    return True


def ungrounded_arguments(arguments: dict[str, Any], schema: dict[str, Any], context: str) -> list[str]:
    """The names of the required, free-valued arguments whose value appears nowhere in ``context``."""
    if not isinstance(arguments, dict):
        return []
    known = words(context) | _numbers(context)
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
    found: list[str] = []
    for name, value in arguments.items():
        spec = properties.get(name, {})
        if name not in required or not isinstance(spec, dict) or "enum" in spec or "const" in spec:
            continue  # optional values and closed choices are not the user's to give
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if _plain_number(str(value)) not in known:
                found.append(name)
        elif isinstance(value, str) and _looks_like_a_name(value) and not _grounded(value, known):
            found.append(name)
    return found


def invented_numbers(answer: str, context: str) -> list[str]:
    """Numbers in an answer that no message of the conversation contains (e.g. a temperature the
    tool never returned). Small numbers (0-10) are left alone: they are counts and ordinals."""
    known = _numbers(context)
    out = []
    for n in _NUMBER.findall(answer):
        plain = _plain_number(n)
        if plain not in known and plain not in out:
            try:
                if abs(float(plain)) <= 10:
                    continue
            except ValueError:
                pass
            out.append(plain)
    return out


def close_words(value: str, context: str) -> str | None:
    """The words of ``context`` that ``value`` seems to paraphrase ("Lisboa" for "Lisbon"), if any.

    Compared word by word with difflib, only against context words of a similar length, so the cost
    stays linear in the context."""
    import difflib

    parts = _WORD.findall(unicodedata.normalize("NFKC", value))
    if not parts or len(parts) > MAX_WORDS:
        return None
    original = {w.casefold(): w for w in _WORD.findall(unicodedata.normalize("NFKC", context))}
    out = []
    for part in parts:
        low = part.casefold()
        if low in original:
            out.append(original[low])
            continue
        near = [w for w in original if abs(len(w) - len(low)) <= 2 and w[:1] == low[:1]]
        match = difflib.get_close_matches(low, near, n=1, cutoff=0.75)
        if not match:
            return None
        out.append(original[match[0]])
    return " ".join(out)
