"""The checks a final answer passes before it is the user's (Agent._check_answer), and the files a task
names, read first.

An answer is sent back, once a run for each reason, when it repeats the harness's own note, says the
request back as done, names a file no tool read, claims an action no tool did, leaves a part of the task
no call covers, gives a number in a unit or currency its source did not (a conversion no tool made),
states numbers no one gave, answers "what time" without a time, or leaves a result out.

A part of Agent (a mixin), beside harness/refusals.py.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from harness import events as ev
from harness.claims import (ASKS_FOR, GENERIC_VERBS, declines, described_files, file_parameter, named_files,
                            named_tools, names_tool, unbacked_claims, uncovered_part, uncovered_tools, unfit_action)
from harness.constrained import ASK_USER, FINAL_ANSWER
from harness.grounding import (MAX_WORDS, asks_time, clock_times, expected_form, invented_numbers, mentions,
                               own_values, plain_number, relabelled, reports_error, result_used, spans, words)
from harness.prompt import echoes_harness, restates
from harness.refusals import fold, tool_texts
from harness.run import Run
from harness.techniques import Techniques
from harness.tools import ToolResult, ToolSet, canonical_json


def _label(result: ToolResult) -> str:
    """What a result is about, as an answer may open with it: its call's first text value ("Norway: "),
    or "" when that would not read as a plain opening."""
    value = next((v.strip() for v in result.arguments.values() if isinstance(v, str) and v.strip()), "")
    return f"{value}: " if value and len(value) <= 60 and not any(c in value for c in '"\\\n') else ""


def _twins(one: ToolResult, other: ToolResult) -> bool:
    """Whether two results of one tool, called with different values, say the same but for those values
    ("football: markets react calmly" and "climate: markets react calmly"), which they do say."""
    differ = [k for k in one.arguments if fold(one.arguments.get(k)) != fold(other.arguments.get(k))]
    if not differ or one.arguments.keys() != other.arguments.keys():
        return False

    def without(result: ToolResult) -> str:
        text = result.output[:10_000].casefold()
        for k in differ:
            value = fold(result.arguments[k])
            text = text.replace(value, "") if value else text
        return text

    # Outputs alike through and through (a tool that ignores the value) hold nothing to tell apart.
    return one.output != other.output and without(one) == without(other)


class AnswerChecks:
    """Agent's checks of a final answer."""

    if TYPE_CHECKING:  # Agent's, and Refusals'
        tools: ToolSet
        turns: list[ev.TurnRecord]
        techniques: Techniques

        def _grounds(self) -> str: ...
        def _user_said(self) -> str: ...
        def _pin(self, record: ev.TurnRecord, tool_name: str, parameter: str, values: list[Any]) -> None: ...
        def _required(self, tool_name: str) -> list[str]: ...

    def _check_answer(self, text: str, run: Run) -> tuple[str, str] | None:
        """(reason, message) when a final answer must be sent back: it parrots the harness's own notes,
        or (once a run each) it only says the request back with no tool run, reports an action no tool
        did, states numbers that no tool returned, or leaves a result unused."""
        turns = run.turns
        # A note that quotes a result (coverage's) is the harness's words without it: copying the values
        # it asked for is no echo. Seen with the 0.5B model: "thank you very much: Merci beaucoup / ..."
        quoted = [r.output[:200] for t in turns for r in t.results if r.ok and r.output.strip()]
        harness_notes = [r.output for t in turns for r in t.results if not r.ok] + \
            [functools.reduce(lambda note, q: note.replace(q, " "), quoted, n) for n in run.sent_back]
        ran = any(r.ok for t in turns for r in t.results)
        sent_back = {t.rejected for t in turns}  # the checks below send an answer back once a run each
        said = self._grounds() if len(self.tools) else ""  # what claims and numbers are checked against
        if self.techniques.echo_guard and echoes_harness(text, harness_notes, ran, self._user_said()):
            if self.techniques.unecho and ran and text.strip():
                # Every echo's opening, not just the last: seen with the 0.5B model, "Weather check for ...",
                # "The weather check for ...", "Weather check for ..." (the task and our note, each time).
                run.force_answer, run.echoed = True, run.echoed + text.strip()[:1]
                # Seen with the 0.5B model, three cities' weather in: the task and our note back, then "The
                # weather check for ...", then the examples' decline. Opened with "Tokyo: ", it has only values
                # left to write.
                first = next((r for t in turns for r in t.results if r.ok and not reports_error(r.output)), None)
                run.opening = _label(first) if first is not None else ""
            return "echo", ("That repeats the harness's note instead of answering. Answer the user's question "
                            "with final_answer, in your own words, from the results above.")
        if self.techniques.echo_guard and not ran and len(self.tools) and restates(text, run.task) and \
                "restated" not in sent_back:
            run.force_answer = True  # it chose to answer: now an answer, not a call that pretends
            return "restated", ("That only says the request back. Answer it: give the answer if you know it; if "
                                "none of your tools can do it, say you can't.")
        if self.techniques.read_named and len(self.tools) and "unread" not in sent_back and not declines(text):
            unread = self._unread_file(run)
            if unread is not None:
                reader, parameter, name, named = unread
                run.turns[-1].pending = [reader]  # the next action is that call
                what = f"The task names the file {name}" if named else f"The file the task speaks of is {name}"
                return "unread", f"{what}, and no tool has read it. Call {reader} with {parameter} {name!r} now."
        if self.techniques.claims and len(self.tools) and "claimed" not in sent_back:
            # The whole conversation's tools: "Did you send it?" after an earlier turn's send_email.
            claims = unbacked_claims(text, [r.name for t in self.turns for r in t.results if r.ok], said)
            if claims:
                return "claimed", (f"Your answer says {claims[0]!r}, but no tool that does that ran, so nothing was "
                                   f"{claims[0]}. If one of your tools can do it, call it now; if none can, say "
                                   "you can't.")
        if self.techniques.untried and ran and "untried" not in sent_back:
            used = {r.name for t in turns for r in t.results if r.ok}
            offered = [n for n in self.tools.names if not run.policy.allowed or n in run.policy.allowed]
            untried = named_tools(run.task, offered, used)
            # A part of the task no call covers that names a tool ("..., and what's the weather there today?" with
            # only get_population run for Lima): the next action is that tool. Seen with the 0.5B model: it
            # answered "Today's weather is sunny." from nothing.
            uncovered = [] if untried else uncovered_tools(run.task, offered, [(r.name, r.arguments) for t in turns
                                                                                for r in t.results if r.ok])
            if uncovered:
                run.turns[-1].pending = uncovered[:1]
                untried = uncovered
                # With pin, its one required value is a piece of that part ("sonder" of "Define 'sonder'"), one that
                # does not name the tool; none where the part has no other ("what's the weather there": Lima is in
                # another part). Seen with the 0.5B model: told to call get_definition, it defined 'good morning'.
                part = uncovered_part(run.task, uncovered[0], [(r.name, r.arguments) for t in turns
                                                              for r in t.results if r.ok])
                required = self._required(uncovered[0])
                if part and len(required) == 1:
                    # Nor a question word that names it ("warm" of "how warm is it": seen looked up as a city).
                    self._pin(run.turns[-1], uncovered[0], required[0], [s for s in spans(part) if len(s.split())
                                                                         <= MAX_WORDS and not names_tool(s, uncovered[0])
                                                                         and not words(s) & ASKS_FOR.keys()])
            if untried:
                return "untried", (f"The task asks for what {untried[0]} does, and it has not run. Call it now with "
                                   "the values the task and the results give; if it can't be done, say why.")
        if self.techniques.answer_check and len(self.tools) and "relabelled" not in sent_back:
            # A number given in one thing and answered in another: a conversion no tool made. Seen with the 0.5B
            # model: "250 NOK" for "250 euros ... in Norwegian kroner", "187.33 British pounds" for a price in USD.
            found = relabelled(text, run.task, [self._user_said(), *(r.output for t in turns for r in t.results if r.ok)])
            if found is not None:
                return "relabelled", self._relabelled_note(*found, run)
        if self.techniques.answer_check and len(self.tools) and "numbers" not in sent_back:
            invented = invented_numbers(text, said)
            if invented and ran:
                return "numbers", (f"Your answer says {', '.join(invented)}, which no tool result contains. Answer "
                                   "again with final_answer, using the exact values from the tool results.")
            if invented:  # no tool ran: a looked-up fact stated from memory, or a sum the model worked out
                return "numbers", (f"Your answer says {', '.join(invented)}, which neither the user nor a tool "
                                   "gave. If a tool can look it up, call it. If you worked it out yourself, "
                                   "give the same answer again.")
        if self.techniques.coverage and ran and "untimed" not in sent_back and asks_time(run.task):
            # Asked what time, answered with none of the times the results give. Seen with the 0.5B model: "What
            # time does it leave?" answered "No flights from Rome to Lisbon ... priced at 129 euros." (08:05 in).
            times = list(dict.fromkeys(t for tr in turns for r in tr.results if r.ok for t in clock_times(r.output)))
            if times and not any(t in clock_times(text) for t in times):
                return "untimed", (f"The user asked what time, and your answer gives none. The results give "
                                   f"{', '.join(times[:3])}. Answer again with final_answer, with that time.")
        if self.techniques.coverage and ran and "unused" not in sent_back:
            unused = self._unused_results(text, run)
            if unused:
                shown = "; ".join(f"{r.name}({canonical_json(r.arguments)}) returned {r.output[:200]}" for r in unused[:3])
                if self.techniques.complete:
                    run.opening = _label(unused[0]) if self.techniques.labelled else ""
                    return "unused", (f"Your answer leaves out results: {shown}. Now give the values from these "
                                      "with final_answer; they are added to what you said.")
                return "unused", (f"Your answer leaves out results: {shown}. Answer the task again with "
                                  "final_answer, giving the values from every result.")
        return None

    def _relabelled_note(self, number: str, label: str, source: str, run: Run) -> str:
        """The note for an answer that gives ``number`` in ``label`` when it is in ``source``: the one offered tool
        that converts is the next action, its one number parameter pinned to ``number``."""
        offered = [t for t in self.tools if t.name not in (FINAL_ANSWER, ASK_USER) and
                   (not run.policy.allowed or t.name in run.policy.allowed)]
        converters = [t for t in offered if "convert" in f"{t.name} {t.description}".casefold()]
        if len(converters) > 1:  # the one whose codes or units fit ("e.g. USD" fits 'USD')
            converters = [t for t in converters if any((form := expected_form(spec)) and (form[0].fullmatch(label) or
                          form[0].fullmatch(source)) for spec in (t.parameters.get("properties") or {}).values()
                          if isinstance(spec, dict))]
        done = next((r for t in run.turns for r in t.results if r.ok and r.name in {c.name for c in converters}
                     and any(plain_number(str(v)) == number for v in r.arguments.values())), None)
        if done is not None:  # converted already, and the answer gave the amount before it
            run.force_answer = True
            return (f"Your answer gives {number} in {label}, but {number} is in {source}. {done.name} converted it: "
                    f"{done.output[:200]}. Answer again with final_answer, with the converted value.")
        said = f"Your answer gives {number} in {label}, but {number} is in {source}: that is a conversion no tool made."
        if len(converters) != 1:
            return f"{said} If one of your tools converts it, call it now; if none can, say you can't."
        converter = converters[0]
        run.turns[-1].pending = [converter.name]
        numeric = [name for name, spec in (converter.parameters.get("properties") or {}).items()
                   if isinstance(spec, dict) and spec.get("type") in ("number", "integer")]
        if len(numeric) == 1:
            self._pin(run.turns[-1], converter.name, numeric[0], [number])
        return f"{said} Call {converter.name} now to convert {number} from {source} to {label}."

    def _unread_file(self, run: Run) -> tuple[str, str, str, bool] | None:
        """(tool, parameter, file, named) for the first file the task names, or else describes by a listed
        file's stem ("the todo file" when a result lists todo.md: named is False), that no tool reading files
        (one that asks no approval, with a file path parameter) has been given yet; None when all were, or
        none reads. Seen with the 0.5B model: "There's a todo file somewhere in my workspace. What's on
        it?" answered with the listing."""
        readers = {t.name: p for t in self.tools if (not run.policy.allowed or t.name in run.policy.allowed)
                   and not t.needs_approval and (p := file_parameter(t.parameters)) is not None}
        if not readers:
            return None
        # The whole conversation's reads: a plan's last request ("All steps are done. Now give the final answer
        # ...") is a run of its own, and its answer was sent back for notes.txt, read in the step before.
        given = " ".join(fold(v) for t in self.turns for r in t.results if r.ok and r.name in readers
                         for v in r.arguments.values())
        found = "\n".join(r.output for t in self.turns for r in t.results if r.ok)
        named = named_files(run.task)
        name = next((f for f in [*named, *described_files(run.task, found)] if fold(f) not in given), None)
        return None if name is None else (*next(iter(readers.items())), name, name in named)

    def _read_first(self, run: Run) -> tuple[str, str, list[str]] | None:
        """(reader, its path parameter, the files) when the run's first action is to read the files the task
        names: a tool that reads files may run (read_named), and the task asks for no other tool first (no
        other tool's verb, unless it says the reader's too: "Read todo.md and set a reminder") nor for an
        action no tool does (claims.unfit_action: "Delete config.ini"). Seen with the 0.5B model: "What's on
        my list in todo.md?" listed the folder; "Put the team meeting described in notes.txt on my calendar"
        made the event with a time of its own, then read the file."""
        unread = self._unread_file(run)
        if unread is None or not unread[3]:
            return None
        reader, parameter = unread[0], unread[1]
        others = [n for n in self.tools.names if n != reader and (not run.policy.allowed or n in run.policy.allowed)]
        if named_tools(run.task, others) and not named_tools(run.task, [reader]):
            return None
        if self.techniques.unfit and unfit_action(run.task, tool_texts(self.tools)):
            return None
        read = {fold(v) for t in self.turns for r in t.results if r.ok and r.name == reader for v in r.arguments.values()}
        return reader, parameter, [f for f in named_files(run.task) if fold(f) not in read][:4]

    def _unused_results(self, text: str, run: Run) -> list[ToolResult]:
        """The results of this run that neither the answer nor a later call makes any use of.

        Measured with the 0.5B model: after two lookups it often answers from one ("07:40" for the time
        in New York and in London), or from none ("Madrid is warmer" without either temperature)."""
        unused, seen = [], set()
        ok = [r for t in run.turns for r in t.results if r.ok and not reports_error(r.output)]
        for i, turn in enumerate(run.turns):
            later = " ".join(canonical_json(c.arguments) for t in run.turns[i + 1:] for c in t.calls
                             if c.name not in (FINAL_ANSWER, ASK_USER))  # an earlier answer is no call
            for r in turn.results:
                key = canonical_json([r.name, r.arguments])
                if not r.ok or key in seen or reports_error(r.output):  # a failure need not be in the answer
                    continue
                seen.add(key)
                given = f"{run.task}\n{canonical_json(r.arguments)}"
                # One tool called with different values ("football" and "climate" headlines): each result is
                # named by a value that sets it apart. Seen with the 0.5B model: "Climate: regulators publish a
                # new report ..." read as using the football headlines too, which say the same after "football:".
                # Only where the results read alike but for those values: translations differ all through.
                others = [o for o in ok if o.name == r.name and _twins(r, o)]
                apart = [v for k, v in r.arguments.items() if isinstance(v, str) and v.strip()
                         and all(fold(o.arguments.get(k)) != fold(v) for o in others)] if others else []
                if not result_used(r.output, given, f"{text}\n{later}") or apart and not any(mentions(text, v) for v in apart) \
                        and not (later and result_used(r.output, given, later)):  # not a lookup a later call used
                    unused.append(r)
                elif self.techniques.pin and len({o.name for o in ok}) > 1 and result_used(r.output, given, "") \
                        and not any(mentions(text, m) for m in self._marks(r)) \
                        and not any(mentions(later, v) for v in own_values(r.output, given)):  # a code a later call took
                    # An acknowledgement ("started") beside another tool's result: the answer says what was done
                    # by a value of the call or the tool's noun. Seen with the 0.5B model: "Start a 20 minute
                    # timer and play some lo-fi beats" answered "Playing lo-fi beats while I study."
                    unused.append(r)
        return unused

    @staticmethod
    def _marks(result: ToolResult) -> list[str]:
        """What an answer may name a call by: its values (20, "lo-fi beats", an email's body) and its tool's nouns
        ("timer" of set_timer)."""
        values = [str(v)[:200] for v in result.arguments.values() if isinstance(v, str | int | float)
                  and not isinstance(v, bool) and str(v).strip()]
        return values + [p for p in result.name.split("_") if len(p) >= 3 and p not in GENERIC_VERBS]
