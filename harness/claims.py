"""Claims: an answer must not report an action that no tool performed.

Measured with the 0.5B model (bench tooluse): with no tool to cancel an order it answered "Order O-7731
cancelled for customer."; asked to email Bob, it answered "Sent to Bob: Game cancelled on Friday." without
a call, as the worked example ends ("Sent to Dana Kim: ..."); with only get_contact run, "Sent to Keiko
Sato: Happy birthday!". A word that reports a done action ("sent", "booked", "cancelled") is a claim; it
is backed when a tool that does such a thing ran (send_email, book_table, cancel_order). Linear in the
answer's length; never raises.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

from harness.grounding import RECALL, SENTENCE_OPENERS, singular

# A word that reports an action as done → the parts of a tool's name that would have done it.
_SEND = frozenset({"send", "email", "mail", "text", "message", "sms", "notify", "reply", "forward"})
_CLAIMS: dict[str, frozenset[str]] = {
    **dict.fromkeys(["sent", "emailed", "texted", "messaged", "forwarded", "notified"], _SEND),
    **dict.fromkeys(["booked", "reserved"], frozenset({"book", "reserve", "reservation", "booking"})),
    **dict.fromkeys(["ordered", "bought", "purchased"], frozenset({"order", "buy", "purchase", "checkout"})),
    **dict.fromkeys(["cancelled", "canceled"], frozenset({"cancel"})),
    **dict.fromkeys(["scheduled", "created"], frozenset({"create", "schedule", "add", "event", "reminder", "calendar"})),
    **dict.fromkeys(["locked", "unlocked"], frozenset({"lock", "unlock", "door"})),
    **dict.fromkeys(["paid", "refunded", "transferred"], frozenset({"pay", "payment", "refund", "transfer"})),
    **dict.fromkeys(["posted", "tweeted", "published"], frozenset({"post", "tweet", "publish"})),
    "recorded": frozenset({"record", "recording"}),
    **dict.fromkeys(["deleted", "removed"], frozenset({"delete", "remove"})),
}
_WORD = re.compile(r"[a-z]+")
_NEGATIONS = frozenset({"not", "t", "never", "nothing", "no", "cannot", "unable", "couldn", "wasn", "isn"})
MAX_ANSWER = 4000  # characters read: a claim is made early in an answer


def _parts(tool_name: str) -> set[str]:
    parts = {p for p in re.split(r"[^a-z]+", tool_name.casefold()) if p}
    return parts | {p[:-1] for p in parts if len(p) > 3 and p.endswith("s")}


def unbacked_claims(answer: str, ran: Iterable[str], said: str = "") -> list[str]:
    """The words of ``answer`` that report an action none of the tools that ran (``ran``: their names)
    could have done, in order, each once. Not a claim: a word the user or a tool said (``said``: an
    order's status "cancelled"), one negated ("nothing was sent", "can't be booked"), or one followed
    by "by" ("created by Guido")."""
    try:
        done = set().union(*(_parts(name) for name in ran))
        heard = set(_WORD.findall(said[:200_000].casefold()))
        words = _WORD.findall(answer[:MAX_ANSWER].casefold())
        found: list[str] = []
        for i, word in enumerate(words):
            if word not in _CLAIMS or word in found or word in heard or _CLAIMS[word] & done:
                continue
            before, after = words[max(i - 3, 0):i], words[i + 1:i + 2]
            if _NEGATIONS & set(before) or after == ["by"]:
                continue
            found.append(word)
        return found
    except Exception:  # model text: a check skipped is better than a run broken
        return []


# Verbs that say nothing of what a tool does in particular: "set" in set_timer would match "set a
# reminder", "get" matches every question, "search" and "lookup" any question a result answers.
GENERIC_VERBS = frozenset("""get set find lookup look search fetch list show check do run make create add query""".split())


def _verb(tool_name: str) -> str:
    """The first word of a tool's name when it says what the tool does ("send" of send_email, "convert"
    of convert_units), else ""."""
    first = re.split(r"[^a-z]+", tool_name.casefold().strip("_- "), maxsplit=1)[0]
    return "" if first in GENERIC_VERBS else first


_QUOTES = re.compile(r"(?<!\w)'[^'\n]{1,200}'(?!\w)|\"[^\"\n]{1,200}\"|“[^”\n]{1,200}”")


def named_tools(task: str, tools: Iterable[str], ran: Iterable[str] = ()) -> list[str]:
    """The tools (of ``tools``: names) whose verb ``task`` says and no tool that ran (``ran``) shares:
    "Convert the price ... into yen" names convert_currency until a convert_ tool has run, "Read todo.md"
    read_file, "send it to Bob" send_email. A noun names nothing: "Bob's email address" is no request to
    send. Words in quotes are what the user wants done something with, not a request ("Rewrite this: 'Send me
    the file now.'" asks for no email). In the order the task says them. Linear; never raises."""
    try:
        said: dict[str, int] = {}
        for i, word in enumerate(_WORD.findall(_QUOTES.sub(" ", task[:4000]).casefold())):
            said.setdefault(singular(word), i)
        done = {_verb(name) for name in ran}
        at = {name: said[verb] for name in tools if (verb := singular(_verb(name))) and verb in said
              and _verb(name) not in done}
        return sorted(at, key=lambda name: at[name])
    except Exception:  # model-chosen and user input: a check skipped is better than a run broken
        return []


# Where a request's parts meet: "How many people live in Lima, and what's the weather there today?"
_CLAUSE = re.compile(r",?\s+and\s+|[,;:?!.]+(?:\s+|$)", re.IGNORECASE)


def _root(word: str) -> str:
    """A word without the ending a verb or plural adds ("define" → "defin", "reminds" → "remind")."""
    for ending in ("ing", "ed", "es", "e", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 5:
            return word[:-len(ending)]
    return word


def _names(noun: str, said: set[str]) -> bool:
    """Whether one of the ``said`` words is ``noun``, or (five letters or more) the start of it, once its ending
    is off: "define" names a definition, "translate" a translation; "popular" no population."""
    return noun in said or any(len(r := _root(w)) >= 5 and noun.startswith(r) for w in said)


def uncovered_tools(task: str, tools: Iterable[str], calls: Iterable[tuple[str, dict[str, object]]]) -> list[str]:
    """The tools (of ``tools``: names) not among ``calls`` (name, arguments) whose name's noun a part of
    ``task`` says that no call covers: "what's the weather there today" names get_weather while only
    get_population ran with "Lima" for the part before it. A call covers a part that holds one of its
    values' words or its name's noun. A task of one part names none (that is named_tools' verbs).
    Linear; never raises."""
    try:
        calls = list(calls)[:50]
        ran = {name for name, _ in calls}
        open_parts = _open_parts(task, calls)
        return [t for t in tools if t not in ran and any(_names(noun, p) for noun in _nouns(t) for _, p in open_parts)]
    except Exception:  # user input and model-chosen values: a check skipped is better than a run broken
        return []


def uncovered_part(task: str, tool: str, calls: Iterable[tuple[str, dict[str, object]]]) -> str:
    """The text of the first part of ``task`` that no call covers and that names ``tool`` by its noun ("Define
    'sonder'" for get_definition, once translate ran for the part after it), or "". Linear; never raises."""
    try:
        return next((text for text, p in _open_parts(task, list(calls)[:50])
                     if any(_names(noun, p) for noun in _nouns(tool))), "")
    except Exception:  # user input and model-chosen values: a check skipped is better than a run broken
        return ""


def same_part(task: str, tool: str, other: str) -> bool:
    """Whether one part of ``task`` (between commas, "and", sentence ends) names both tools by their nouns:
    "Email Alice a short summary of my notes" names send_email and search_notes; "Send Alice a thank-you email,
    and set a timer" names send_email and set_timer in two parts. Linear; never raises."""
    try:
        asked = _asked_words(task)
        return any(any(_names(n, p) for n in _nouns(tool)) and any(_names(n, p) for n in _nouns(other))
                   for p in (_said(part, asked) for part in _CLAUSE.split(task[:4000]) if part.strip()))
    except Exception:  # user input: a check skipped is better than a run broken
        return False


def names_tool(text: str, tool: str) -> bool:
    """Whether ``text`` has a word that names ``tool`` by its noun ("Define" and get_definition, "weather" and
    get_weather). Linear; never raises."""
    try:
        said = _said(text)
        return any(_names(noun, said) for noun in _nouns(tool))
    except Exception:  # user input: a check skipped is better than a run broken
        return False


# Question words that ask for what a tool's name calls by another noun: "how warm is it" asks about the weather,
# "what does 'petrichor' mean" for a definition. A short list, not a thesaurus (the rules read words, not
# meanings): the words with which the 0.5B model called get_time for "Which is warmer, Paris or Madrid?" and
# answered "What do 'petrichor' and 'apricity' mean?" from nothing.
ASKS_FOR = {**dict.fromkeys("warm warmer warmest hot hotter hottest cold colder coldest".split(), "weather"),
            **dict.fromkeys("mean meaning".split(), "definition")}


# A sentence, and one that asks: it ends in a question mark or opens with a question word ("hey, how hot is it
# in cairo today").
_SENTENCES = re.compile(r"[^.!?\n]+[.!?\n]*")
_ASKS = re.compile(r"^\W*(?:\w+,\s*)?(?:what|which|how|is|are|was|were|do|does|did|will|can|could|should|would|"
                   r"where|when|who|why)\b", re.IGNORECASE)


def _asked_words(text: str) -> set[str]:
    """The ASKS_FOR words of ``text``'s questions: "warmer" in "Which is warmer?", not "hot" in "Everyone says tech
    is hot right now." nor "cold" in "I'm freezing cold in here."."""
    found: set[str] = set()
    for sentence in _SENTENCES.findall(text[:4000]):
        if sentence.rstrip().endswith("?") or _ASKS.match(sentence):
            found |= {w for w in (singular(w) for w in _WORD.findall(sentence.casefold())) if w in ASKS_FOR}
    return found


def _said(text: str, asked: set[str] | None = None) -> set[str]:
    """``text``'s words, singular, with the nouns its questions ask for (ASKS_FOR; ``asked``: the question words
    read on the whole task, where ``text`` is a part of it)."""
    said = {singular(w) for w in _WORD.findall(text[:4000].casefold())}
    asked = _asked_words(text) if asked is None else asked
    return said | {ASKS_FOR[w] for w in said & asked}


def asks_for(task: str, tools: Iterable[str]) -> list[str]:
    """The tools (of ``tools``: names) whose name's noun a question word of ``task`` asks for (ASKS_FOR), though
    the task never says it: "What do 'petrichor' and 'apricity' mean?" asks for get_definition. Linear; never
    raises."""
    try:
        said = {singular(w) for w in _WORD.findall(task[:4000].casefold())}
        wanted = {ASKS_FOR[w] for w in _asked_words(task)} - said
        return [name for name in tools if _nouns(name) & wanted]
    except Exception:  # user input: a check skipped is better than a run broken
        return []


def _nouns(name: str) -> set[str]:
    return {singular(p) for p in re.split(r"[^a-z]+", name.casefold()) if len(p) >= 4} - GENERIC_VERBS


def _open_parts(task: str, calls: list[tuple[str, dict[str, object]]]) -> list[tuple[str, set[str]]]:
    """The parts of ``task`` (text, words) that no call covers by a value's word or its tool's noun; none when the
    task is one part."""
    asked = _asked_words(task)  # a part has lost its question mark
    parts = [(p.strip(), _said(p, asked)) for p in _CLAUSE.split(task[:4000]) if p.strip()]
    made = [_nouns(name) | _said(" ".join(str(v)[:200] for v in list(arguments.values())[:20]))
            for name, arguments in calls if isinstance(arguments, dict)]
    return [(text, p) for text, p in parts if not any(marks & p for marks in made)] if len(parts) > 1 else []


# A file name as people write one: a stem and an extension files commonly have ("config.ini",
# "notes/todo.md"); "e.g." and "example.com" are none.
_EXTENSIONS = ("txt|md|markdown|rst|ini|cfg|conf|toml|yaml|yml|json|jsonl|xml|csv|tsv|log|env|lock|py|js|ts|"
               "java|go|rs|c|h|cpp|hpp|rb|php|sh|sql|html|css|pdf|doc|docx|xls|xlsx|ppt|pptx")
_FILE = re.compile(rf"(?<![\w@/.\\-])((?:[\w.-]+/)*[\w-][\w.-]*\.(?:{_EXTENSIONS}))(?![\w@/\\-]|\.\w)", re.IGNORECASE)
_FILE_PARAMETERS = frozenset({"path", "file", "filename", "file_name", "filepath", "file_path"})


def named_files(text: str) -> list[str]:
    """The file names ``text`` gives, in order, each once: "What port is set in config.ini?" gives
    config.ini. Linear; never raises."""
    try:
        return list(dict.fromkeys(m.group(1) for m in _FILE.finditer(text[:4000])))
    except Exception:  # user input: a check skipped is better than a run broken
        return []


def described_files(task: str, found: str) -> list[str]:
    """The file names in ``found`` (what tools returned, a listing) whose stem a task that speaks of a file
    says as a word of its own: "the todo file" is todo.md, "the config file" config.ini ("my notes and my
    files" is none). Linear; never raises."""
    try:
        raw = set(_WORD.findall(task[:4000].casefold()))
        if "file" not in raw:  # one file spoken of ("the todo file"), not a listing ("list my files")
            return []
        said = {singular(w) for w in raw}
        return [f for f in named_files(found[:20_000])
                if singular(re.split(r"[\W_]", f.rsplit("/", 1)[-1].casefold())[0]) in said - {""}]
    except Exception:  # tool output and user input: a check skipped is better than a run broken
        return []


def file_parameter(parameters: object) -> str | None:
    """The required string parameter of a tool's JSON Schema that takes a file's path ("path", or one
    whose description says "file path"), or None."""
    if not isinstance(parameters, dict) or not isinstance(parameters.get("properties"), dict):
        return None
    required = parameters.get("required") if isinstance(parameters.get("required"), list) else []
    for name, spec in parameters["properties"].items():
        if name not in required or not isinstance(spec, dict) or spec.get("type") != "string":
            continue
        described = str(spec.get("description", ""))[:300].casefold()
        if name.casefold() in _FILE_PARAMETERS or "file path" in described or "path of the file" in described \
                or "file name" in described:
            return name
    return None


_DECLINE = re.compile(r"\b(?:can'?t|cannot|can not|unable|not able)\b", re.IGNORECASE)


def declines(answer: str) -> bool:
    """Whether an answer says it can't do what was asked ("Sorry, I can't do that")."""
    return _DECLINE.search(answer[:MAX_ANSWER].replace("\u2019", "'")) is not None


# Verbs that ask for an action in the world (a booking, a purchase, a change), each with the stems of
# words a tool that does it would carry in its name or description. Verbs of asking ("get", "find",
# "show", "tell") are not here: a lookup tool fits them all.
_ACTIONS: dict[str, tuple[str, ...]] = {
    "book": ("book", "reser"), "reserve": ("reser", "book"), "buy": ("buy", "purch", "order"),
    "purchase": ("purch", "buy", "order"), "order": ("order", "buy", "purch"), "rent": ("rent", "hire"),
    "pay": ("pay", "payme"), "record": ("recor",), "add": ("add", "appen", "inser", "creat", "write"),
    "append": ("appen", "add", "write"), "delete": ("delet", "remov"), "remove": ("remov", "delet"),
    "cancel": ("cance",), "refund": ("refun",), "lock": ("lock",), "unlock": ("unloc", "lock"),
    "turn": ("turn", "switc", "set"), "switch": ("switc", "turn", "set"), "start": ("start", "begin", "launc"),
    "stop": ("stop", "cance", "end"), "call": ("call", "dial", "phone", "ring"), "dial": ("dial", "call", "phone"),
    "text": ("text", "sms", "messa"), "post": ("post", "publi", "share"), "tweet": ("tweet", "post"),
    "schedule": ("sched", "creat", "add", "event", "calen"), "install": ("insta",), "scan": ("scan",),
    "sell": ("sell", "order"), "transfer": ("trans", "pay"), "upload": ("uploa",), "download": ("downl",),
    "print": ("print",), "rename": ("renam", "move"), "move": ("move", "renam"), "charge": ("charg", "pay"),
}
# Words before the verb that leave it a request: "Please book ...", "Can you book ...".
_LEAD_INS = frozenset("""please pls hey hi hello ok okay so now then also just kindly can could would will you
go ahead and i want need would like to me for""".split())
_PART = re.compile(r"[,;:.!?()\n]+|(?<!\s)\s+(?:and|then)\s+", re.IGNORECASE)  # one run of spaces: linear
_LEADING_WORD = re.compile(r"[A-Za-z']+")


def _carried(tool_texts: Iterable[str]) -> set[str]:
    """The stems (first five letters) of the words the tools' texts carry."""
    return {w[:5] for text in list(tool_texts)[:200] for w in re.findall(r"[a-z]+", str(text)[:4000].casefold())}


def unfit_action(task: str, tool_texts: Iterable[str]) -> str:
    """The verb of a request for an action that no tool's text (name, description, parameters) carries:
    "Book me a hotel room" where the tools find restaurants, "Reserve a table" where find_restaurants
    only finds. A verb counts where a part of the request opens with it (after "please", "can you"), so
    "the AMZN share price" and "to call the plumber" ask for no action. "" when there is none.
    Linear; never raises."""
    try:
        carried = _carried(tool_texts)
        return next((word for word in _openings(task) if word in _ACTIONS
                     and not any(stem in carried for stem in _ACTIONS[word])), "")
    except Exception:  # user input: a check skipped is better than a run broken
        return ""


# Verbs that work a thing ("Start the dishwasher", "Turn on the lights"): the request fits a tool only if some
# tool's text carries the thing too. The words between the verb and its thing are skipped.
_WORKS = frozenset("start stop turn switch lock unlock".split())  # not "open": "Open config.ini" reads a file
_BEFORE_THING = frozenset("on off up down the a an my our your his her their this that these those".split())
_BETWEEN = frozenset("to in at for from with by of".split())


def unfit_object(task: str, tool_texts: Iterable[str]) -> str:
    """The thing a request works that no tool's text carries: "the dishwasher" of "Start the dishwasher on the eco
    programme." where the tools set timers and reminders (set_timer's text carries "start", not "dishwasher");
    "Start a 20 minute timer" fits ("minute" is carried; a number is skipped). "" when there is none. Linear;
    never raises."""
    try:
        carried = _carried(tool_texts)
        for said in _requests(task, 12):
            if not said or said[0] not in _WORKS:
                continue
            at = next((i for i, w in enumerate(said[1:], 1) if w not in _BEFORE_THING), 0)
            if at and len(said[at]) >= 3 and said[at][:5] not in carried:  # "the living room lights"
                return " ".join(["the", *itertools.takewhile(lambda w: w not in _BEFORE_THING | _BETWEEN,
                                                             said[at:at + 3])])
        return ""
    except Exception:  # user input: a check skipped is better than a run broken
        return ""


def _requests(task: str, limit: int) -> list[list[str]]:
    """Each part of a request as its first ``limit`` words, casefolded, after "please", "can you" and the like."""
    out = []
    for part in _PART.split(task[:4000])[:100]:
        said = [w.casefold() for w in _LEADING_WORD.findall(part.strip())[:limit]]
        out.append(said[next((i for i, w in enumerate(said) if w not in _LEAD_INS), len(said)):])
    return out


def _openings(task: str) -> list[str]:
    """The word each part of a request opens with, after "please", "can you" and the like, casefolded."""
    return [said[0] for said in _requests(task, 8) if said]


def asked_tools(task: str, tools: Iterable[str]) -> list[str]:
    """The tools (of ``tools``: names) whose name's verb opens a part of the request: "Define 'sonder', and
    translate 'good morning' into German." asks for translate. Linear; never raises."""
    try:
        opened = {singular(w) for w in _openings(task)}
        return [name for name in tools if (verb := _verb(name)) and singular(verb) in opened]
    except Exception:  # user input: a check skipped is better than a run broken
        return []


# What a question asks for: "What's the air quality index in Paris today?" asks for "air quality index",
# "whats portugal's capital" for "capital". The thing runs from after its determiner to a preposition or
# the end; an "of" part belongs to it ("the status of Li Wei's order").
_ASKING = re.compile(r"\b(?:what(?:'s|’s|\s+is|\s+was|\s+are|\s+were)|whats|how\s+(?:high|low|much|many|big|bad|good|"
                     r"strong|long|far|old|tall|warm|cold|hot)\s+(?:is|are|was|were)|show\s+me|tell\s+me|give\s+me|"
                     r"get\s+me|check)\s+((?:the|my|a|an|your|our|today'?s|tonight'?s|tomorrow'?s|(?!(?:what|that|it|there|here|who|"
                     r"where|how|let|he|she)'s)\w+'s)\s+[^\n]{1,120})",
                     re.IGNORECASE)
_DETERMINER = re.compile(r"^(?:(?:the|my|a|an|your|our|this|that|today'?s|tonight'?s|tomorrow'?s|[\w-]+'s)\s+)+",
                         re.IGNORECASE)
_THING_END = re.compile(r"\s+(?:in|on|at|for|from|to|with|by|between|like|near|right|now|today|tomorrow|tonight|"
                        r"and|or|is|are|was|were|do|does|did|has|have|i|you|we|please)\b|[,.;:!?\"“(]|'(?!s\b)|$",
                        re.IGNORECASE)
# Words that say when or whose, not what: "the live score", "the current weather".
_QUALIFIERS = frozenset("current latest live local recent last new next real actual exact".split())
# Words that ask about now or about the user's own things: no model knows them without a tool.
_NOW = re.compile(r"\b(?:today|tonight|tomorrow|weekend|now|currently|current|"
                  r"live(?!\s+(?:in|at|on|with|near|here|there)\b)|latest|this\s+(?:morning|week|month)|my|our|mine)\b",
                  re.IGNORECASE)


def asked_thing(task: str) -> str:
    """The thing the first question of ``task`` asks for ("air quality index", "capital of Norway"), or "".
    Linear; never raises."""
    try:
        found = _ASKING.search(task[:4000])
        if found is None:
            return ""
        rest = found.group(1)[_DETERMINER.match(found.group(1)).end():]  # type: ignore[union-attr]
        head = rest[:_THING_END.search(rest).start()].strip()  # type: ignore[union-attr]
        if re.match(r"of\s", rest[len(head):].lstrip(), re.IGNORECASE):
            tail = rest[len(head):].lstrip()[3:]
            owner = _DETERMINER.match(tail)
            tail = tail[owner.end() if owner else 0:]
            head = f"{head} of {tail[:_THING_END.search(tail).start()].strip()}"  # type: ignore[union-attr]
        return head if re.search(r"[A-Za-z]", head) else ""
    except Exception:  # user input: a check skipped is better than a run broken
        return ""


def _base(word: str) -> str:
    """A word without the ending a verb, plural or comparison adds, cut to six letters: "drive" and "driving"
    are "driv", "prices" and "price" "pric"."""
    stripped = True
    while stripped:  # "ordered" -> "order" -> "ord", as "order" -> "ord"
        stripped = False
        for ending in ("ings", "ing", "ers", "er", "ed", "es", "e", "s"):
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                word, stripped = word[:-len(ending)], True
                break
    return word[:6]


# Words of a request that say nothing of what it asks a tool for.
PLAIN_WORDS = frozenset("""what whats the and how many much high low big long far old does did can could would will you
your yours mine i'm we our its it's there here this that these those please pls now right today tonight tomorrow
yesterday current currently latest live tell show give get find check let know need want like about some any which
who whom when where why than then also just been being have has had not yes okay hey for from with into are was
were is be am do of in on at to by or but so very really""".split())


def unfit_thing(task: str, tool_texts: Iterable[str]) -> str:
    """The thing a question asks for (``asked_thing``) when no word of the request (outside quotes) is a word of
    any tool's text (name, description, parameters): "air quality index" where only get_weather is offered,
    "capital of Norway" where get_population is. "" when a word fits a tool, or the question asks for no thing.
    A word in capitals (three letters or more), a number or a file name is a value, not a thing: tools take
    values by their form, so a request with one is left to them. Linear; never raises."""
    try:
        thing = asked_thing(task)
        if not [w for w in re.findall(r"[a-z]+", thing.casefold()) if w not in PLAIN_WORDS and w not in _QUALIFIERS]:
            return ""
        plain = _QUOTES.sub(" ", task[:4000])
        if re.search(r"\b[A-Z]{3,}\b|\d", plain) or named_files(plain):
            return ""
        return "" if shares_words(plain, tool_texts) else thing
    except Exception:  # user input: a check skipped is better than a run broken
        return ""


def shares_words(task: str, tool_texts: Iterable[str], but: Iterable[str] = ()) -> bool:
    """Whether a word of ``task`` (three letters or more, not a plain word such as "what" or "today", nor one of
    ``but``) is a word of a tool's text, its ending aside ("drive" and "driving"). Linear; never raises."""
    try:
        left_out = {w for name in list(but)[:20] for w in re.findall(r"[a-z]+", str(name)[:200].casefold())}
        said = [w for w in re.findall(r"[a-z]+", task[:4000].casefold()) if len(w) >= 3 and w not in PLAIN_WORDS
                and w not in left_out]
        carried = {_base(w) for text in list(tool_texts)[:200]
                   for w in re.findall(r"[a-z]+", str(text)[:4000].casefold()) if len(w) >= 3}
        return any(_base(w) in carried for w in said)
    except Exception:  # user input
        return False


def asks_about_now(task: str) -> bool:
    """Whether ``task`` asks about now or about the user's own things ("today", "live", "my"): what no model
    knows without a tool. Linear; never raises."""
    try:
        return _NOW.search(task[:4000]) is not None
    except Exception:  # user input
        return False


_NAME = re.compile(r"(?<![\w'’])([A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+){0,3})(?!\w|['’](?!s\b))")
_SENTENCE = re.compile(r"(?<=[.?!])\s+")
# Capitalised words that open a sentence rather than a name ("What", "Has John Smith ...").
_OPENERS = frozenset("""i what whats which who where when why how is are was were do does did has have had can could
would will should please the a an my our this that it there hey hi ok so and but then also hello dear thanks
today tonight tomorrow yesterday monday tuesday wednesday thursday friday saturday sunday on in at""".split())


def people(task: str) -> list[str]:
    """The names in ``task`` written as a person's name is: capitalised words ("Alice", "Li Wei"). A single word
    that opens a sentence is no name ("Send", "Tomorrow"); "Li Wei is asking" opens with two. Places look the
    same ("Tokyo"): what takes a name decides. Linear; never raises."""
    try:
        found: list[str] = []
        for sentence in _SENTENCE.split(_QUOTES.sub(" ", task[:4000]))[:100]:
            for match in _NAME.finditer(sentence):
                parts = match.group(1).split()
                if not sentence[:match.start()].strip(" \t\n\"'(“"):
                    if parts[0].casefold() in _OPENERS | SENTENCE_OPENERS or parts[0].casefold() in _ACTIONS:
                        parts = parts[1:]
                    elif len(parts) == 1:
                        continue
                name = " ".join(parts)
                if name and name not in found:
                    found.append(name)
        return found[:10]
    except Exception:  # user input
        return []


def is_question(task: str) -> bool:
    """Whether ``task`` asks a question (a question mark outside quotes). Linear; never raises."""
    try:
        return "?" in _QUOTES.sub(" ", task[:4000])
    except Exception:  # user input
        return False


_BACK = re.compile(rf"\b(?:there|here)\W*$|{RECALL.pattern}", re.IGNORECASE)


def points_back(task: str) -> bool:
    """Whether ``task`` points at a place or thing it does not name: a sentence that ends "there" or "here"
    ("How long does it take to drive there?"), or "the song I told you about". Linear; never raises."""
    try:
        return any(_BACK.search(s) for s in _SENTENCE.split(_QUOTES.sub(" ", task[:4000]))[:100])
    except Exception:  # user input
        return False


# Verbs of writing a model does itself: "Rewrite this to sound more polite: '...'".
# Not "explain": "Explain how to get to the station" is get_directions'.
_OWN_WORK = frozenset("write rewrite rephrase reword draft compose summarise summarize paraphrase proofread shorten".split())


def own_work(task: str, tool_texts: Iterable[str]) -> str:
    """The verb of a request for writing the model does itself ("Rewrite this to sound more polite: 'Send me
    the file now.'"), when no word of the request outside quotes is a word of any tool's text; else "" ("Write
    to Keiko by email ..." is send_email's). Linear; never raises."""
    try:
        verb = next(iter(_openings(task)[:1]), "")
        if verb not in _OWN_WORK:
            return ""
        return "" if shares_words(_QUOTES.sub(" ", task[:4000]), tool_texts) else verb
    except Exception:  # user input
        return ""


_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|" \
         r"nov(?:ember)?|dec(?:ember)?)"
_DATED = re.compile(rf"\b((?:19|20)\d\d)-\d\d-\d\d\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+((?:19|20)\d\d)\b|"
                    rf"\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_DATE_PARAMETER = re.compile(r"\b(?:date|day|when|time|year|since|from|until|history|historical)\b", re.IGNORECASE)


def past_date(task: str, year: int) -> str:
    """The first date in ``task`` with a year before ``year`` ("3 January 2020", "2019-05-01"), or "". Linear;
    never raises."""
    try:
        for found in _DATED.finditer(task[:4000]):
            if int(next(g for g in found.groups() if g)) < year:
                return found.group(0)
        return ""
    except Exception:  # user input
        return ""


def dateless(tools: Iterable[tuple[str, str, dict[str, object]]], task: str) -> bool:
    """Whether the tools (name, description, JSON Schema parameters) that share a word with ``task`` are some, and
    none of them takes a date: asked about a past day, such tools can only give today's value. Never raises."""
    try:
        sharing = [(d, p) for n, d, p in list(tools)[:200] if shares_words(task, [n.replace("_", " "), d, str(p)])]
        return bool(sharing) and not any(_DATE_PARAMETER.search(f"{name} {spec}"[:500]) for _, p in sharing
                                         for name, spec in dict(p.get("properties") or {}).items())  # type: ignore[union-attr]
    except Exception:  # a tool's schema: a check skipped is better than a run broken
        return False


# Words before a tool's noun that say which or how many, not what kind: "me restaurants", "two timers".
# Nor how good, how dear or where: "cheap", "nearby", "romantic" restaurants are no cuisine (a review found
# them taken for one).
_NOT_KINDS = frozenset("""a an the my your our their his her its me us them some any this that these those few many
more most other another every each all one two three four five six seven eight nine ten good nice best new great
top cheap expensive pricey affordable budget nearby near local close popular famous decent romantic quiet fancy
cozy cosy family quick fast small big little large open late authentic real proper""".split())


_KIND_EXAMPLE = re.compile(r"\be\.g\.,?\s+[a-z]{3,}(?![\w-])")


def kind_option(task: str, tool: str, schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, str]:
    """{parameter: word} where the user put a word of kind on the tool's noun ("a seafood restaurant", "thai
    restaurants"), the tool has exactly one optional free-text parameter whose description's example is such a
    word ("a cuisine, e.g. thai"), and the call gives it nothing and
    holds that word nowhere: cuisine 'seafood' for find_restaurants. A word after a number is a unit ("25 minute
    timer"), and none is read then. Linear; never raises."""
    try:
        properties = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(properties, dict) or not isinstance(arguments, dict):
            return {}
        required = set(schema.get("required") or [])
        # One whose description's example is such a word ("a cuisine, e.g. thai"); not an encoding's "utf-8".
        open_text = [n for n, spec in list(properties.items())[:50] if n not in required and isinstance(spec, dict)
                     and spec.get("type") == "string" and "enum" not in spec and "format" not in spec
                     and _KIND_EXAMPLE.search(str(spec.get("description", ""))[:500])]
        if len(open_text) != 1 or arguments.get(open_text[0]) not in (None, ""):
            return {}
        said = re.findall(r"[A-Za-z][\w'-]*|\d+", task[:4000])
        nouns = _nouns(tool)
        kinds = [said[i - 1] for i in range(1, len(said)) if singular(said[i].casefold()) in nouns
                 and said[i - 1].isalpha() and said[i - 1].islower() and len(said[i - 1]) >= 3
                 and said[i - 1] not in _NOT_KINDS and said[i - 1] not in PLAIN_WORDS and not said[i - 1].endswith("est")
                 and (i < 2 or not said[i - 2].isdigit())]
        given = {w for v in arguments.values() for w in re.findall(r"[a-z]+", str(v)[:200].casefold())}
        kinds = [k for k in dict.fromkeys(kinds) if k not in given]
        return {open_text[0]: kinds[0]} if len(kinds) == 1 else {}
    except Exception:  # user input: a call left as it was is better than a run broken
        return {}
