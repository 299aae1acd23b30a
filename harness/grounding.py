"""Grounding: a value the model puts in a call, or a number in its answer, must come from the conversation.

Small models fill a missing required argument with a plausible guess ("London" when the user named no
city, customer id "C-1234" instead of looking it up) and restate tool results with invented numbers.
The harness catches both by looking for the value's words in what the user wrote and what the tools
returned. Only short values are checked (names, ids, numbers): free text such as an email body is the
model's own to write. Everything here is linear in the size of its inputs and never raises.
"""

from __future__ import annotations

import itertools
import json
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
    return {plain_number(n) for n in _NUMBER.findall(text)}


def plain_number(text: str) -> str:
    text = text.replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value == int(value) else repr(value)


_CLOCK = frozenset({"am", "pm", "utc", "gmt"})
_DIGITS = re.compile(r"\d+")


def _looks_like_a_name(value: str) -> bool:
    """One word, or a few words that are all capitalised or carry digits ("New York", "C-1234"), or
    an email address: the kind of value a user gives. A phrase like "Ada likes tea" is the model's own
    wording; a path or URL ("todo.txt", "https://example.com") may hold words the user never said."""
    parts = _WORD.findall(value)
    if not parts:
        return False
    if "@" in value and len(parts) <= 8 and not any(ch.isspace() for ch in value.strip()):
        return True  # an address made up of the user's "Tomas" and an invented domain is still a guess
    return len(parts) <= MAX_WORDS and (len(parts) == 1 or all(p[:1].isupper() or any(ch.isdigit() for ch in p)
                                                                for p in parts))


def _date_and_time(value: str) -> bool:
    """Two to eight parts that carry digits, with at most "AM"/"PM" beside them ("2026-12-01 10:00 AM")."""
    parts = _WORD.findall(value[:200])
    digits = sum(any(ch.isdigit() for ch in p) for p in parts)
    return 2 <= digits and len(parts) <= 8 and all(any(ch.isdigit() for ch in p) or p.casefold() in _CLOCK for p in parts)


_MONTHS = {name: n for n, names in enumerate(["jan january", "feb february", "mar march", "apr april", "may",
                                                "jun june", "jul july", "aug august", "sep sept september",
                                                "oct october", "nov november", "dec december"], 1)
           for name in names.split()}


def _date_parts(known: set[str]) -> set[str]:
    """The numbers a date the user wrote in words stands for in digits: "01" for "January", "05" for "5"
    ("2027-01-05" for "5 January 2027")."""
    parts = {f"{_MONTHS[w]:02d}" for w in known if w in _MONTHS}
    return parts | {f"{int(w):02d}" for w in known if w.isdigit() and len(w) == 1}


def _digit_runs(text: str) -> set[str]:
    """The numbers in ``text`` as digit runs without leading zeros ("08:00" → 8, 0), zeros left out."""
    return {run.lstrip("0") for run in _DIGITS.findall(text)} - {""}


def _in_order(letters: str, word: str) -> bool:
    """Whether ``letters`` open ``word`` and the rest of them come in it in order ("jp" in "japanese")."""
    if not letters or word[:1] != letters[0]:
        return False
    at = 1
    for letter in letters[1:]:
        at = word.find(letter, at) + 1
        if at == 0:
            return False
    return True


def _initials(word: str, sequence: list[str]) -> bool:
    """Whether ``word`` (3-6 letters) is the starts of two or three words in a row of ``sequence``
    joined up: "usd" for "US dollars", "nok" for "Norwegian kroner", "nyc" for "New York City"; the first
    word may give letters from inside it, in order: "jpy" for "Japanese yen"."""
    if not 3 <= len(word) <= 6 or not word.isalpha():
        return False
    for i, first in enumerate(sequence[:-1]):
        if first[:1] != word[0]:
            continue
        for a in range(1, len(word)):
            if not _in_order(word[:a], first):
                break
            rest = word[a:]
            if sequence[i + 1].startswith(rest):
                return True
            if i + 2 < len(sequence) and any(sequence[i + 1].startswith(rest[:b]) and sequence[i + 2].startswith(rest[b:])
                                             for b in range(1, len(rest))):
                return True
    return False


# What currencies are called, and the codes written for them (a unit's word and its code are one unit).
_CURRENCY_WORDS = {"dollar": "usd", "euro": "eur", "pound": "gbp", "sterling": "gbp", "yen": "jpy", "franc": "chf",
                   "krone": "nok", "kroner": "nok", "krona": "sek", "kronor": "sek", "yuan": "cny", "renminbi": "cny",
                   "rupee": "inr", "peso": "mxn", "real": "brl", "reais": "brl", "rand": "zar", "won": "krw",
                   "lira": "try", "zloty": "pln", "forint": "huf", "ruble": "rub", "rouble": "rub", "shekel": "ils"}


def _currency_like(word: str, sequence: list[str]) -> bool:
    """Whether ``word`` (3 letters) is a country's two letters then a currency's first, said as an adjective and
    the currency's name in a row: "gbp" for "British pounds" (the adjective's first letter is the code's second);
    "chf" for "Swiss francs" does not fit and is not taken, nor "eur" for "usual rate". Narrow on purpose: a
    code the user did not say is a guess."""
    if len(word) != 3 or not word.isalpha():
        return False
    return any(later.startswith(word[2]) and singular(later) in _CURRENCY_WORDS and earlier[:1] in (word[0], word[1])
               and len(earlier) > 2 for earlier, later in zip(sequence, sequence[1:]))


def _starts_one(word: str, heard: set[str]) -> bool:
    """Whether ``word`` (3 letters or more) is the start of a longer word that was said ("eur", "euros")."""
    return len(word) >= 3 and any(len(h) > len(word) and h.startswith(word) for h in heard)


def _grounded(value: str, known: set[str], sequence: list[str] | None = None) -> bool:
    """Each word of the value was seen, or is the start of a word that was (EUR in 'euros'), or (given
    the words said in order) their initials (USD for "US dollars")."""
    for word in words(value):
        if word in known:
            continue
        if _starts_one(word, known):
            continue
        if sequence is not None and (_initials(word, sequence) or _currency_like(word, sequence)):
            continue
        return False
    return True


def made_codes(arguments: dict[str, Any], schema: dict[str, Any], context: str) -> list[tuple[str, str]]:
    """(parameter, the word it was made from) for each required value in capitals that nobody said but
    that is the start of a word that was: "CHI" for "Chicago". Such a code is grounded as a guess may be
    (EUR for "euros" is right; CHI is no airport: Chicago's is ORD), so where a tool can look the value
    up, the agent has it looked up. Linear-time; never raises."""
    if not isinstance(arguments, dict) or not isinstance(schema, dict):
        return []
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    if not isinstance(properties, dict) or not isinstance(required, list):
        return []
    known = words(context)
    found: list[tuple[str, str]] = []
    for name, value in arguments.items():
        spec = properties.get(name)
        if name not in required or not isinstance(spec, dict) or "enum" in spec or not isinstance(value, str):
            continue
        code = value.strip()
        if not (2 <= len(code) <= 5 and code.isalpha() and code.isupper()) or code.casefold() in known:
            continue
        source = next((w for w in _WORD.findall(context[:100_000]) if len(w) > len(code)
                       and w.casefold().startswith(code.casefold())), None)
        if source is not None:
            found.append((name, source))
    return found


DAYS_AND_MONTHS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split()) | set(_MONTHS)
# Words that say when: a value whose only words the user said are these says when, not what.
_WHEN = frozenset("""today tonight tomorrow yesterday morning afternoon evening night noon midnight am pm next this
week weekend month later soon""".split()) | DAYS_AND_MONTHS
# Words of every sentence: no sign of where a value came from.
_GLUE = frozenset("""a an the i i'll i'm i've me my we you it is are be will at on in to of for and or with""".split())


def _about_time(name: str, spec: Any) -> bool:
    about = f"{name} {spec.get('description', '') if isinstance(spec, dict) else ''}"[:300].casefold()
    return re.search(r"\b(?:when|time|date|day|due|at)\b", about) is not None


def _says_when_only(value: str, known: set[str], name: str, spec: dict[str, Any]) -> bool:
    """A text (not a time) whose only words the user said say when, with words of the model's own around them:
    "Tomorrow morning, I'll be at work." for a reminder's text where the user wrote "Remind me tomorrow
    morning." A parameter that takes a time or date is left alone."""
    if _about_time(name, spec):
        return False
    parts = [w.casefold() for w in _WORD.findall(value[:400])]
    said = [w for w in parts if w in known and w not in _GLUE]
    return bool(said) and all(w in _WHEN for w in said) and any(w not in known and w not in _GLUE for w in parts)


def ungrounded_arguments(arguments: dict[str, Any], schema: dict[str, Any], context: str) -> list[str]:
    """The names of the required, free-valued arguments whose value appears nowhere in ``context``."""
    if not isinstance(arguments, dict):
        return []
    known = words(context) | _numbers(context)
    known |= _date_parts(known)
    sequence: list[str] | None = None  # the context's words in order, read when initials need them
    digits: set[str] | None = None  # the context's digit runs, read when a date and time needs them
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
    # Beside a parameter that takes the time, a text whose only words of the user's say when is a guess.
    timed = isinstance(properties, dict) and any(n in required and _about_time(str(n), s) for n, s in properties.items())
    found: list[str] = []
    for name, value in arguments.items():
        spec = properties.get(name, {})
        if name not in required or not isinstance(spec, dict) or "enum" in spec or "const" in spec:
            continue  # optional values and closed choices are not the user's to give
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if plain_number(str(value)) not in known:
                found.append(name)
        elif isinstance(value, str) and _looks_like_a_name(value):
            # Initials only for a value in capitals ("USD"): "Tom" is no initials of "to our meeting".
            if value.isupper() and sequence is None:
                sequence = _WORD.findall(unicodedata.normalize("NFKC", context[:100_000]).casefold())
            if not _grounded(value, known, sequence if value.isupper() else None):
                found.append(name)
        elif isinstance(value, str) and timed and _says_when_only(value, known, str(name), spec):
            found.append(name)
        elif isinstance(value, str) and _date_and_time(value):
            # Too long for a name: a date and time nobody gave ("2026-12-01 10:00 AM" for "Remind me to call
            # mum.") is a guess; one that shares a number with what was said ("08:00" for "8am") is theirs.
            digits = _digit_runs(context) if digits is None else digits
            runs = _digit_runs(value)
            if runs and not runs & digits:
                found.append(name)
    return found


def invented_numbers(answer: str, context: str) -> list[str]:
    """Numbers in an answer that no message of the conversation contains (e.g. a temperature the
    tool never returned). Small numbers (0-10) are left alone: they are counts and ordinals."""
    known = _numbers(context)
    out = []
    for n in _NUMBER.findall(answer):
        plain = plain_number(n)
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


# Capitalised words that open a sentence rather than a name ("Write to Keiko", "Email Li Wei").
SENTENCE_OPENERS = frozenset("""write email send text call ask tell remind message ping thank thanks please
hi hey is are what who where when how can could would will did do does the a an i my""".split())


def said_part(value: str, context: str) -> str | None:
    """The words of a name-like ``value`` that were said, when some were and they run together in
    ``context`` as they do in the value ("Keiko" of "Keiko Kim" for "Write to Keiko"); None otherwise.
    Linear in the context; never raises."""
    parts = _WORD.findall(unicodedata.normalize("NFKC", value[:200]))
    if not 2 <= len(parts) <= MAX_WORDS:
        return None
    said = _WORD.findall(unicodedata.normalize("NFKC", context[:100_000]))
    folded = [w.casefold() for w in said]
    known = set(folded)
    kept = [p for p in parts if p.casefold() in known]
    if not kept or len(kept) == len(parts):
        return None
    # The kept words must be the whole name the user wrote: "San" of "San Jose" for "San Francisco" is not.
    n, wanted = len(kept), [k.casefold() for k in kept]
    for i in range(len(said) - n + 1):
        if folded[i:i + n] == wanted and not (i + n < len(said) and said[i + n][:1].isupper()) \
                and not (i > 0 and said[i - 1][:1].isupper() and said[i - 1].casefold() not in SENTENCE_OPENERS):
            return " ".join(kept)
    return None


# What a message the user asks for is to say: the words after "that", "saying" or "to say" ("send Bob a
# note that Friday's game is cancelled"), to the end of that sentence.
_MESSAGE = re.compile(r"\b(?:that|saying|to say)\s+([^.?!\n]{3,300})", re.IGNORECASE)


def message_words(text: str) -> str:
    """The last message ``text`` (the user's words) says what it is to say ("Friday's game is cancelled"),
    or "". Linear; never raises."""
    try:
        found = [m.group(1).strip() for m in _MESSAGE.finditer(text[-4000:])]
        return found[-1] if found else ""
    except Exception:  # user input: nothing found is better than a run broken
        return ""


def _leaves(value: Any, out: list[Any], limit: int = 500) -> list[Any]:
    """The scalar values inside a JSON value (at most ``limit`` of them), depth-first, without recursion."""
    stack = [value]
    while stack and len(out) < limit:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
        else:
            out.append(node)
    return out


def own_values(output: str, given: str) -> list[str]:
    """The short values (three words at most) a JSON result holds that ``given`` (the user's words and the call's
    own arguments) did not say: "FCO" of {"code": "FCO"} for city 'Rome', "started" of a timer's result. Linear;
    never raises."""
    try:
        data: Any = json.loads(output[:100_000])
    except (ValueError, RecursionError):
        return []
    known = words(given)
    return [str(leaf) for leaf in _leaves(data, []) if isinstance(leaf, str | int | float) and not isinstance(leaf, bool)
            and 0 < len(_WORD.findall(str(leaf))) <= MAX_WORDS and not set(_WORD.findall(str(leaf).casefold())) <= known]


def result_used(output: str, given: str, text: str) -> bool:
    """Whether ``text`` (an answer, or the arguments of later calls) uses anything a tool's ``output``
    holds that ``given`` (the user's words and the call's own arguments) did not already say.

    A number counts by value; a short value (a name, a time, "in transit") as the whole phrase; a
    longer text by any of its own words of four letters or more. A result with nothing of its own to
    use, or only one word (``{"status": "sent"}`` for a call whose arguments say it all: an answer
    may well say "done"), counts as used."""
    try:
        data: Any = json.loads(output)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: read it as text
        data = output
    known_words, known_numbers = words(given), _numbers(given)
    text_words, text_numbers = words(text), _numbers(text)
    text_plain = f" {' '.join(_WORD.findall(unicodedata.normalize('NFKC', text).casefold()))} "
    distinctive = 0  # values of its own, counted; one single word is an acknowledgement
    for leaf in _leaves(data, []):
        if leaf is None or isinstance(leaf, bool):
            continue
        if isinstance(leaf, int | float):
            number = plain_number(str(leaf))
            if number not in known_numbers:
                distinctive += 2
                if number in text_numbers:
                    return True
            continue
        value = unicodedata.normalize("NFKC", str(leaf)).casefold()
        parts = _WORD.findall(value)
        if all(p in known_words for p in parts):
            continue
        if len(parts) <= MAX_WORDS:
            distinctive += 1 if len(parts) == 1 else 2
            if f" {' '.join(parts)} " in text_plain:
                return True
            continue
        own = {p for p in parts if len(p) >= 4 and not p.isdigit() and p not in known_words}
        numbers = _numbers(value) - known_numbers
        distinctive += 2 if own or numbers else 0
        if own & text_words or numbers & text_numbers:
            return True
    return distinctive <= 1


def mentions(text: str, value: str) -> bool:
    """Whether ``text`` says ``value`` as a phrase, without regard to case or punctuation ("Football" in
    "Football: a new report"). Linear; never raises."""
    try:
        parts = _WORD.findall(unicodedata.normalize("NFKC", str(value)[:200]).casefold())
        plain = " ".join(_WORD.findall(unicodedata.normalize("NFKC", text[:100_000]).casefold()))
        return bool(parts) and f" {' '.join(parts)} " in f" {plain} "
    except Exception:  # model text: a check skipped is better than a run broken
        return True


# --- the form a value must take, read from its parameter's description -----------------------------

_EXAMPLE = re.compile(r"\be\.g\.,?\s+([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)(?![\w-])")
_FORMATS = {  # a format the description names → (pattern, how to say it, whether the model can rewrite it)
    "date": (re.compile(r"\d{4}-\d{2}-\d{2}"), "YYYY-MM-DD", True),
    "time": (re.compile(r"\d{1,2}:\d{2}"), "HH:MM", True),
    "email": (re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+"), "an email address", False),
}


def _code_pattern(example: str) -> re.Pattern[str]:
    """'OSL' → two to four capitals; 'C-1234' → a capital, a dash, digits: codes vary a little in length."""
    out = []
    for run in re.finditer(r"[A-Z]+|[0-9]+|.", example):
        text = run.group()
        if text.isdigit():
            out.append(r"[0-9]+")
        elif text.isalpha():
            out.append(f"[A-Z]{{{max(1, len(text) - 1)},{len(text) + 1}}}")
        else:
            out.append(re.escape(text))
    return re.compile("".join(out))


def expected_form(spec: dict[str, Any]) -> tuple[re.Pattern[str], str, bool] | None:
    """(pattern, how to say it, rewritable) for a string parameter whose description shows its form:
    JSON Schema ``format`` (date, time, email), "YYYY-MM-DD", "HH:MM", "email address", or a code-like
    example ("e.g. OSL", "e.g. C-1234"). None when it shows none, or the value is a closed choice."""
    if not isinstance(spec, dict) or spec.get("type") != "string" or "enum" in spec or "const" in spec:
        return None
    described = str(spec.get("description", ""))[:500]
    fmt = spec.get("format")
    if fmt in ("date", "time", "email"):
        return _FORMATS[fmt]
    if "YYYY-MM-DD" in described:
        return _FORMATS["date"]
    if "HH:MM" in described:
        return _FORMATS["time"]
    if re.search(r"\bemail address\b", described, re.IGNORECASE):
        return _FORMATS["email"]
    example = _EXAMPLE.search(described)
    if example:
        return _code_pattern(example.group(1)), f"like {example.group(1)!r}", False
    return None


_CODE_WORD = re.compile(r"(?<![\w-])[A-Z0-9][A-Z0-9-]*[A-Z0-9](?![\w-])")  # "NVDA", "C-4821", not "Nvidia"


def exact_codes(text: str, spec: dict[str, Any]) -> list[str]:
    """The words of ``text`` in the form of a code a parameter's description shows by example, and of the
    example's length: "NVDA" for "the ticker symbol, e.g. AAPL" (not "HX" or "Nvidia"). Linear; never raises."""
    try:
        form = expected_form(spec)
        shown = _EXAMPLE.search(str(spec.get("description", ""))[:500]) if form is not None else None
        if form is None or shown is None or form[1] != f"like {shown.group(1)!r}":
            return []
        return [w for w in _CODE_WORD.findall(text[:4000]) if len(w) == len(shown.group(1)) and form[0].fullmatch(w)]
    except Exception:  # user input: nothing found is better than a run broken
        return []


def misshapen_arguments(arguments: dict[str, Any], schema: dict[str, Any],
                        said: str = "") -> list[tuple[str, str, bool]]:
    """(name, how it should look, rewritable) for each string value not in the form its description
    shows: a name where an email address goes ('Alice'), a city where an airport code goes ('Rome').
    With ``said`` (what the user and the tools said), a word of it in capitals is no code of another
    length than the example's: 'OSLO' for the user's "oslo" where the example is 'OSL' (a code's length
    may vary by one, so the form alone admits it)."""
    if not isinstance(arguments, dict) or not isinstance(schema, dict):
        return []
    properties = schema.get("properties", {})
    heard = words(said[:200_000]) if said else set()
    found = []
    for name, value in arguments.items():
        spec = properties.get(name, {}) if isinstance(properties, dict) else {}
        form = expected_form(spec)
        if form is None or not isinstance(value, str):
            continue
        text = value.strip()[:200]
        shown = _EXAMPLE.search(str(spec.get("description", ""))[:500])
        code = shown.group(1) if shown and form[1] == f"like {shown.group(1)!r}" else ""  # the form is that example's
        said_word = bool(code) and len(text) != len(code) and text.isalpha() and text.casefold() in heard
        if said_word or not form[0].fullmatch(text):
            found.append((name, form[1], form[2]))
    return found


def invented_optional(arguments: dict[str, Any], schema: dict[str, Any], context: str) -> list[str]:
    """The optional arguments whose short value nobody gave and is not the default (a timer labelled
    "Timer 1", cuisine "thai" from the description's example): left out, the tool's default applies."""
    if not isinstance(arguments, dict) or not isinstance(schema, dict):
        return []
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    optional = {k: v for k, v in arguments.items() if k not in required and isinstance(properties, dict)
                and isinstance(properties.get(k), dict) and properties[k].get("default", object()) != v}
    return ungrounded_arguments(optional, {"properties": properties, "required": list(optional)}, context)


# Words that say nothing about what a value is ("the", "returns", "e.g."), left out when a
# parameter's description is matched against what other tools say they return.
_FILLER = frozenset("""a an and are as at be by can e for from get given g in into is it its look of on or
returns return the their them this to user users what which with your""".split())


def singular(word: str) -> str:
    """A lower-case word without a plural "s" ("files" is "file"; "address" stays)."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _topic(text: str) -> set[str]:
    """The content words of a name or description, singular ("files" is "file"), lower case."""
    return {singular(word) for word in words(text.replace("_", " ")) if len(word) >= 2 and word not in _FILLER}


def _parameter_topic(name: str, spec: dict[str, Any]) -> set[str]:
    """The content words of a parameter's name and description (a spec that is not a dict has none)."""
    description = spec.get("description", "") if isinstance(spec, dict) else ""
    return _topic(f"{name} {description}"[:2000])


# Words a parameter and a tool must share for the tool to be what finds the value. Measured over the
# bench's tool sets: every link on one word was wrong ("city" sends get_weather's city to get_time,
# "workspace" a folder to read_file, "code" a currency to get_airport_code); every right one shares two.
MIN_SHARED = 2


def provider(name: str, spec: dict[str, Any], tools: list[tuple[str, str]]) -> str | None:
    """The one tool among ``tools`` ((name, description) pairs) whose name and description share the
    most words (MIN_SHARED or more) with parameter ``name`` and its description: what to call to find
    the value ("the recipient's email address" → get_contact, "returns their email address"). None when
    none shares enough, or two share as many. Linear in the text; never raises."""
    wanted = _parameter_topic(name, spec)
    scores = sorted(((len(wanted & _topic(f"{tool} {description}"[:2000])), tool) for tool, description in tools),
                    reverse=True)
    if not scores or scores[0][0] < MIN_SHARED or (len(scores) > 1 and scores[1][0] == scores[0][0]):
        return None
    return scores[0][1]


_PLACEHOLDER = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[A-Z][a-z]+(?:[A-Z][a-z0-9]+)+")
_TOKEN = re.compile(r"[A-Za-z0-9_]+")
PHRASE_WORDS = 6  # words in a row that make a phrase the model copied from the worked examples


def _plain(text: str) -> str:
    """Lower case, words only, single spaces: the form in which copies are compared."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def _runs(plain: str, n: int) -> set[str]:
    parts = plain.split()
    return {" ".join(parts[i:i + n]) for i in range(max(len(parts) - n + 1, 0))}


# Words that point at a value without giving it ("from here", "this word", "that song").
_POINTERS = frozenset("""here there this that these those it its something anything someone somewhere whatever
my your our the a an""".split())


# What points back at something said before, not given here: "the song I told you about", "that topic we
# talked about".
RECALL = re.compile(r"\b(?:i|we|you)\s+(?:told\s+you|talked|spoke|mentioned|discussed)(?:\s+\w+){0,2}\s+about\b",
                    re.IGNORECASE)


def _says_nothing(plain: str, name: str, tool_name: str) -> bool:
    """A value made only of pointing words and the words of its own parameter's or tool's name: "here"
    for get_directions' origin, "word" for get_definition's word, "notes" for search_notes' query; or one
    that points back at what was said before ("Yesterday's song I told you about.")."""
    own = _topic(f"{name} {tool_name}"[:500]) | _POINTERS
    return all(w in own or (w.endswith("s") and w[:-1] in own) for w in plain.split()) or \
        RECALL.search(plain) is not None


def copied_arguments(arguments: dict[str, Any], schema: dict[str, Any], said: str, harness_text: str,
                     tool_name: str = "") -> list[str]:
    """The names of required string arguments whose value nobody said (a word of it is no word of what
    was said) but that come from the harness's side: a placeholder ("file_path", "YourUsername"), the
    parameter's own description or example ("words to look for", "2026-12-01 09:00" from "e.g.
    2026-12-01 09:00" when the user gave no date), or a phrase of the prompt's worked examples (a
    decline pasted as an email body); and those that say nothing but where the value is or what the
    tool is, though the user said it ("What does this word mean?" → word "word"; "from here" → origin
    "here"). Linear-time; never raises."""
    if not isinstance(arguments, dict) or not isinstance(schema, dict):
        return []
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    heard_plain = _plain(said)
    heard_list = heard_plain.split()
    heard, heard_words = f" {heard_plain} ", set(heard_list)
    heard_runs, ours_runs = _runs(heard_plain, PHRASE_WORDS), _runs(_plain(harness_text), PHRASE_WORDS)
    found: list[str] = []
    for name, value in arguments.items():
        spec = properties.get(name) if isinstance(properties, dict) else None
        if name not in required or not isinstance(value, str) or not isinstance(spec, dict) or "enum" in spec:
            continue
        value = value[:2000]
        plain = _plain(value)
        if plain and len(plain) <= 60 and _says_nothing(plain, str(name), str(tool_name)):
            found.append(name)
            continue
        parts = plain.split()
        if not plain or f" {plain} " in heard or len(parts) < PHRASE_WORDS and all(
                w in heard_words or (value.isupper() and (_initials(w, heard_list) or _starts_one(w, heard_words)))
                for w in parts):
            # Every word of it was said ("tomorrow 8am" for "tomorrow at 8am"), or a code made of the user's
            # words ("USD" for "US dollars", "EUR" for "euros"; made_codes has those looked up where a tool can).
            continue
        placeholder = any(_PLACEHOLDER.fullmatch(t) and f" {_plain(t)} " not in heard for t in _TOKEN.findall(value))
        described = f" {plain} " in f" {_plain(str(spec.get('description', ''))[:2000])} "
        from_examples = bool((_runs(plain, PHRASE_WORDS) & ours_runs) - heard_runs)
        if placeholder or described or from_examples:
            found.append(name)
    return found


# Words too common to say where a phrase came from ("I'm", "to the", "please").
_COMMON = frozenset("""about also and are been but can could did does for from has have her his into its just not our
out over please should than that the their them then they this was were will with would you your""".split())


def _stem(word: str) -> str:
    """A word's first five letters: "ordering" and "order", "running" and "runs" meet; crude, and enough."""
    return word[:5]


def example_wording(arguments: dict[str, Any], schema: dict[str, Any], said: str, examples: str) -> list[str]:
    """The names of required text arguments the model composed from the worked examples' words and none of
    the user's (or a tool's): every content word of the value (two or more) is one the examples use, and
    none is a word that was said. Seen with the 0.5B model, the examples' "Order me a taxi to the station"
    and "I'm running late" became "I'm ordering a taxi to the station." as the body of an email the user
    said nothing about, and "I'm running late." as the text of "Translate this into Spanish.". A copy of
    six words in a row is copied_arguments' to find. Linear-time; never raises."""
    if not isinstance(arguments, dict) or not isinstance(schema, dict):
        return []
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    listed = schema.get("required")
    required = {r for r in listed if isinstance(r, str)} if isinstance(listed, list) else set()
    theirs = {_stem(w) for w in words(examples[:20_000])}
    heard = {_stem(w) for w in words(said[:200_000])}
    found: list[str] = []
    for name, value in arguments.items():
        spec = properties.get(name)
        if name not in required or not isinstance(value, str) or not isinstance(spec, dict) or "enum" in spec:
            continue
        content = {_stem(w) for w in words(value[:2000]) if len(w) >= 3 and w not in _COMMON and not w.isdigit()}
        if len(content) >= 2 and content <= theirs and not content & heard:
            found.append(name)
    return found


def text_values(output: str) -> list[str]:
    """The strings inside a tool's output when it is JSON (each leaf), else the output itself. Never raises."""
    try:
        data = json.loads(output[:20_000])
    except (ValueError, RecursionError, TypeError):
        return [output] if isinstance(output, str) else []
    return [v for v in _leaves(data, []) if isinstance(v, str)]


def _json_object(output: str) -> dict[str, Any] | None:
    """A tool's output as a JSON object (None when it is not one)."""
    try:
        data = json.loads(output[:20_000])
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def reports_error(output: str) -> bool:
    """A tool's output that is a JSON object with an "error" field ({"error": "no airport found"})."""
    return "error" in (_json_object(output) or {})


def _fields(output: str, limit: int = 200) -> list[tuple[str, str]]:
    """(key, value) of the scalar fields of a JSON object result (not an error)."""
    data = _json_object(output)
    if data is None or "error" in data:
        return []
    return [(str(k), str(v)) for k, v in list(data.items())[:limit]
            if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip()]


def found_value(output: str, name: str, spec: dict[str, Any], named: bool = False) -> str | None:
    """The value in a lookup's JSON result for parameter ``name``: the field named like the parameter
    or its description ("code" for "IATA code of the departure airport", "email" for "the recipient's
    email address"), or (unless ``named``) the only field there is. None otherwise. Linear; never raises."""
    fields = _fields(output)
    wanted = _parameter_topic(name, spec)
    for key, value in fields:
        if _topic(key[:200]) & wanted:
            return value[:200]
    return fields[0][1][:200] if len(fields) == 1 and not named else None


# "<value> for <what it means>" in a description: ". for the top" says the top folder is ".".
_DESCRIBED = re.compile(r"(?:^|[;,(]\s*)([^\s;,()]{1,20}) for ((?:the |a |an )?[\w -]{1,40}?)\s*(?=$|[;,)])")
# A span the user put in quotes: the exact text they want ('Dentist', "Book club").
_QUOTED = re.compile(r"(?<!\w)(['\"\u2018\u201c])([^'\"\u2018\u2019\u201c\u201d\n]{1,60})['\"\u2019\u201d](?!\w)")


def repaired_values(arguments: dict[str, Any], schema: dict[str, Any], said: str, user: str) -> dict[str, str]:
    """{parameter: value} for string values the model wrapped around a value it was given, which is
    what the call should carry: the well-formed part the user or a tool said of one in the wrong form
    ("14:30" of "14:30 AM" for HH:MM), the value a description gives with its meaning copied after it
    ("." of ". for the top"), and the span the user quoted with details added after it ('Dentist' of
    "Dentist appointment on December 3, 2026 at 14:30"). Linear; never raises."""
    try:
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(arguments, dict) or not isinstance(properties, dict):
            return {}
        heard = said[:100_000].casefold()
        quoted = [m.group(2).strip() for m in _QUOTED.finditer(user[:20_000]) if m.group(2).strip()]
        out: dict[str, str] = {}
        for name, value in arguments.items():
            spec = properties.get(name)
            if not isinstance(value, str) or not isinstance(spec, dict) or not value.strip():
                continue
            text = value.strip()[:200]
            form = expected_form(spec)
            if form is not None and form[2] and not form[0].fullmatch(text):
                part = form[0].search(text)
                # Not "2:30" of "2:30 PM": the afternoon is lost without the PM.
                afternoon = form[1] == "HH:MM" and "pm" in text.casefold() and part is not None \
                    and int(part.group().split(":")[0]) < 12
                if part is not None and part.group().casefold() in heard and not afternoon:
                    out[name] = part.group()
                    continue
            described = str(spec.get("description", ""))[:300]
            literal = next((m.group(1) for m in _DESCRIBED.finditer(described)
                            if f"{m.group(1)} for {m.group(2)}".casefold() == text.casefold()), None)
            if literal is not None:
                out[name] = literal
                continue
            span = next((q for q in quoted if text.casefold().startswith(q.casefold()) and len(text) > len(q)
                         and not text[len(q)].isalnum() and _DIGITS.search(text[len(q):])), None)
            if span is not None:  # details (a date, a time) added after the quoted words: the quoted words
                out[name] = span
        return out
    except Exception:  # model text: a repair skipped is better than a run broken
        return {}


def _base(word: str) -> str:
    """A word without the ending a verb adds, four letters kept: "walking" and "walk", "driving" and "drive"."""
    for ending in ("ing", "ed", "es", "e", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[:-len(ending)]
    return word


def said_choices(arguments: dict[str, Any], schema: dict[str, Any], user: str) -> dict[str, str]:
    """{parameter: value} for each closed choice (a string enum) where exactly one of its values is a word the
    user said, give or take its ending, and the call gives another or none: mode 'walking' for "How long would
    it take me to walk from Trastevere to the Colosseum?" (the default is driving). Linear; never raises."""
    try:
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(arguments, dict) or not isinstance(properties, dict):
            return {}
        heard = {_base(w) for w in words(user[:4000]) if len(w) >= 4}
        out: dict[str, str] = {}
        for name, spec in list(properties.items())[:50]:
            choices = spec.get("enum") if isinstance(spec, dict) else None
            if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                continue
            said = [c for c in choices[:50] if _base(c.casefold()) in heard]
            if len(said) == 1 and arguments.get(name) != said[0]:
                out[name] = said[0]
        return out
    except Exception:  # user input: a choice left as it was is better than a run broken
        return {}


# Words a looked-up value neither opens nor closes with: "email tomas" and "tomas that" are not names.
_SPAN_EDGE = _FILLER | _COMMON | frozenset("""i im i'm me my we us you he she they him it's pls plz hi hey yes no
not do does did done want wants need needs like let know tell give show find send write email mail call ring
text ask make put set check some any all what's whats how who whom where when why which there here today now
yet again more most last next got get use wont dont cant isnt""".split())
# Words that join two things rather than name one: "Madrid to Berlin" is two cities ("Bank of America" is one).
_BETWEEN = frozenset("to from and or on at in for with by via vs versus than then into onto".split())
_CLAUSE = re.compile(r"[,.;:!?()\[\]{}<>=|/\\\"“”]+|\s[-–—>]+\s|->|\n")


def spans(text: str, longest: int = MAX_WORDS, limit: int = 200) -> list[str]:
    """The pieces of ``text`` a lookup may be called with, in order and each once: quoted phrases, and runs of
    one to ``longest`` words within a clause that neither open nor close with a common word ("tomas", "John
    Smith", "Madrid"; never "email tomas" or "pls"). A possessive "'s" is left off. At most ``limit``;
    linear in the text (the last 4,000 characters are read); never raises."""
    try:
        text = unicodedata.normalize("NFKC", text[-4000:])
        found: list[str] = [q for m in _QUOTED.finditer(text) if (q := m.group(2).strip())]
        for clause in _CLAUSE.split(text):
            raw = [t.strip("`‘-") for t in clause.split()]
            # A possessive ends its run: "John Smith" of "John Smith's last order", never "Smith last order".
            ends = [bool(re.search(r"(?:'s|’s|s')$", t)) for t in raw]
            tokens = [re.sub(r"(?:'s|’s|')$", "", t).strip("'’") for t in raw]
            for i, first in enumerate(tokens):
                if not first or first.casefold() in _SPAN_EDGE:
                    continue
                for n in range(1, longest + 1):
                    run = tokens[i:i + n]
                    if len(run) < n or any(not t for t in run) or any(ends[i:i + n - 1]) \
                            or n > 1 and run[-1].casefold() in _BETWEEN:
                        break
                    if run[-1].casefold() not in _SPAN_EDGE:
                        found.append(" ".join(run))
        return list(dict.fromkeys(found))[:limit]
    except Exception:  # model or user text: no pieces is better than a run broken
        return []


_CLOCK_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_ASKS_TIME = re.compile(r"\b(?:what|which) time\b|\bwhen (?:does|do|is|will|did|are)\b|\bhow (?:late|early)\b",
                        re.IGNORECASE)


def clock_times(text: str) -> list[str]:
    """The clock times in ``text`` as HH:MM ("8:05" is "08:05"), in order. Linear; never raises."""
    try:
        return [f"{int(m.group(1)):02d}:{m.group(2)}" for m in _CLOCK_TIME.finditer(text[:100_000])]
    except Exception:  # tool output and model text: nothing found is better than a run broken
        return []


def asks_time(task: str) -> bool:
    """Whether the user asks what time (or when) something is: "What time does it leave?"."""
    return bool(_ASKS_TIME.search(task[:4000])) if isinstance(task, str) else False


# The word written right after a number ("250 euros", "187.33 British"): what the number is in.
_LABEL = re.compile(r" ?([^\W\d_]{1,20})")
_AFTER = re.compile(r"((?: [^\W\d_]{1,20}){1,2})")
# A JSON field that says what a record's amounts are in, and the fields that hold such amounts.
_UNIT_KEY = re.compile(r"(?:^|_)(?:currency|unit)s?$", re.IGNORECASE)
_AMOUNT_KEY = re.compile(r"price|amount|total|cost|value|balance|fee|sum", re.IGNORECASE)


def _text_labels(text: str) -> dict[str, set[str]]:
    """{number: the words right after it} in free text (a common word, "10 and 12", is no label). Linear."""
    labels: dict[str, set[str]] = {}
    for found in _NUMBER.finditer(text[:20_000]):
        label = _LABEL.match(text, found.end(), min(len(text), found.end() + 22))
        if label and label.group(1).casefold() not in _FILLER | _COMMON:
            labels.setdefault(plain_number(found.group()), set()).add(label.group(1))
    return labels


def _record_labels(output: str) -> tuple[dict[str, set[str]], set[str]]:
    """({number: units}, named) for a source: the amounts of each JSON object in a tool's output that has a
    currency or unit field ({"currency": "USD", "price": 187.33} gives 187.33 in USD; a count beside it,
    "quantity", is none), or the words after them where the output is text; and the words a JSON object's text
    values say ("AMZN" of {"symbol": "AMZN"}). Parses once, walks without recursion; never raises."""
    try:
        data: Any = json.loads(output[:20_000])
    except (ValueError, RecursionError, TypeError):
        return (_text_labels(output) if isinstance(output, str) else {}), set()
    named = {w for v in _leaves(data, []) if isinstance(v, str) for w in words(v[:200])} \
        if isinstance(data, dict) else set()
    labels: dict[str, set[str]] = {}
    stack, seen = [data], 0
    while stack and seen < 500:
        node, seen = stack.pop(), seen + 1
        values = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        unit = next((v for k, v in values if isinstance(k, str) and _UNIT_KEY.search(k[:100]) and isinstance(v, str)
                     and 0 < len(v) <= 20), None)
        for key, value in values:
            if isinstance(value, dict | list):
                stack.append(value)
            elif unit is not None and isinstance(key, str) and _AMOUNT_KEY.search(key[:100]) \
                    and isinstance(value, int | float) and not isinstance(value, bool):
                labels.setdefault(plain_number(str(value)), set()).add(unit)
    return labels, named


def _same_unit(word: str, unit: str) -> bool:
    """Whether ``word`` (an answer's) and ``unit`` (a source's) name one unit: "dollars" and "USD", "euros" and
    "EUR", "km" and "km"."""
    a, b = singular(word.casefold()), singular(unit.casefold())
    return a == b or _CURRENCY_WORDS.get(a) == b or _CURRENCY_WORDS.get(b) == a or _starts_one(b, {a}) \
        or _starts_one(a, {b})


def relabelled(answer: str, task: str, sources: list[str]) -> tuple[str, str, str] | None:
    """(number, the answer's word for it, the word its source gives) for a number the answer gives in
    something the task asks for, when the user or a tool result gave that number in something else only: "250
    NOK" where the user said "250 euros", "187.33 British pounds" where the result said {"currency": "USD",
    "price": 187.33}. A conversion no tool made. ``sources`` are the user's words and the tools' outputs,
    oldest first. None when there is none. Linear; never raises."""
    try:
        known: dict[str, set[str]] = {}
        named: set[str] = set()  # what results name: "AMZN" of {"symbol": "AMZN", ...} is a subject, no unit
        for source in sources:
            labelled, subjects = _record_labels(source)
            for number, labels in labelled.items():
                known.setdefault(number, set()).update(labels)
            named |= subjects
        asked = words(task)
        said = words(answer)
        for found in _NUMBER.finditer(answer[:20_000]):
            label = _LABEL.match(answer, found.end(), min(len(answer), found.end() + 22))
            units = known.get(plain_number(found.group()))
            if label is None or not units:
                continue
            word = label.group(1).casefold()
            if word in _FILLER or word in _COMMON or word not in asked or word in named:
                continue
            if any(_same_unit(word, u) or words(u) & said for u in units):
                continue
            # The task's words that follow it, for the note: "British pounds", not "British".
            more = _AFTER.match(answer, label.end(), min(len(answer), label.end() + 60))
            following = more.group(1).split() if more else []
            text = " ".join([label.group(1), *itertools.takewhile(lambda w: w.casefold() in asked, following)])
            return plain_number(found.group()), text, sorted(units)[0]
    except Exception:  # model text: no finding is better than a run broken
        return None
    return None
