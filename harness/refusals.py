"""Calls the harness will not run as the model wrote them, and what it names instead.

A call the schema allows can still be wrong: a value the user never gave, a code made from the user's
word, our examples' wording in place of the user's, a value another tool finds, prose written before the
tool it is to come from has run. ``Refusals._refusal`` says why such a call is not run; the next action
is then named (a lookup, the call again, the tool the task asks for) and the values it may take pinned
(``_pin``). Once a lookup has run, the hints (``_fill_hint``, ``_then_hint``, ``_write_hint``,
``_sibling_hint``) name the refused call with the values found. ``_coded`` and ``_person`` choose a run's
first call by the same reading.

A part of Agent (a mixin): it reads the conversation and writes only the turn record it is given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from harness import events as ev
from harness.claims import (GENERIC_VERBS, PLAIN_WORDS, asks_for, is_question, named_tools, names_tool, people,
                            points_back, same_part, shares_words)
from harness.grounding import (DAYS_AND_MONTHS, MAX_WORDS, PHRASE_WORDS, close_words, copied_arguments, exact_codes,
                               example_wording, expected_form, found_value, made_codes, mentions, message_words,
                               misshapen_arguments, provider, said_part, singular, spans, text_values,
                               ungrounded_arguments, words)
from harness.prompt import example_lines, question_for
from harness.run import Run
from harness.siblings import siblings
from harness.techniques import Techniques
from harness.toolcalls import ToolCall
from harness.tools import Tool, ToolSet, canonical_json

GUESSED = "Not run: the user never gave"
_WORDS = re.compile(r"[^\W_]+")  # case kept: a common noun is the user's in lower case


def fold(value: object) -> str:
    """A value as compared with another: text, trimmed, without case ("Cairo" is "cairo")."""
    return str(value).strip().casefold()


def tool_texts(tools: Iterable[Tool]) -> list[str]:
    """The words a tool fit is read against (claims.unfit_action and its kin): each tool's name, description and
    parameters."""
    return [text for t in tools for text in (t.name.replace("_", " "), t.description, json.dumps(t.parameters))]


class Refusals:
    """Agent's rules for calls: why one is not run, and what comes next instead."""

    if TYPE_CHECKING:  # Agent's
        tools: ToolSet
        turns: list[ev.TurnRecord]
        techniques: Techniques

        def _grounds(self) -> str: ...
        def _user_said(self) -> str: ...
        def _system_text(self) -> str: ...

    def _refusal(self, call: ToolCall, said: str, allowed: tuple[str, ...] | None,
                 record: ev.TurnRecord, unsure: bool = False, task: str = "") -> str | None:
        """Why the harness will not run a call the schema allows: outside the step's tools, a guess, or a
        value in a form its parameter rules out (the tool to find it goes in ``record.lookup_for``)."""
        if allowed and call.name not in allowed:
            return f"Not run: {call.name!r} is not one of this step's tools ({', '.join(allowed)})."
        tool = self.tools.get(call.name)
        home = self._home(call, said, allowed)
        if home is not None:
            return self._send_home(call, *home, record)
        thing = self._thing_home(call, allowed)
        if thing is not None:
            return self._send_thing(call, *thing, record)
        asked = self._asked_instead(call, task, allowed)
        if asked is not None:
            record.pending = [asked]
            return f"Not run: the task asks for what {asked} gives, and for nothing {call.name} gives. Call {asked} instead."
        unread = self._unread_source(call, task, allowed)
        if unread is not None:
            source, parameter = unread
            record.pending = [source]
            record.write_from.append((source, call.name, parameter))
            required = self._required(source)
            if len(required) == 1:  # a piece of the task that does not name the tool ("onboarding project")
                self._pin(record, source, required[0], [s for s in spans(task) if not names_tool(s, source)
                                                        and not names_tool(s, call.name)])
            return (f"Not run: {parameter} is to come from what {source} finds, which the task speaks of, and "
                    f"{source} has not run. Call {source} first, then write {parameter} from its result.")
        if self.techniques.grounding and tool is not None:
            guessed = ungrounded_arguments(call.arguments, tool.parameters, said)
            for name in guessed:
                value = call.arguments[name]
                # Only text is repaired: a number nobody gave is no near copy of one they did.
                close = close_words(value, said) if isinstance(value, str) else None
                kept = said_part(value, self._user_said()) if isinstance(value, str) and not close \
                    and self.techniques.repair else None
                kept = kept or (self._unused_code(call, name) if isinstance(value, str) and not close
                                and self.techniques.repair else None)
                if kept:  # "Keiko Kim" for "Write to Keiko": the surname was made up; 'AAPL' for "AMZN"
                    call.arguments[name] = kept
                elif not close:
                    return self._find_or_ask(call, [(name, f"({str(value)!r} is a guess)", "")], record, allowed, unsure, task)
                elif self.techniques.repair:  # a near copy ("Lisboa" for "Lisbon"): the user's word, and it runs
                    call.arguments[name] = close
                else:  # the tool stays on offer
                    return f"Not run: the user wrote {close!r}, not {value!r}. Call again with {name}={close!r}."
        rewrite, rewritten = None, ""
        if self.techniques.copied and tool is not None:
            copied = copied_arguments(call.arguments, tool.parameters, said, self._system_text(), call.name)
            # Prose, not a value that points back at what was said before ("the song I told you about").
            prose = [n for n in copied if len(str(call.arguments[n]).split()) >= PHRASE_WORDS
                     and not points_back(str(call.arguments[n]))]
            if copied and prose == copied:
                # Text the model composes (an email body) with our examples' wording in it: the tool stays on
                # offer, to write it again. Seen with the 0.5B model: asked to find or ask for a body
                # ("I'm sorry, but I can't do that: none of my tools can."), it gave up.
                # Where the user said what the message is to say, those words. Seen with the 0.5B model: told to
                # write the body "from the user's request", it wrote the examples' decline again, twice.
                said_message = message_words(self._user_said()) if self.techniques.repair else ""
                if said_message:
                    self._pin(record, call.name, prose[0], [said_message])
                rewritten = prose[0]
                rewrite = (f"Not run: {prose[0]} is wording from our examples, not what the user asked for. Call "
                           f"{call.name} again with {prose[0]} " + (f"saying what the user said: {said_message!r}."
                                                                    if said_message else "written from the user's request."))
            elif copied:
                value = str(call.arguments[copied[0]])[:60]
                # "OSL" (the description's example) for the user's "Oslo": look the user's word up.
                return self._find_or_ask(call, [(copied[0], f"({value!r} is a placeholder or our wording, not theirs)",
                                                 self._user_word(value, said))], record, allowed, unsure, task)
        if self.techniques.copied and tool is not None and rewrite is None:
            # Composed of the examples' words and none of the user's ("I'm ordering a taxi to the station." as
            # the body of "Send an email to alice.moreau@example.org."): the user never said it; ask.
            composed = example_wording(call.arguments, tool.parameters, said, example_lines(self._system_text()))
            said_message = message_words(self._user_said()) if composed and self.techniques.repair else ""
            if composed and said_message and self._parameter(call.name, composed[0]).get("type", "string") == "string":
                # Where the user said what the message is to say, those words ("a reminder that the review is
                # coming up": seen with the 0.5B model, the body "I'm running late.", then asked for a body).
                self._pin(record, call.name, composed[0], [said_message])
                rewritten = composed[0]
                rewrite = (f"Not run: {composed[0]} is wording from our examples, not what the user asked for. Call "
                           f"{call.name} again with {composed[0]} saying what the user said: {said_message!r}.")
            elif composed and any(r.ok for t in self.turns for r in t.results) and \
                    self._parameter(call.name, composed[0]).get("type", "string") == "string":
                # With results in, there is something to write it from: written again, not asked for (a lookup
                # the call needs is named first). Seen with the 0.5B model: "Bob needs the server port. Look it
                # up in config.ini and email it to him." asked the user for a subject line.
                # With pin, a piece of what the user said ("server port"): told to write it again, it wrote the same.
                rewritten = composed[0]
                if len(str(call.arguments[composed[0]]).split()) <= MAX_WORDS:  # a subject, not a body
                    self._pin_said(record, call.name, composed[0])
                rewrite = (f"Not run: {composed[0]} is wording from our examples, not what the user asked for. Call "
                           f"{call.name} again with {composed[0]} written from the user's request.")
            elif composed:
                value = str(call.arguments[composed[0]])[:60]
                return self._find_or_ask(call, [(composed[0], f"({value!r} is our examples' wording, not theirs)", "")],
                                         record, allowed, unsure, task)
        if self.techniques.shapes and tool is not None:
            misshapen = misshapen_arguments(call.arguments, tool.parameters, said)
            if misshapen:
                name, form, rewritable = misshapen[0]
                value = str(call.arguments[name])[:80]
                if rewritable:
                    return f"Not run: {name} must be {form}, not {value!r}. Call {call.name} again with {name} as {form}."
                # Every value to look up at once ("Rome" and "Lisbon" for airport codes): one turn, not two.
                wanted = [(n, f"{f} ({str(call.arguments[n])[:80]!r} is not)", self._user_word(str(call.arguments[n]), said))
                          for n, f, r in misshapen if not r]
                # And a code made from the user's word beside them ("OSL" from "Oslo" beside "PARIS"). Seen with
                # the 0.5B model: asked for that lookup a turn later, it dropped the code it had found first.
                skip = {w[0] for w in wanted}
                return self._find_or_ask(call, wanted + [w for w in self._made(call, said, allowed) if w[0] not in skip],
                                         record, allowed, unsure, task)
        # "CHI" for the user's "Chicago" where get_airport_code could say it is ORD: look it up.
        # Seen with the 0.5B model: it searched flights from CHI to TOK, then parroted our note.
        made = self._made(call, said, allowed)
        if made:
            return self._find_or_ask(call, made, record, allowed, unsure, task)
        if rewrite is not None and call.name not in record.pending:
            # The call again is the next action, its other values as they were. Seen with the 0.5B model: told to
            # write the body from what the user said, it answered with those words ("Friday's game is
            # cancelled.") and sent nothing; or sent it twice, once to the made-up address it had used before.
            record.pending.append(call.name)
            for name, value in call.arguments.items():  # never the value refused: it is to be written again
                if name != rewritten and name not in record.pins.get(call.name, {}) and isinstance(value, str | int | float):
                    self._pin(record, call.name, name, [value])
        return rewrite  # after any lookup: that is named first, and the text is asked for again later

    def _unused_code(self, call: ToolCall, parameter: str) -> str | None:
        """The one code in the parameter's form and length the user gave that no call of the conversation
        has used yet: 'AMZN' for get_stock_price's guessed 'AAPL' (the description's example) in "weather
        in London and the AMZN share price". None when there is none, or several."""
        spec = self._parameter(call.name, parameter)
        codes = set(exact_codes(self._user_said(), spec))
        guess = str(call.arguments.get(parameter, ""))
        if not codes and guess and f"e.g. {guess}" in str(spec.get("description", "")):
            # For the description's own example ('AAPL'), one the user wrote in lower case ("amzn price?"): the one
            # word, not a plain one and no word a person can say (three consonants in a row, or no vowel: "amzn",
            # "chf"; not "one"), that has the form once in capitals. Seen with the 0.5B model: 'AAPL' for "amzn",
            # then "Sorry, I can't".
            lower = [w for w in re.findall(r"\b[a-z]+\b", self._user_said()[-4000:]) if w not in PLAIN_WORDS
                     and (re.search(r"[^aeiouy]{3}", w) or not re.search(r"[aeiouy]", w))]
            codes = set(exact_codes(" ".join(dict.fromkeys(w.upper() for w in lower)), spec))
        used = {fold(v) for t in self.turns for c in t.calls for v in c.arguments.values()}
        fresh = [c for c in codes if fold(c) not in used]
        return fresh[0] if len(fresh) == 1 else None

    def _coded(self, task: str) -> str | None:
        """With shapes: the one tool whose one required parameter shows a code's form by an example ("the
        ticker symbol, e.g. AAPL") that a word of ``task`` has exactly (its pattern, and the example's
        length: "NVDA"); None when no tool, or several, take such a word. Measured with the 0.5B model:
        "What's NVDA trading at?" gave answering 82%, and the answer "NVDA trading at the stock market."."""
        if not self.techniques.shapes:
            return None
        takers = {tool.name for tool in self.tools
                  if (sole := self._sole_parameter(tool)) and exact_codes(task, self._parameter(tool.name, sole))}
        return takers.pop() if len(takers) == 1 else None

    def _called(self) -> set[str]:
        """The tools this conversation has called (run or refused)."""
        return {c.name for t in self.turns for c in t.calls}

    def _speaks_of(self, tool_name: str, task: str) -> bool:
        """Whether ``task`` speaks of the tool: by its noun or verb, or by a word of its text, generic verbs aside
        ("How do I walk to Central Station?" speaks of get_directions' "walking"). An unknown tool counts."""
        tool = self.tools.get(tool_name)
        return tool is None or names_tool(task, tool_name) or bool(named_tools(task, [tool_name])) \
            or shares_words(task, tool_texts([tool]), but=list(GENERIC_VERBS))

    def _named_instead(self, call: ToolCall, task: str, record: ev.TurnRecord) -> str | None:
        """With untried: the one tool, not yet called, that ``task`` names by its noun ("reminder" of
        create_reminder) where it names ``call``'s tool by neither noun nor verb; None otherwise."""
        if not self.techniques.untried or not task or self._speaks_of(call.name, task):
            return None
        called = self._called() | {c.name for c in record.calls}
        named = [t.name for t in self.tools if t.name not in called and names_tool(task, t.name)]
        return named[0] if len(named) == 1 else None

    def _people_found(self) -> list[str]:
        """The one person this conversation's results name that the user did not (claims.people; days and
        months are no people), as [name]; [] when none, or several."""
        prose = [v for t in self.turns for r in t.results if r.ok for v in text_values(r.output)
                 if len(v.split()) >= 3]  # "owner Priya" in a note; not a status "Shipped" nor a city "Paris"
        found = [p for v in prose for p in people(v)
                 if not words(p) & DAYS_AND_MONTHS and not mentions(self._user_said(), p)]
        return found[:1] if len(set(found)) == 1 else []

    def _person(self, task: str) -> tuple[str, str, list[str], list[tuple[str, str]]] | None:
        """With lookup: (tool, its parameter, the names, [(tool, parameter) the lookup gives a value to]) where
        ``task`` is a question that names people (claims.people), exactly one tool looks a person up by name
        alone (its one required parameter is "name"; no approval), and a word of the question is a word of that
        tool or of a tool it gives a value to (lookup_customer's id for get_orders). Seen with the 0.5B model:
        "I want to ring Alice this afternoon. What number should I dial?" gave answering 49% and the answer
        "123-456-7890"; "Li Wei is asking about their order. What's the status?" called track_package with a
        made-up number."""
        if not self.techniques.lookup or not is_question(task):
            return None
        names = people(task)
        takers = [t for t in self.tools if not t.needs_approval and self._required(t.name) == ["name"]
                  and "enum" not in self._parameter(t.name, "name")]  # load_skill's names are its skills
        if not names or len(takers) != 1:
            return None
        taker = takers[0]
        fed = [(t.name, p) for t in self.tools if t is not taker for p in self._required(t.name)
               if provider(p, self._parameter(t.name, p), [(o.name, o.description) for o in self.tools if o is not t])
               == taker.name]
        then = [(t, p) for t, p in fed if shares_words(task, [t.replace("_", " "), self.tools.get(t).description],
                                                       but=names)]  # type: ignore[union-attr]
        if not then and not shares_words(task, [taker.name.replace("_", " "), taker.description], but=names):
            return None
        others = [t.name for t in self.tools if t.name != taker.name and t.name not in {n for n, _ in then}]
        if named_tools(task, others) or any(names_tool(task, t) for t in others):
            return None  # "What's the weather in Lima right now? Email it to Bob.": the weather comes first
        return taker.name, "name", names, then

    def _then_hint(self, record: ev.TurnRecord, run: Run) -> str:
        """After the person decide looked up has been found: the call the task asks for with the value found
        (fill), its value pinned and the call the next action (``record.pending``)."""
        first = run.turns[0]
        if not first.then or len(run.turns) > 2 or not any(r.ok and r.name == first.coded for r in record.results):
            return ""
        found = [(t, p, v) for t, p in first.then for r in record.results if r.ok and r.name == first.coded
                 and (v := found_value(r.output, p, self._parameter(t, p))) is not None]
        if not found:
            return ""
        tool, parameter, value = found[0]
        self._pin(record, tool, parameter, [value])
        record.pending = [tool]
        return f"Now call {tool} with {parameter} {value!r}, from this result."

    def _write_hint(self, record: ev.TurnRecord, run: Run) -> str:
        """After the tool a refused call's prose was to come from has run (Agent._unread_source): that call again
        is the next action, its other sound values pinned."""
        at = next((i for i in range(len(run.turns) - 2, -1, -1) if run.turns[i].write_from), None)
        ran = {r.name for r in record.results if r.ok}
        if at is None:
            return ""
        for source, tool_name, parameter in run.turns[at].write_from:
            if source in ran and not any(r.ok and r.name == tool_name for t in run.turns[at + 1:] for r in t.results):
                record.pending = [tool_name]
                self._pin_rest(record, run.turns[at], tool_name, {parameter})
                # With pin, the result's own text ("Note: onboarding project -- discussed on Tuesday, ..."). Seen
                # with the 0.5B model: told to write the body from the notes found, it sent the made-up one again.
                if self._parameter(tool_name, parameter).get("type", "string") == "string":
                    self._pin(record, tool_name, parameter, [v for r in record.results if r.ok and r.name == source
                                                             for v in text_values(r.output) if 0 < len(v) <= 500][:20])
                return f"Now call {tool_name} again, with {parameter} written from this result."
        return ""

    def _sole_parameter(self, tool: Tool) -> str | None:
        """The one required parameter of a tool that asks no approval (a lookup such as get_stock_price's
        symbol), when its description shows a form; None otherwise."""
        required = self._required(tool.name)
        if len(required) != 1 or tool.needs_approval or expected_form(self._parameter(tool.name, required[0])) is None:
            return None
        return required[0]

    def _home(self, call: ToolCall, said: str,
              allowed: tuple[str, ...] | None) -> tuple[str, str, list[tuple[str, str, str]]] | None:
        """With shapes and lookup: (tool, its parameter, [(parameter, form, value)]) where values the user gave
        are not in the form of the call's parameters but are in the form of the one required parameter of
        exactly one other tool: 'MSFT' for get_exchange_rate's base ("three-letter code, e.g. USD") is a
        symbol for get_stock_price ("e.g. AAPL"). None otherwise."""
        tool = self.tools.get(call.name)
        if not (self.techniques.shapes and self.techniques.lookup) or tool is None:
            return None
        heard = words(self._user_said())
        wrong = [(name, form, str(call.arguments[name])) for name, form, rewritable in
                 misshapen_arguments(call.arguments, tool.parameters, said)
                 if not rewritable and str(call.arguments[name]).strip().casefold() in heard]
        if not wrong:
            return None
        homes = [(other, sole) for other in self._others(call.name, allowed) if (sole := self._sole_parameter(other))
                 and not misshapen_arguments({sole: wrong[0][2]}, other.parameters, said)]
        if len(homes) != 1:
            return None
        other, parameter = homes[0]
        fits = [w for w in wrong if not misshapen_arguments({parameter: w[2]}, other.parameters, said)]
        return other.name, parameter, fits

    def _thing_home(self, call: ToolCall, allowed: tuple[str, ...] | None) -> tuple[str, str, str, str, str] | None:
        """With lookup: (tool, its one required parameter, the call's parameter, its value, the noun) where a value
        of two words or more ends in the noun of exactly one other tool, one that asks no approval and has not
        run: 'Vendor Audit Note' for get_contact's name is a note, and search_notes finds notes. None otherwise."""
        # Only a lookup's one key (get_contact's name), never text the call carries (a reminder's "Check the
        # weather", an email's subject "Meeting notes").
        required = self._required(call.name)
        value = call.arguments.get(required[0]) if len(required) == 1 else None
        if not self.techniques.lookup or not isinstance(value, str):
            return None
        said = _WORDS.findall(value[:200])
        # The user's common nouns: "the vendor audit note" says "note" in lower case; "Nora Weather" is a name.
        if len(said) < 2 or (noun := said[-1].casefold()) not in set(_WORDS.findall(self._user_said()[-4000:])):
            return None
        called = self._called()
        homes = [(other.name, keys[0]) for other in self._others(call.name, allowed)
                 if names_tool(noun, other.name) and not other.needs_approval and other.name not in called
                 and len(keys := self._required(other.name)) == 1]
        return (*homes[0], required[0], value, singular(noun)) if len(homes) == 1 else None

    def _asked_instead(self, call: ToolCall, task: str, allowed: tuple[str, ...] | None) -> str | None:
        """With untried: the one tool, not yet called, that a question word of ``task`` asks for (claims.asks_for:
        "warmer" for get_weather) where the task says nothing of ``call``'s tool; None otherwise. Seen with the
        0.5B model: "Which is warmer right now, Paris or Madrid?" called get_time for both."""
        if not self.techniques.untried or not task or self._speaks_of(call.name, task):
            return None
        called = self._called()
        asked = [t for t in asks_for(task, [o.name for o in self._others(call.name, allowed)]) if t not in called]
        return asked[0] if len(asked) == 1 else None

    def _unread_source(self, call: ToolCall, task: str, allowed: tuple[str, ...] | None) -> tuple[str, str] | None:
        """With untried: (tool, parameter) where the call writes prose the user did not dictate (PHRASE_WORDS words
        or more) while the task names by its noun exactly one other tool, one that asks no approval and has not
        run: "Email Alice a short summary of my notes on the onboarding project." sends a body before
        search_notes has read the notes. None otherwise."""
        if not self.techniques.untried or not task or message_words(self._user_said()):
            return None
        prose = [name for name, value in call.arguments.items() if isinstance(value, str)
                 and len(value.split()) >= PHRASE_WORDS and not mentions(self._user_said(), value)]
        if not prose:
            return None
        called = self._called()
        # Named in the part that asks for the call, and not by the prose itself: "... and set a timer" or a
        # reminder to "check the weather" are no source of what the call says.
        sources = [t.name for t in self._others(call.name, allowed)
                   if not t.needs_approval and t.name not in called and same_part(task, call.name, t.name)
                   and not any(names_tool(str(call.arguments[n]), t.name) for n in prose)]
        return (sources[0], prose[0]) if len(sources) == 1 else None

    def _send_thing(self, call: ToolCall, home: str, parameter: str, name: str, value: str, noun: str,
                    record: ev.TurnRecord) -> str:
        """The refusal for a value that names what another tool finds (``_thing_home``): that tool, called with
        it, is the next action, and the refused call is named after it with what it found (fill). Seen with the
        0.5B model: "Who owns the vendor audit note? I'd like their phone number." called get_contact with name
        'Vendor Audit Note', and then made up a number."""
        record.lookup_for.append((home, call.name, name, value))
        self._pin(record, home, parameter, [value])
        return (f"{GUESSED} {name} {value!r}: that is a {noun}, and {home} finds it. Call {home} with {parameter} "
                f"{value!r} first.")

    def _send_home(self, call: ToolCall, home: str, parameter: str, wrong: list[tuple[str, str, str]],
                   record: ev.TurnRecord) -> str:
        """The refusal for values that are another tool's (``_home``): that tool, called with them, is the next
        action (``record.lookup_for``), and the refused call's values it returns are named after it (fill).
        Seen with the 0.5B model: "Which one trades higher, MSFT or AMZN?" called get_exchange_rate with base
        'MSFT' and quote 'AMZN'; "one AAPL share in euros", convert_currency from 'AAPL' with amount 1.4."""
        for name, _, value in wrong:
            record.lookup_for.append((home, call.name, name, value))
        self._pin(record, home, parameter, [value for _, _, value in wrong])
        reasons = " or ".join(f"{name} {form} ({value!r} is not)" for name, form, value in wrong)
        values = " and with ".join(f"{parameter} {value!r}" for _, _, value in wrong)
        return (f"{GUESSED} {reasons}: {'they are' if len(wrong) > 1 else 'it is'} {home}'s {parameter}. "
                f"Call {home} with {values} first.")

    def _made(self, call: ToolCall, said: str, allowed: tuple[str, ...] | None) -> list[tuple[str, str, str]]:
        """With lookup, the values made from a word the user said (grounding.made_codes) that another tool
        finds, as _find_or_ask wants them: (parameter, why, the word)."""
        tool = self.tools.get(call.name)
        if not self.techniques.lookup or tool is None:
            return []
        return [(n, f"({call.arguments[n]!r} is a guess made from {word!r})", word)
                for n, word in made_codes(call.arguments, tool.parameters, said) if self._finder(call.name, n, allowed)]

    @staticmethod
    def _user_word(value: str, said: str) -> str:
        """The user's (or a result's) word that a value in the wrong form stands for: "Rome" itself, or
        "Lisbon" for "LISBO" and "Oslo" for "OSL" (a cut or misspelt copy); "" when there is none."""
        if len(value.strip()) < 3:
            return ""
        return close_words(value, said) or ""

    def _others(self, tool_name: str, allowed: tuple[str, ...] | None) -> list[Tool]:
        """The tools other than ``tool_name`` that may run now (the step's, if it names them)."""
        return [t for t in self.tools if t.name != tool_name and (not allowed or t.name in allowed)]

    def _finder(self, tool_name: str, parameter: str, allowed: tuple[str, ...] | None) -> str | None:
        """The other tool whose description says it finds a value for ``parameter`` (grounding.provider)."""
        listed = [(t.name, t.description) for t in self._others(tool_name, allowed)]
        return provider(parameter, self._parameter(tool_name, parameter), listed)

    def _find_or_ask(self, call: ToolCall, wanted: list[tuple[str, str, str]], record: ev.TurnRecord,
                     allowed: tuple[str, ...] | None, unsure: bool = False, task: str = "") -> str:
        """A refusal for values the model does not have, each (parameter, why, the user's word for it or
        ""): look them up with another tool, or ask. (Its GUESSED opening withholds the tool and offers
        ask_user next turn: see _action_schema.) With ``lookup``, the tool whose description says it
        returns such a value is named, and is the only other action next turn; the user's own word in the
        wrong form ("Lisbon" for an airport code) is what to call it with when it takes one required
        value. Measured with the 0.5B model: told "with what the user gave", it looked up the origin's
        city again for the destination. Further values the same tool finds are named too ("with city
        'Rome' and with city 'Lisbon'"), so one action makes both lookups."""
        # Not a value the call already gives another parameter: a stock's "currency": "USD" is no target
        # currency for the convert_currency call that converts from it. (Seen with the 0.5B model.)
        used = {fold(v) for v in call.arguments.values()}
        known = [(parameter, value) for parameter, _, _ in wanted
                 if self.techniques.fill and (value := self._known(call.name, parameter))
                 and fold(value) not in used]
        if known and len(known) == len(wanted):
            # A result already holds it (get_contact's email, before send_email was called with a guess). Seen
            # with the 0.5B model: told to call get_contact first, it declined with Bob's address in view.
            record.pending, record.filled = [call.name], True
            for parameter, value in known:
                self._pin(record, call.name, parameter, [value])
            values = " and ".join(f"{parameter} {value!r}" for parameter, value in known)
            return (f"Not run: {wanted[0][0]} {wanted[0][1]}. A result above gives it: call {call.name} again "
                    f"with {values}.")
        others = self._others(call.name, allowed)

        def finder_of(parameter: str) -> str | None:
            return self._finder(call.name, parameter, allowed) if self.techniques.lookup else None

        name, why, _ = wanted[0]
        finder = finder_of(name)
        reasons = f"{name} {why}"
        if finder is not None:
            required = self._required(finder)
            # The first value, and those after it that the same tool finds from a word the user gave.
            named = [wanted[0], *(w for w in wanted[1:] if w[2] and len(required) == 1 and finder_of(w[0]) == finder)]
            givens = [given for _, _, given in named if given] if len(required) == 1 else []
            # A lookup by name that the results name one person for: that person. Seen with the 0.5B model: "email
            # its owner" after a note said "owner Priya", told "with what the user gave", it answered.
            found = self._people_found() if required == ["name"] and not givens else []
            for parameter, _, given in named:
                record.lookup_for.append((finder, call.name, parameter,
                                          (given or next(iter(found), "")) if len(required) == 1 else ""))
            reasons = " or ".join(f"{parameter} {why}" for parameter, why, _ in named)
            givens = givens or found
            if len(required) == 1:  # the lookup takes the user's words for it, or else a piece of what was said
                self._pin(record, finder, required[0], givens or self._pieces(finder, required[0], used))
            look_up = (f"{finder} can find {'them' if len(givens) > 1 else 'it'}: call {finder} with "
                       + " and with ".join(f"{required[0]} {given!r}" for given in givens) + " first. ") if givens else \
                f"{finder} can find it: call {finder} first, with what the user gave. "
        elif self.techniques.ask or not others:
            # No tool says it finds such a value: ask. Seen with the 0.5B model: offered "If one of
            # create_event, get_contact, ... can find it" (or one such tool), it made a call from the list
            # with invented values.
            look_up = ""
        else:
            look_up = f"If one of {', '.join(t.name for t in others)} can find it, call that first. "
        question = question_for(name, self._parameter(call.name, name))
        instead = self._named_instead(call, task, record) if not look_up else None
        if instead is not None:
            # The task names another tool by its noun ("set a reminder" where set_timer was called with a guessed
            # length): that tool, not a question. Seen with the 0.5B model: it asked for the timer's length.
            record.instead = instead
            return f"{GUESSED} {reasons}. The task asks for {instead}: call {instead} instead."
        if not look_up and self.techniques.ask and unsure:  # Techniques.unsure: the next action is an answer
            return (f"{GUESSED} {reasons}. If none of your tools can do what the user asked, say you can't; if "
                    f"the user must give it, ask: \"{question}\"")
        return f"{GUESSED} {reasons}. {look_up}{'Else ask' if look_up else 'Ask'} with ask_user: \"{question}\""

    def _known(self, tool_name: str, parameter: str) -> str | None:
        """The one value for ``parameter`` that this conversation's results give in a field named like it
        and in its form (the email of the contact looked up); None when none does, or several differ."""
        spec = self._parameter(tool_name, parameter)
        form = expected_form(spec)
        values = {v for t in self.turns for r in t.results if r.ok and r.name != tool_name
                  and (v := found_value(r.output, parameter, spec, named=True))
                  and (form is None or form[0].fullmatch(v))}
        return values.pop() if len(values) == 1 else None

    @staticmethod
    def _newest_refusal(run: Run) -> int | None:
        """The index of the run's newest turn before this one with a refusal that named a lookup."""
        return next((i for i in range(len(run.turns) - 2, -1, -1) if run.turns[i].lookup_for), None)

    def _fill_hint(self, record: ev.TurnRecord, run: Run) -> str:
        """After a tool named to find refused values has run: the refused call, with every value found
        since the newest refusal (with the user's word, when it named one); or, while a value named
        there is still to look up, that lookup (the next action's only tool)."""
        at = self._newest_refusal(run)
        if at is None or not any(r.ok and r.name in run.turns[at].lookup for r in record.results):
            return ""
        since = [r for t in run.turns[at + 1:] for r in t.results if r.ok]
        found: list[tuple[str, str, Any]] = []
        missing: list[tuple[str, str]] = []
        for finder, tool_name, parameter, given in run.turns[at].lookup_for:
            lookups = [r for r in reversed(since) if r.name == finder and fold(given) in fold(canonical_json(r.arguments))]
            value = next((v for r in lookups
                          if (v := found_value(r.output, parameter, self._parameter(tool_name, parameter))) is not None),
                         None)
            if value is None and lookups and parameter == "name" and self._required(tool_name) == ["name"]:
                # A person to look up by name, from a result that names one in prose ("owner Priya" in a note).
                value = next(iter(self._people_found()), None)
            if value is not None:
                found.append((tool_name, parameter, value))
            elif given and not lookups:  # never looked up (one that found nothing is not asked for again)
                missing.append((finder, given))
        required = self._required(missing[0][0]) if missing else []
        if missing and len(required) == 1:
            record.pending = [missing[0][0]]
            self._pin(record, missing[0][0], required[0], [missing[0][1]])
            return f"Now call {missing[0][0]} with {required[0]} {missing[0][1]!r} too, for the task."
        if not found:
            return ""
        for tool_name, parameter, value in found:
            self._pin(record, tool_name, parameter, [value])
        self._pin_rest(record, run.turns[at], found[0][0], {parameter for _, parameter, _ in found})
        values = " and ".join(f"{parameter} {value!r}" for _, parameter, value in found)
        return f"Now call {found[0][0]} with {values}, from {'these results' if len(found) > 1 else 'this result'}."

    def _refused_calls_done(self, record: ev.TurnRecord, run: Run) -> list[str]:
        """The tools whose call was refused for want of a value and has now run, after the lookup named
        for it: the next action is anything but them. Measured with the 0.5B model: with the flights
        found, it searched again (the same call), which cost the turn its answer needed; the other
        tools stay on offer for a task with more to do ("... and email them to Bob")."""
        at = self._newest_refusal(run)
        if at is None:
            return []
        wanted = run.turns[at].lookup_for
        looked_up = any(r.ok and r.name in {w[0] for w in wanted} for t in run.turns[at + 1:-1] for r in t.results)
        return sorted({r.name for r in record.results if r.ok and r.name in {w[1] for w in wanted}}) if looked_up else []

    def _sibling_hint(self, record: ev.TurnRecord, run: Run) -> str:
        """The calls still to make for values the user listed beside one a call of this run used; their
        tools (``record.pending``) are the next action's only ones."""
        made = {(c.name, k, fold(v)) for t in run.turns for c in t.calls for k, v in c.arguments.items()}
        # Never a tool that changes things: "Email Bob or Alice" asks for one email, not two.
        params = {t.name: list((t.parameters.get("properties") or {})) for t in self.tools
                  if (not run.policy.allowed or t.name in run.policy.allowed) and not t.needs_approval}
        todo: dict[tuple[str, str, str], tuple[str, str, str]] = {}
        for result in (r for t in run.turns for r in t.results if r.ok):
            # Values one call used together are a pair, not a list: "USD/JPY" is base and quote.
            together = {fold(v) for v in result.arguments.values()}
            for parameter, value in result.arguments.items():
                for found, tool_name in siblings(run.task, value, result.name, params):
                    key = (tool_name, parameter, fold(found))
                    # Nor a part of a value a call used: 'york' (a lower-case name read a word at a time) once
                    # "New York" was looked up. Seen with the 0.5B model: told to, it looked up 'york'.
                    within = any(t == tool_name and p == parameter and mentions(v, found) for t, p, v in made)
                    if parameter in params.get(tool_name, ()) and key not in made and fold(found) not in together \
                            and not within:
                        todo[key] = (tool_name, parameter, found)
        if not todo:
            return ""
        for tool_name, parameter, value in list(todo.values())[:4]:
            self._pin(record, tool_name, parameter, self._phrases([value]))
        record.pending = sorted({tool_name for tool_name, _, _ in todo} | set(record.pending))
        return f"Now call {' and '.join(f'{t} with {p} {v!r}' for t, p, v in list(todo.values())[:4])} too, for the task."

    def _pin(self, record: ev.TurnRecord, tool_name: str, parameter: str, values: list[Any]) -> None:
        """With pin: the next action's call of ``tool_name`` may give ``parameter`` only one of ``values`` (in the
        parameter's type; a value that is not of it, or not among the parameter's own enum, is left out)."""
        spec = self._parameter(tool_name, parameter)
        if not self.techniques.pin or not spec:
            return
        kind, typed = spec.get("type", "string"), []
        for value in values:
            if kind in ("number", "integer"):
                try:
                    number = float(str(value).replace(",", ""))
                except ValueError:
                    continue
                if kind == "integer" and not number.is_integer():
                    continue
                value = int(number) if kind == "integer" or number.is_integer() else number
            elif kind == "string":
                value = str(value)
            else:
                continue
            if "enum" not in spec or value in spec["enum"]:
                typed.append(value)
        pinned_values = record.pins.setdefault(tool_name, {}).setdefault(parameter, [])
        pinned_values += [v for v in typed if v not in pinned_values]
        if not pinned_values:
            del record.pins[tool_name][parameter]
            if not record.pins[tool_name]:
                del record.pins[tool_name]

    def _phrases(self, values: list[str]) -> list[str]:
        """``values`` (the user's words a note names), each in lower case with the user's longer phrases that
        hold it: "new york" beside "york". A lower-case name is read a word at a time; seen with the 0.5B model,
        pinned to 'york' alone for "what time is it in new york and in london"."""
        said = spans(self._user_said())
        return list(dict.fromkeys(p for v in values for p in [v, *([s for s in said if fold(s) != fold(v)
                                                                    and mentions(s, v)][:3] if v == v.lower() else [])]))

    def _pin_rest(self, record: ev.TurnRecord, refused_turn: ev.TurnRecord, tool_name: str, found: set[str]) -> None:
        """With pin: the refused call's other required values that were not the trouble (said, and in their
        form) stay as they were when it is made again with the values found. Seen with the 0.5B model: with
        the destination's code looked up, it called search_flights again with origin 'Berlin' (it had 'MAD')."""
        call = next((c for c in refused_turn.calls if c.name == tool_name), None)
        tool = self.tools.get(tool_name)
        if call is None or tool is None:
            return
        said = self._grounds()
        wrong = set(ungrounded_arguments(call.arguments, tool.parameters, said)) | \
            {name for name, _, _ in misshapen_arguments(call.arguments, tool.parameters, said)}
        # Our examples' wording ("Order for taxi" as the subject) is no value to keep: a piece of what the user
        # said instead. Seen with the 0.5B model: kept, it was refused again after the address was found.
        composed = example_wording(call.arguments, tool.parameters, said, example_lines(self._system_text())) \
            if self.techniques.copied else []
        for name in composed:
            if name not in found and self._parameter(tool_name, name).get("type", "string") == "string" \
                    and len(str(call.arguments.get(name, "")).split()) <= MAX_WORDS:  # a subject, not a body
                self._pin_said(record, tool_name, name)
        wrong |= set(composed)
        # And a text a result gave word for word (a note, as an email's body), however long.
        given = {v for t in self.turns for r in t.results if r.ok for v in text_values(r.output)}
        for name, value in call.arguments.items():
            if name in self._required(tool_name) and name not in wrong | found and not isinstance(value, bool) \
                    and isinstance(value, str | int | float) and (len(str(value).split()) <= MAX_WORDS or value in given):
                self._pin(record, tool_name, name, [value])

    def _pin_said(self, record: ev.TurnRecord, tool_name: str, parameter: str) -> None:
        """With pin: a text parameter may take only a phrase of two or three words the user said that does not name
        the tool ("server port" for a subject); nothing is pinned where the user said none."""
        self._pin(record, tool_name, parameter, [p for p in spans(self._user_said()) if len(p.split()) >= 2
                                                 and not names_tool(p, tool_name)])

    def _pieces(self, tool_name: str, parameter: str, avoid: set[str]) -> list[str]:
        """What a lookup named "with what the user gave" may be called with: pieces of the user's messages, then
        of the results (grounding.spans), in the parameter's form if it has one, none of them ``avoid``ed nor one
        the tool was called with before. Seen with the 0.5B model: with Madrid's code found, it looked up Madrid
        again for the destination, Berlin."""
        form = expected_form(self._parameter(tool_name, parameter))
        before = {w for t in self.turns for c in t.calls if c.name == tool_name for w in words(str(c.arguments.get(parameter, "")))}
        said = spans(self._user_said()) + spans("\n".join(r.output for t in self.turns for r in t.results if r.ok))
        return [p for p in dict.fromkeys(said) if fold(p) not in avoid and not words(p) & before
                and len(p.split()) <= MAX_WORDS and (form is None or form[0].fullmatch(p))][:200]

    def _required(self, tool_name: str) -> list[str]:
        """A tool's required parameters ([] when there is no such tool)."""
        tool = self.tools.get(tool_name)
        return list(tool.parameters.get("required") or []) if tool is not None else []

    def _parameter(self, tool_name: str, parameter: str) -> dict[str, Any]:
        """A tool's JSON Schema for one of its parameters ({} when there is no such tool or parameter)."""
        tool = self.tools.get(tool_name)
        return (tool.parameters.get("properties") or {}).get(parameter, {}) if tool is not None else {}
