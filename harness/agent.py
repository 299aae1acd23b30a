"""The agent: render → generate (streamed) → parse → validate → run tools → append → again.

The prompt is a stable system message (instructions, tool schemas, skill index) followed by an
append-only transcript; nothing the model has seen is ever re-rendered, so every request's
prompt extends the previous one and vLLM's prefix cache serves it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from harness import events as ev
from harness.claims import (ASKS_FOR, GENERIC_VERBS, PLAIN_WORDS, asked_tools, asks_about_now, asks_for, dateless,
                            declines, described_files, file_parameter, is_question, kind_option, named_files,
                            named_tools, names_tool, own_work, past_date, people, points_back, same_part, shares_words,
                            unbacked_claims, uncovered_part, uncovered_tools, unfit_action, unfit_object, unfit_thing)
from harness.client import AsyncClient, ChatDelta, ChatResult, iterate
from harness.constrained import (
    ASK_USER,
    FINAL_ANSWER,
    REPLAN,
    ask_user_tool,
    answer_opening,
    decline_schema,
    fresh_answer_schema,
    pinned,
    FinalAnswerStream,
    action_schema,
    replan_tool,
    tools_for_prompt,
    unlooped,
)
from harness.decide import (ANSWER_AT, DECLINE_AT, DECLINE_OPENING, DECLINE_TOKENS, PROBE_TOKENS, UNSURE_AT,
                            answer_probability, decline_probability, name_choices, probe_options)
from harness.errors import HarnessError
from harness.grounding import (DAYS_AND_MONTHS, MAX_WORDS, PHRASE_WORDS, asks_time, clock_times, close_words,
                               copied_arguments, exact_codes, example_wording, expected_form, found_value,
                               invented_numbers, invented_optional, made_codes, mentions, message_words,
                               misshapen_arguments, own_values, provider, repaired_values, reports_error, result_used,
                               plain_number, relabelled, said_choices, said_part, singular, spans, text_values,
                               ungrounded_arguments, words)
from harness.siblings import siblings
from harness.techniques import Techniques
from harness.models import BUNDLED
from harness.memory_tools import MEMORY_TOOLS, memory_tools
from harness.skills import SkillSet, expand, skill_tools
from harness.transcript import SUMMARY_REQUEST, Transcript
from harness.memory import MemoryStore
from harness.routing import ServerPool
from harness.run import CONTINUE, RETRY, Next, Outcome, Policy, Run
from harness.prompt import (ToolFormat, echoes_harness, example_lines, parse_errors_message, question_for,
                            render_examples, render_system, restates, tool_results_message)
from harness.toolcalls import ContentDelta, StreamingToolCallParser, ToolCall, calls_from_openai
from harness.toolcalls import ThinkingDelta as ParserThinking
from harness.tools import Approve, Tool, ToolResult, ToolSet, canonical_json, deny_all
from harness.tools.workspace import Workspace

GUESSED = "Not run: the user never gave"
_WORDS = re.compile(r"[^\W_]+")
_POINTING = re.compile(r"\b(?:this|that|these|those|it)\b", re.IGNORECASE)
DEFAULT_SYSTEM = (
    "You are a capable assistant running on the user's own machine through the harness. "
    "Use the tools when they help; answer plainly and briefly."
)
Message = dict[str, Any]


def _fold(value: object) -> str:
    return str(value).strip().casefold()


@dataclasses.dataclass(frozen=True)
class _Fit:
    """What Agent._fit found no offered tool fits: to decline, or to answer (``own``: writing the model does
    itself, never declined). Falsy when it found nothing."""
    decline: str = ""
    answer: str = ""
    own: bool = False

    def __bool__(self) -> bool:
        return bool(self.decline or self.answer)


def _tool_texts(tools: Iterable[Tool]) -> list[str]:
    """The words a tool fit is read against (claims.unfit_action and its kin): each tool's name, description and
    parameters."""
    return [text for t in tools for text in (t.name.replace("_", " "), t.description, json.dumps(t.parameters))]


def _call_key(name: str, arguments: dict[str, Any]) -> str:
    """A call as compared with earlier ones when an answer stands beside it ("Cairo" is "cairo")."""
    return _fold(canonical_json([name, arguments]))


def _label(result: ToolResult) -> str:
    """What a result is about, as an answer may open with it: its call's first text value ("Norway: "),
    or "" when that would not read as a plain opening."""
    value = next((v.strip() for v in result.arguments.values() if isinstance(v, str) and v.strip()), "")
    return f"{value}: " if value and len(value) <= 60 and not any(c in value for c in '"\\\n') else ""


def _twins(one: ToolResult, other: ToolResult) -> bool:
    """Whether two results of one tool, called with different values, say the same but for those values
    ("football: markets react calmly" and "climate: markets react calmly"), which they do say."""
    differ = [k for k in one.arguments if _fold(one.arguments.get(k)) != _fold(other.arguments.get(k))]
    if not differ or one.arguments.keys() != other.arguments.keys():
        return False

    def without(result: ToolResult) -> str:
        text = result.output[:10_000].casefold()
        for k in differ:
            value = _fold(result.arguments[k])
            text = text.replace(value, "") if value else text
        return text

    # Outputs alike through and through (a tool that ignores the value) hold nothing to tell apart.
    return one.output != other.output and without(one) == without(other)


def _joined(partial: str, text: str) -> str:
    """An answer so far and the part it left out, given next; one of them when it holds the other."""
    if _fold(text) in _fold(partial):
        return partial or text
    return text if _fold(partial) in _fold(text) else f"{partial}\n{text}"


class Agent:
    """One conversation with a model, and the tools, skills and memory it may use.

    It takes built objects (a client or a pool of them, a store, a skill set, a workspace); plain
    values (a URL, a path, a setting) go through ``harness.build.build_agent(Settings.load(...))``.
    Without a client it makes ``AsyncClient()``, which reads the settings. The agent owns what it
    holds: ``close()``/``aclose()`` (or ``with``/``async with``) close its client(s) and store."""

    def __init__(
        self,
        tools: Sequence[Tool] | ToolSet = (),
        *,
        client: AsyncClient | ServerPool | None = None,
        system: str = DEFAULT_SYSTEM,
        constrained: bool | None = None,
        approve: Approve = deny_all,
        max_steps: int = 8,
        max_retries: int = 2,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        tool_format: ToolFormat | None = None,
        tool_result_role: str = "user",
        server_tools: bool = False,
        skills: SkillSet | None = None,
        memory: MemoryStore | None = None,
        memory_tool_names: Collection[str] = MEMORY_TOOLS,
        session: str | None = None,
        cache_salt: str | None = None,
        techniques: Techniques | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        self.skills = skills or SkillSet()
        self.memory = memory
        self.transcript = Transcript(self.memory, session)
        self.tools = ToolSet([*tools, *(skill_tools(self.skills, workspace or ".") if self.skills.skills else []),
                              *(memory_tools(self.memory, lambda: self.transcript.session_id, memory_tool_names)
                                if self.memory else [])])
        # Several servers: the session is pinned to one by a hash of its id (see routing.py).
        self.pool = client if isinstance(client, ServerPool) else None
        self.client = self.pool.clients[self.pool.urls[0]] if self.pool else client or AsyncClient()
        self._constrained = constrained
        self.techniques = techniques or Techniques()
        self.approve = approve
        self.max_steps, self.max_retries = max_steps, max_retries
        self.max_tokens, self.temperature, self.stop = max_tokens, temperature, stop
        self.tool_result_role = tool_result_role
        # Let the server's own tool parser (vllm serve --tool-call-parser) read the calls instead.
        self.server_tools = server_tools
        self._ephemeral_id = uuid.uuid4().hex
        self.instructions = system
        self.tool_format = tool_format
        self.cache_salt = cache_salt  # requests with different salts never share cached blocks
        self.max_context: int | None = None  # the server's max_model_len, asked on first use
        self.turns: list[ev.TurnRecord] = []  # every model request in this agent's life (for /trace)
        self._schemas: dict[tuple[tuple[str, ...], bool, tuple[str, ...], bool], dict[str, Any]] = {}
        self._authored: set[int] = set()  # ids of the messages in self.messages the harness wrote
        self._runner: asyncio.Runner | None = None  # made by the first sync call
        self.probe_error: str | None = None  # why the server refused a probe (harness/decide.py), if it did

    # --- prompt -------------------------------------------------------------------------------

    async def constrained(self) -> bool:
        """Guided decoding is on by default for the bundled tiny models, off for others."""
        if self._constrained is None:
            self._constrained = (await self.client.get_model()) in BUNDLED and not self.server_tools
        return self._constrained and len(self.tools) > 0

    async def _ensure_system(self) -> None:
        if self.messages:
            return
        constrained = await self.constrained()
        shown = tools_for_prompt(self.tools) if constrained else ToolSet() if self.server_tools else self.tools
        fmt = self.tool_format or ("json" if constrained else "hermes")
        examples = render_examples(fmt, constrained, self.techniques.parallel) \
            if self.techniques.examples and not self.server_tools else ""
        system = render_system(self.instructions, shown, fmt, extra_sections=(self.skills.index(),),
                               examples=examples)
        self._append({"role": "system", "content": system})

    @property
    def messages(self) -> list[Message]:
        return self.transcript.messages

    @property
    def session_id(self) -> str:
        """The memory session (created with the first message), or a per-agent id without memory."""
        return self.transcript.session_id or self._ephemeral_id

    def _append(self, message: Message, **meta: Any) -> None:
        self.transcript.append(message, **meta)

    def _append_note(self, message: Message, **meta: Any) -> None:
        """A message the harness wrote in the user's place (results, errors, nudges)."""
        self._authored.add(id(message))
        self._append(message, **meta)

    async def _maybe_compact(self) -> AsyncIterator[ev.Event]:
        """Before a request that would not fit the context: summarise older turns (reported)."""
        if self.max_context is None:
            self.max_context = await self.client.max_model_len() or 0
        if not self.max_context or not self.turns or len(self.messages) < 4:
            return
        last = self.turns[-1]
        added = sum(len(m.get("content") or "") for m in self.messages[last.prompt_messages:])
        estimate = last.usage.prompt_tokens + added // 3  # ~3 characters a token: errs on the safe side
        if estimate + self.max_tokens <= self.max_context * 0.9:
            return
        summary = await self.client.chat([*self.messages, {"role": "user", "content": SUMMARY_REQUEST}],
                                         max_tokens=min(600, self.max_context // 8), temperature=0)
        done = self.transcript.compact(summary.text, keep=2)
        yield ev.Compacted(estimated_tokens=estimate, replaced=done.replaced, kept=done.kept)

    def _action_schema(self, allowed: tuple[str, ...], may_replan: bool,
                       guessed: tuple[str, ...] = (), must_call: bool = False) -> dict[str, Any]:
        """The guided-decoding schema, cached: it is the same for every turn of a step.

        After a call was refused for a guessed value (``guessed``), that tool is left out and the
        answer is replaced by ask_user: find the value with another tool, or ask for it. Measured
        with the 0.5B model: offered a free answer there, it declines or invents instead of asking.
        When one tool was named to find the value (TurnRecord.lookup), ``allowed`` is just that tool.
        ``must_call`` leaves the answer out: a plan step that names its tools starts by using one."""
        key = (allowed, may_replan, guessed, must_call)
        if key not in self._schemas:
            subset = [] if allowed in (("final_answer",), (ASK_USER,)) else \
                [t for t in self.tools if not allowed or t.name in allowed] or list(self.tools)
            extra = [replan_tool()] if may_replan else []
            if guessed:
                subset, extra = [t for t in subset if t.name not in guessed], [*extra, ask_user_tool()]
            self._schemas[key] = action_schema(ToolSet([*subset, *extra]), final_answer=not (guessed or must_call),
                                               parallel=self.techniques.parallel)
        return self._schemas[key]

    # --- one model request ----------------------------------------------------------------------

    async def _request(self, run: Run) -> AsyncIterator[ev.Event]:
        """One model request of ``run``: compact if needed, stream the reply, append it verbatim."""
        async for event in self._maybe_compact():
            yield event
        record = ev.TurnRecord(raw_text="", constrained=await self.constrained(), prompt_messages=len(self.messages))
        run.turns.append(record)
        self.turns.append(record)
        async for event in self._generate(record, run):
            yield event
        self._append_reply(record)
        yield ev.TurnUsage(record)

    def _append_reply(self, record: ev.TurnRecord) -> None:
        """The model's own text, verbatim (the next prompt must extend this one), with its usage."""
        reply: Message = {"role": "assistant", "content": record.raw_text}
        if record.server_tool_calls:  # the OpenAI shape, as the server's template expects
            reply["tool_calls"] = record.server_tool_calls
        self._append(reply, prompt_tokens=record.usage.prompt_tokens, cached_tokens=record.usage.cached_tokens,
                     completion_tokens=record.usage.completion_tokens, ttft_s=record.ttft_s,
                     elapsed_s=record.elapsed_s)

    async def _generate(self, record: ev.TurnRecord, run: Run) -> AsyncIterator[ev.Event]:
        """Stream one reply into ``record``; continue it in place if it hit max_tokens (free mode)."""
        parser = StreamingToolCallParser(schemas={t.name: t.parameters for t in self.tools})
        options: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                                   "stop": self.stop, "cache_salt": self.cache_salt}
        if record.constrained:
            # After a repeated call the only action left is an answer (a small model can loop forever).
            answer_only = run.force_answer or run.policy.must_answer
            allowed = ("final_answer",) if answer_only else tuple(run.policy.allowed or ())
            before = run.turns[-2] if len(run.turns) > 1 else None
            guessed = tuple(before.guessed) if before is not None and not answer_only else ()
            if guessed and before is not None and before.lookup:
                allowed = tuple(before.lookup)  # the tool that finds the refused value (or ask_user)
            elif guessed and before is not None and before.instead:
                allowed = (before.instead,)  # the tool the task names instead (Agent._named_instead)
            elif guessed and self.techniques.ask and run.unsure:
                # No tool finds it, and the model had thought of answering: an answer, which may decline or ask.
                allowed, guessed, answer_only = ("final_answer",), (), True
            elif guessed and self.techniques.ask:
                allowed = (ASK_USER,)  # no tool finds it: ask
            pending = tuple(before.pending) if before is not None and not answer_only and not guessed else ()
            if pending:
                allowed = pending  # the calls the user's list still needs (siblings)
            elif before is not None and before.finished and not answer_only and not guessed:
                # The refused call has run with the values looked up: anything but that tool again; with pin,
                # only a tool a part of the task still asks for (its verb, or its noun in a part no call
                # covers), else the answer. Seen with the 0.5B model: with the Madrid-Berlin flights found, it
                # called get_weather for Berlin.
                rest = [n for n in (allowed or self.tools.names) if n not in before.finished]
                if self.techniques.pin:
                    made = [(r.name, r.arguments) for t in run.turns for r in t.results if r.ok]
                    asked = set(named_tools(run.task, rest, [name for name, _ in made])) | \
                        set(uncovered_tools(run.task, rest, made))
                    rest = [n for n in rest if n in asked]
                allowed = tuple(rest) or ("final_answer",)
            must_call = (bool(pending) or run.policy.must_call and len(run.turns) == 1) and allowed != ("final_answer",)
            options["json_schema"] = self._action_schema(allowed, run.policy.may_replan, guessed, must_call)
            if self.techniques.pin and before is not None and before.pins and not answer_only:
                options["json_schema"] = pinned(options["json_schema"], before.pins)  # the values a note named
            run.force_answer = False
            if before is not None and before.rejected == "unused" and run.opening:
                # Told it left a result out, the answer opens with that result's subject ("Norway: "). Seen
                # with the 0.5B model: told Norway's population was left out, "5594000 people in Iceland."
                options["json_schema"] = answer_opening(options["json_schema"], run.opening)
            if answer_only and before is not None and before.rejected == "echo" and run.echoed:
                # The answer before it echoed the harness's note: this one opens with the first result's subject
                # ("Tokyo: "), as the worked examples' answers do, or else not as any echo did.
                options["json_schema"] = answer_opening(options["json_schema"], run.opening) if run.opening \
                    else fresh_answer_schema(run.echoed)
            first = len(run.turns) == 1 and not (must_call or guessed or pending) and allowed != ("final_answer",)
            read = self._read_first(run) if first and self.techniques.read_named and self.techniques.pin else None
            if read is not None:  # the files the task names are read first (no probe: it is a call)
                reader, parameter, files = read
                record.coded = reader
                options["json_schema"] = pinned(self._action_schema((reader,), run.policy.may_replan, must_call=True),
                                                {reader: {parameter: files}})
            elif self.techniques.decide and first:
                await self._decide(record, options, run)
                # A request that points at what it does not name ("drive there") wants asking, however unsure.
                run.unsure = self.techniques.unsure and (record.answer_probability or 0.0) >= UNSURE_AT \
                    and not points_back(run.task)
            elif self.techniques.decline and answer_only and before is not None and not run.policy.may_replan \
                    and (before.rejected == "restated" or before.guessed and run.unsure):
                # It said the request back as done with no tool run, or (unsure) guessed a value no tool finds:
                # now an answer, which may decline.
                await self._decline(record, options)
        elif self.server_tools and len(self.tools):
            options.update(tools=self.tools.specs(), tool_choice="auto")
        messages = list(self.messages)
        server_calls: list[ToolCall | str] = []
        answer = FinalAnswerStream()
        for attempt in range(3):
            result: ChatResult | None = None
            async for item in self.client.stream_chat(messages, **options):
                if isinstance(item, ChatDelta):
                    if record.constrained and (piece := answer.feed(item.text)):
                        yield ev.TextDelta(piece)
                    for pe in parser.feed(item.text):
                        if isinstance(pe, ContentDelta) and not record.constrained:
                            yield ev.TextDelta(pe.text)
                        elif isinstance(pe, ParserThinking):
                            yield ev.ThinkingDelta(pe.text)
                else:
                    result = item
            assert result is not None
            server_calls += [calls_from_openai(tc) for tc in result.tool_calls]
            record.server_tool_calls += result.tool_calls
            record.raw_text += result.text
            record.usage = ev.add_usage(record.usage, result.usage)
            record.ttft_s = record.ttft_s if record.ttft_s is not None else result.ttft_s
            record.elapsed_s += result.elapsed_s
            record.finish_reason, record.stop_reason = result.finish_reason, result.stop_reason
            if result.finish_reason != "length" or record.constrained or attempt == 2:
                break
            # Let the model continue its own message: same prefix, nothing re-rendered.
            messages = [*self.messages, {"role": "assistant", "content": record.raw_text}]
            options["extra"] = {"continue_final_message": True, "add_generation_prompt": False}
        for pe in parser.finish():
            if isinstance(pe, ContentDelta) and not record.constrained:
                yield ev.TextDelta(pe.text)
            elif isinstance(pe, ParserThinking):
                yield ev.ThinkingDelta(pe.text)
        record.calls = parser.result.calls + [c for c in server_calls if isinstance(c, ToolCall)]
        record.problems = list(parser.result.errors) + [c for c in server_calls if isinstance(c, str)]
        record.thinking = parser.result.thinking
        record.content = parser.result.content
        record.streamed_answer = answer.text

    async def _decide(self, record: ev.TurnRecord, options: dict[str, Any], run: Run) -> None:
        """The first action of a run becomes an answer when the model gives answering ANSWER_AT or more,
        and (with ``decline``) that answer opens with DECLINE_OPENING when the model gives opening with
        "Sorry" DECLINE_AT or more (harness/decide.py). The short requests that read them are the turn's
        probes (``record.probes``, ``record.probe_usage``). From DECLINE_AT up, what no tool fits (``_fit``)
        is answered or declined, and a person the question names is looked up (``_person``); from ANSWER_AT
        up, a code one tool takes (``_coded``) or a tool's verb opening a part is called instead."""
        may_replan = run.policy.may_replan
        logprobs = await self._probe(record, options, PROBE_TOKENS)
        record.name_choices = name_choices(logprobs)
        record.answer_probability = answer_probability(logprobs, self.tools.names)
        if record.answer_probability is None or record.answer_probability < DECLINE_AT:
            return
        fits = self.techniques.unfit and not may_replan
        fit = self._fit(run.task) if fits else _Fit()
        person = self._person(run.task) if fits and not fit else None
        if person is not None:  # "What number should I dial?" for Alice: her contact is looked up, not made up
            tool, parameter, names, record.then = person
            record.coded = tool
            options["json_schema"] = pinned(self._action_schema((tool,), may_replan, must_call=True),
                                            {tool: {parameter: names}})
            return
        if record.answer_probability < ANSWER_AT and not fit:
            return
        coded = self._coded(run.task) if not fit else None
        if coded is not None:  # the user gave a code that only this tool takes ("NVDA"): it is called
            record.coded = coded
            options["json_schema"] = self._action_schema((coded,), may_replan, must_call=True)
            return
        # Or a question word that asks for what one tool gives ("What do 'petrichor' and 'apricity' mean?").
        # Not where it points at what it does not give ("What does this word mean?": that is asked about).
        asked = (asked_tools(run.task, self.tools.names) or
                 (asks_for(run.task, self.tools.names) if not _POINTING.search(run.task[:4000]) else [])) \
            if self.techniques.unfit and not fit else []
        if asked:  # "..., and translate 'good morning' into German": a request to call, not a question
            record.coded = asked[0]
            options["json_schema"] = self._action_schema(tuple(run.policy.allowed or ()), may_replan, must_call=True)
            return
        options["json_schema"] = self._action_schema(("final_answer",), may_replan)
        if fit.decline:  # no tool does it: say so (the model's greedy answer says it done)
            record.unfit = fit.decline
            options["json_schema"] = decline_schema(DECLINE_OPENING)
        elif self.techniques.decline and not may_replan and not fit.own:
            await self._decline(record, options)

    def _fit(self, task: str) -> _Fit:
        """What no offered tool fits, found in ``task`` alone (claims): the first action is then an answer,
        whatever the model's odds (from DECLINE_AT up). Declined: an action no tool's text carries ("Book me a
        hotel room"), a thing no word of the request shares with a tool asked about now or the user's own
        things ("the air quality index in Paris today"), a past day's value the tools it speaks of take no date
        for ("Tesla's closing price on 3 January 2020"). Answered: such a thing otherwise ("the capital of
        Norway" beside get_population), and writing the model does itself ("Rewrite this to sound more
        polite: '...'"), which is never declined."""
        texts = _tool_texts(self.tools)
        if unfit := unfit_action(task, texts) or unfit_object(task, texts):
            return _Fit(decline=unfit)
        if thing := unfit_thing(task, texts):
            return _Fit(decline=thing) if asks_about_now(task) else _Fit(answer=thing)
        day = past_date(task, datetime.date.today().year)
        if day and dateless([(t.name, t.description, t.parameters) for t in self.tools], task):
            return _Fit(decline=day)
        verb = own_work(task, texts)
        return _Fit(answer=verb, own=bool(verb))

    async def _decline(self, record: ev.TurnRecord, options: dict[str, Any]) -> None:
        """An answer about to be written opens with DECLINE_OPENING when the model gives opening it
        with "Sorry" DECLINE_AT or more."""
        record.decline_probability = decline_probability(await self._probe(record, options, DECLINE_TOKENS))
        if record.decline_probability is not None and record.decline_probability >= DECLINE_AT:
            options["json_schema"] = decline_schema(DECLINE_OPENING)

    async def _probe(self, record: ev.TurnRecord, options: dict[str, Any], tokens: int) -> list[Any] | None:
        """The first ``tokens`` of the action about to be asked for, with their probabilities (counted in
        ``record.probe_usage``). None when the server will not give them (a server started with a lower
        --max-logprobs refuses the request): then nothing is decided, now or later in this agent's life."""
        if self.probe_error is not None:
            return None
        try:
            result = await self.client.chat(list(self.messages), **probe_options(options, tokens))
        except HarnessError as exc:
            self.probe_error = str(exc)
            return None
        record.probes += 1
        record.probe_usage = ev.add_usage(record.probe_usage, result.usage)
        return result.logprobs

    # --- the loop -------------------------------------------------------------------------------

    def user_turn(self, task: str, skill: str | None = None) -> str:
        """The user's message, with a skill's body expanded into it when one is invoked."""
        if skill is None:
            return task
        found = self.skills.get(skill)
        if found is None:
            raise HarnessError(f"there is no skill named {skill!r}",
                               hint=f"available: {', '.join(self.skills.names) or '(none)'}; see `harness skills list`")
        return expand(found, task)

    async def astream(self, task: str, skill: str | None = None, plan: bool = False) -> AsyncIterator[ev.Event]:
        """Events of one run: the loop below, or plan-and-execute (harness/planner.py)."""
        self.transcript.name(task or f"/{skill}")  # the user's words, not a plan or skill prompt
        content = self.user_turn(task, skill)
        if self.pool is not None:
            self.client = await self.pool.client_for(self.session_id)
        await self._ensure_system()
        if plan:
            from harness.planner import run_plan

            first = len(self.turns)
            try:
                async for event in run_plan(self, content):
                    yield event
            except HarnessError as exc:
                yield ev.Final(ev.Result.from_turns(self.turns[first:], "error", session_id=self.session_id,
                                                    error=str(exc)))
            return
        async for event in self.loop(content):
            yield event

    async def loop(self, content: str, policy: Policy = Policy()) -> AsyncIterator[ev.Event]:
        """Append a user turn, then generate → act under ``policy`` until an answer or a limit.

        Ends with Final. The planner runs each plan step as one such loop (harness/planner.py)."""
        await self._ensure_system()
        self._append({"role": "user", "content": content})
        run, retries = Run(policy, task=content), 0
        stop: ev.StopReason = "max_steps"
        text, error = "", None
        try:
            for _ in range(self.max_steps):
                async for event in self._request(run):
                    yield event
                outcome = CONTINUE
                async for item in self._act(run.turns[-1], run):
                    if isinstance(item, Outcome):
                        outcome = item
                    else:
                        yield item
                if outcome.stop is not None:
                    stop, text = outcome.stop, outcome.text
                    break
                retries = retries + 1 if outcome.next is Next.RETRY else 0
                if retries > self.max_retries:
                    # Harness text is never the answer: the reason goes in result.error.
                    stop, error = "max_retries", (f"the model's last {retries} replies could not be used (calls "
                                                  "refused or invalid, or answers sent back)")
                    break
                # One retry left: let it be an answer, so a stuck run still ends with one. Not where the note
                # named the next action exactly: a question to the user (which ends the run too), the refused
                # call with the value a result gave, or a lookup with the value to look up ("call get_contact with
                # name 'Priya' first"). Seen with the 0.5B model: made to answer instead, it declined ("Pull up the
                # recent orders for my customer.") or answered without the email sent.
                last = run.turns[-1]
                named = bool(last.lookup_for) and all(given for *_, given in last.lookup_for)
                pinned = last.filled or named or bool(last.guessed) and not last.lookup and self.techniques.ask \
                    and not run.unsure
                run.force_answer |= retries == self.max_retries and self.techniques.last_chance and not pinned
            else:
                # Constrained only: there force_answer makes the request an answer; a free reply could call again.
                if self.techniques.wrap_up and run.turns and run.turns[-1].constrained \
                        and any(r.ok for r in run.turns[-1].results):
                    # The steps ran out with results just in: one request more, an answer only, that reports
                    # them. Checked like any answer; sent back, the run stops at max_steps all the same.
                    run.force_answer = True
                    async for event in self._request(run):
                        yield event
                    async for item in self._act(run.turns[-1], run):
                        if isinstance(item, Outcome):
                            if item.stop is not None:
                                stop, text = item.stop, item.text
                        else:
                            yield item
        except HarnessError as exc:
            stop, text, error = "error", "", str(exc)
        yield ev.Final(ev.Result.from_turns(run.turns, stop, text, session_id=self.session_id, error=error))

    async def ask_json(self, content: str, schema: dict[str, Any], max_tokens: int = 600,
                       cut: Callable[[str], str | None] | None = None) -> ev.TurnRecord:
        """Append ``content`` as a user turn and have the model reply with one JSON object under ``schema``
        (guided decoding). The reply joins the transcript like any other turn; its text, not yet
        validated, is the record's ``raw_text``.

        ``cut`` sees the reply so far whenever an object closes in it; when it returns a text (a prefix of
        the reply, closed), the request stops there and that text is the reply (finish reason "cut")."""
        await self._ensure_system()
        self._append({"role": "user", "content": content})
        record = ev.TurnRecord(raw_text="", constrained=True, prompt_messages=len(self.messages))
        self.turns.append(record)
        # Usage on every chunk, so a reply cut short still has the server's counts.
        extra = {"stream_options": {"include_usage": True, "continuous_usage_stats": True}} if cut else None
        stream = self.client.stream_chat(self.messages, json_schema=schema, max_tokens=max_tokens,
                                         temperature=self.temperature, cache_salt=self.cache_salt, extra=extra)
        text, started = "", time.perf_counter()
        try:
            async for item in stream:
                if isinstance(item, ChatResult):
                    record.raw_text, record.usage, record.ttft_s = item.text, item.usage, item.ttft_s
                    record.elapsed_s, record.finish_reason = item.elapsed_s, item.finish_reason
                    continue
                if item.text and record.ttft_s is None:
                    record.ttft_s = time.perf_counter() - started
                text += item.text
                record.usage = item.usage or record.usage
                if cut is not None and "}" in item.text and (kept := cut(text)) is not None:
                    # Closing the stream aborts the request on the server: no tokens spent on the rest.
                    record.raw_text, record.finish_reason = kept, "cut"
                    record.elapsed_s = time.perf_counter() - started
                    break
        finally:
            await stream.aclose()
        self._append_reply(record)
        return record

    async def _act(self, record: ev.TurnRecord, run: Run) -> AsyncIterator[ev.Event | Outcome]:
        """What the reply means: an answer, calls to run, or problems to send back for a retry.

        Yields the turn's events, then what the turn came to (an Outcome), last."""
        if self.techniques.unloop and record.constrained and not record.calls and record.finish_reason == "length" \
                and (once := unlooped(record.streamed_answer)).strip() and once != record.streamed_answer:
            # An answer cut off by max_tokens, looping ("23:40, 23:40, ..."): its text, once. Seen with the
            # 0.5B model: sent back as an unfinished call, it wrote the same loop again, turn after turn. (One
            # cut off without a loop is sent back as before: it may have more to say.)
            record.calls, record.problems = [ToolCall(FINAL_ANSWER, {"answer": once})], []
        # An answer beside real calls in one action waits for their results: the calls run, it is dropped.
        real = [c for c in record.calls if c.name not in (FINAL_ANSWER, ASK_USER)]
        if real and any(c.name == FINAL_ANSWER for c in record.calls):
            earlier = {_call_key(r.name, r.arguments) for t in run.turns[:-1] for r in t.results if r.ok}
            if all(_call_key(c.name, c.arguments) in earlier for c in real):
                # Calls that only repeat ones whose results are in: the answer stands. Seen with the 0.5B
                # model: it wrote its answer and the same call again ("Cairo" for "cairo"), turn after turn.
                record.calls = [c for c in record.calls if c.name == FINAL_ANSWER]
                real = []
        question = next((c for c in record.calls if c.name == ASK_USER), None) if not real else None
        if question is not None:
            text = str(question.arguments.get("question", ""))
            yield ev.TextDelta(text)
            yield Outcome.answer(text, "final_answer")
            return
        # Several answers in one action (one per result, as a small model sometimes writes): all of them.
        finals = [] if real else list(dict.fromkeys(str(c.arguments.get("answer", "")) for c in record.calls
                                                    if c.name == FINAL_ANSWER))
        record.calls = real or record.calls
        if finals:
            text = "\n".join(finals)
            # With complete: the answer so far, then what it left out (or this one alone, if it has it all).
            whole = _joined(run.partial, text) if run.partial and self._unused_results(text, run) else text
            rejection = self._check_answer(whole, run)
            if rejection is not None:
                record.rejected, message = rejection
                if record.rejected == "unused" and self.techniques.complete:
                    run.partial = whole
                run.sent_back.append(message)
                self._append_note({"role": "user", "content": message})
                yield ev.AnswerRejected(record.rejected, text, message)
                yield RETRY
                return
            if text.startswith(record.streamed_answer):  # whatever was not streamed yet
                rest = text[len(record.streamed_answer):]
                if rest:
                    yield ev.TextDelta(rest)
            else:
                yield ev.TextDelta(text)
            yield Outcome.answer(whole, "final_answer")
            return
        replan = next((c for c in record.calls if c.name == REPLAN), None) if run.policy.may_replan else None
        if replan is not None:
            yield Outcome.replan(str(replan.arguments.get("reason", "")))
            return
        if record.problems:
            yield ev.ParseProblem(record.problems)
        if not record.calls:
            if record.problems:
                self._append_note(parse_errors_message(record.problems, self.tools.names))
                yield RETRY
                return
            stop: ev.StopReason = "length" if record.finish_reason == "length" else \
                "stop_string" if isinstance(record.stop_reason, str) else "end_of_sequence"
            yield Outcome.answer(record.content, stop)
            return
        t = self.techniques
        said = self._grounds() if t.grounding or t.trim_optional or t.copied or t.repair else ""
        if t.repair:  # the value the model wrapped in words of its own ("14:30" of "14:30 AM"), as the call runs
            for call in record.calls:
                tool = self.tools.get(call.name)
                call.arguments.update(repaired_values(call.arguments, tool.parameters, said,
                                                      self._user_said()) if tool is not None else {})
                # A closed choice the user said ("walk" for mode 'walking', left at its default driving).
                call.arguments.update(said_choices(call.arguments, tool.parameters, run.task) if tool is not None else {})
                # A word of kind the user put on the tool's noun ("a seafood restaurant"), its one open option left out.
                call.arguments.update(kind_option(run.task, call.name, tool.parameters, call.arguments)
                                      if tool is not None else {})
        if t.trim_optional:  # the call as run (and shown) leaves invented extras out
            for call in record.calls:
                tool = self.tools.get(call.name)
                extra = invented_optional(call.arguments, tool.parameters, said) if tool is not None else []
                if extra:
                    call.arguments = {k: v for k, v in call.arguments.items() if k not in extra}
        checks = [self.tools.check(c.name, c.arguments) or self._refusal(c, said, run.policy.allowed, record, run.unsure, run.task)
                  for c in record.calls]
        # The same call twice in one action runs once: two emails sent, two timers started, are never what was
        # asked for. Seen with the 0.5B model, its values pinned: the same send_email three times over.
        keys = [_call_key(c.name, c.arguments) for c in record.calls]
        checks = [p if p is not None or k not in keys[:i] else "Not run: the same call as one before it in this action."
                  for i, (k, p) in enumerate(zip(keys, checks, strict=True))]
        record.guessed = sorted({c.name for c, p in zip(record.calls, checks, strict=True)
                                 if p is not None and p.startswith(GUESSED)})
        for call, problem in zip(record.calls, checks, strict=True):
            yield ev.ToolCallEvent(call, problem)
        record.results = await self._run_calls(record.calls, checks, run)
        record.refused = [p is not None for p in checks]
        for r in record.results:
            yield ev.ToolResultEvent(r)
            if r.name == "load_skill" and r.ok and (loaded := self.skills.get(r.arguments.get("name", ""))):
                yield ev.SkillLoaded(loaded.name, str(loaded.path))
            if r.name == "recall" and r.ok:
                yield ev.MemoryRecalled(str(r.arguments.get("query", "")), r.output.splitlines())
        if record.server_tool_calls and len(record.server_tool_calls) == len(record.results):
            # The server parsed the calls: answer each by its id, as the OpenAI protocol has it.
            messages = [{"role": "tool", "tool_call_id": tc.get("id", ""), "name": r.name, "content": r.output}
                        for tc, r in zip(record.server_tool_calls, record.results, strict=True)]
        else:
            # From the run, not the transcript: compaction may have moved the user's message.
            task = run.task if self.techniques.restate_task else ""
            hints = [self._fill_hint(record, run) if self.techniques.fill else "",
                     self._then_hint(record, run) if self.techniques.fill else "",
                     self._write_hint(record, run) if self.techniques.fill else "",
                     self._sibling_hint(record, run) if self.techniques.siblings else ""]
            hint = "\n".join(h for h in hints if h)
            if self.techniques.fill and not record.pending:
                record.finished = self._refused_calls_done(record, run)
            messages = tool_results_message(record.results, role=self.tool_result_role,  # type: ignore[arg-type]
                                            constrained=record.constrained, task=task, hint=hint)
        for message in messages:
            first = record.results[0]
            self._append_note(message, tool_name=first.name, tool_arguments=first.arguments, tool_result=first.output,
                         extra={"results": [{"name": r.name, "arguments": r.arguments, "ok": r.ok,
                                             "output": r.output} for r in record.results]})
        yield RETRY if all(p is not None for p in checks) else CONTINUE

    def _grounds(self) -> str:
        """What the user and the tools have said (where the model's values must come from): the user's
        own messages and the results that ran, never the harness's notes (a refusal quotes the guess)."""
        said = [str(m.get("content") or "") for m in self.messages[1:]
                if m.get("role") in ("user", "tool") and id(m) not in self._authored]
        return "\n".join([*said, *(r.output for t in self.turns for r in t.results if r.ok)])

    def _user_said(self) -> str:
        """The user's own messages in this conversation (no tool results, no harness notes)."""
        return "\n".join(str(m.get("content") or "") for m in self.messages[1:]
                         if m.get("role") == "user" and id(m) not in self._authored)

    def _system_text(self) -> str:
        first = self.messages[0] if self.messages else {}
        return str(first.get("content") or "") if first.get("role") == "system" else ""

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
        used = {_fold(v) for t in self.turns for c in t.calls for v in c.arguments.values()}
        fresh = [c for c in codes if _fold(c) not in used]
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
            or shares_words(task, _tool_texts([tool]), but=list(GENERIC_VERBS))

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
        used = {_fold(v) for v in call.arguments.values()}
        known = [(parameter, value) for parameter, _, _ in wanted
                 if self.techniques.fill and (value := self._known(call.name, parameter))
                 and _fold(value) not in used]
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
            lookups = [r for r in reversed(since) if r.name == finder and _fold(given) in _fold(canonical_json(r.arguments))]
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
        made = {(c.name, k, _fold(v)) for t in run.turns for c in t.calls for k, v in c.arguments.items()}
        # Never a tool that changes things: "Email Bob or Alice" asks for one email, not two.
        params = {t.name: list((t.parameters.get("properties") or {})) for t in self.tools
                  if (not run.policy.allowed or t.name in run.policy.allowed) and not t.needs_approval}
        todo: dict[tuple[str, str, str], tuple[str, str, str]] = {}
        for result in (r for t in run.turns for r in t.results if r.ok):
            # Values one call used together are a pair, not a list: "USD/JPY" is base and quote.
            together = {_fold(v) for v in result.arguments.values()}
            for parameter, value in result.arguments.items():
                for found, tool_name in siblings(run.task, value, result.name, params):
                    key = (tool_name, parameter, _fold(found))
                    # Nor a part of a value a call used: 'york' (a lower-case name read a word at a time) once
                    # "New York" was looked up. Seen with the 0.5B model: told to, it looked up 'york'.
                    within = any(t == tool_name and p == parameter and mentions(v, found) for t, p, v in made)
                    if parameter in params.get(tool_name, ()) and key not in made and _fold(found) not in together \
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
        return list(dict.fromkeys(p for v in values for p in [v, *([s for s in said if _fold(s) != _fold(v)
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
        return [p for p in dict.fromkeys(said) if _fold(p) not in avoid and not words(p) & before
                and len(p.split()) <= MAX_WORDS and (form is None or form[0].fullmatch(p))][:200]

    def _required(self, tool_name: str) -> list[str]:
        """A tool's required parameters ([] when there is no such tool)."""
        tool = self.tools.get(tool_name)
        return list(tool.parameters.get("required") or []) if tool is not None else []

    def _parameter(self, tool_name: str, parameter: str) -> dict[str, Any]:
        """A tool's JSON Schema for one of its parameters ({} when there is no such tool or parameter)."""
        tool = self.tools.get(tool_name)
        return (tool.parameters.get("properties") or {}).get(parameter, {}) if tool is not None else {}

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
        given = " ".join(_fold(v) for t in self.turns for r in t.results if r.ok and r.name in readers
                         for v in r.arguments.values())
        found = "\n".join(r.output for t in self.turns for r in t.results if r.ok)
        named = named_files(run.task)
        name = next((f for f in [*named, *described_files(run.task, found)] if _fold(f) not in given), None)
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
        if self.techniques.unfit and unfit_action(run.task, _tool_texts(self.tools)):
            return None
        read = {_fold(v) for t in self.turns for r in t.results if r.ok and r.name == reader for v in r.arguments.values()}
        return reader, parameter, [f for f in named_files(run.task) if _fold(f) not in read][:4]

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
                         and all(_fold(o.arguments.get(k)) != _fold(v) for o in others)] if others else []
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

    async def _run_calls(self, calls: list[ToolCall], refusals: list[str | None], run: Run) -> list[ToolResult]:
        """Run the calls the harness let through; a call repeated verbatim from earlier in this run is
        answered with its earlier result, not re-run, and the next action must be an answer (as it
        must once a plan step's tools have all run: Policy.answer_when_used).

        Small models loop on a call whose result they already have. Measured with the 0.5B model: told
        "you made this call before" it handed that note back as its answer; shown the result again,
        it answers from it."""
        earlier = {canonical_json([r.name, r.arguments]): r.output
                   for t in run.turns[:-1] for r in t.results if r.ok}
        repeated = [earlier.get(canonical_json([c.name, c.arguments])) for c in calls]
        run.force_answer = any(r is not None for r in repeated)
        fresh = [c for c, p, r in zip(calls, refusals, repeated, strict=True) if p is None and r is None]
        ran = iter(await self.tools.run_all([(c.name, c.arguments) for c in fresh], self.approve))
        results = [ToolResult(c.name, c.arguments, p, ok=False) if p is not None else
                   ToolResult(c.name, c.arguments, r) if r is not None else next(ran)
                   for c, p, r in zip(calls, refusals, repeated, strict=True)]
        if run.policy.answer_when_used and run.policy.allowed:
            used = {r.name for t in run.turns[:-1] for r in t.results if r.ok} | {r.name for r in results if r.ok}
            run.force_answer |= set(run.policy.allowed) <= used
        return results

    # --- entry points -------------------------------------------------------------------------

    async def arun(self, task: str, skill: str | None = None, plan: bool = False) -> ev.Result:
        result: ev.Result | None = None
        async for event in self.astream(task, skill, plan):
            if isinstance(event, ev.Final):
                result = event.result
        assert result is not None
        return result

    def run(self, task: str, skill: str | None = None, plan: bool = False) -> ev.Result:
        return self._loop().run(self.arun(task, skill, plan))

    def stream(self, task: str, skill: str | None = None, plan: bool = False) -> Iterator[ev.Event]:
        """Synchronous events. Ctrl-C (KeyboardInterrupt) aborts the HTTP stream and ends the run."""
        first = len(self.turns)  # this call's turns are the ones after it
        try:
            yield from iterate(self._loop(), self.astream(task, skill, plan))
        except KeyboardInterrupt:
            # The step in flight was cancelled and the stream closed: vLLM aborts the request.
            yield ev.Final(ev.Result.from_turns(self.turns[first:], "cancelled", session_id=self.session_id))

    def served_model(self) -> str:
        """The model's name, asking the server once when none was given."""
        return self._loop().run(self.client.get_model())

    def _loop(self) -> asyncio.Runner:
        """The one event loop of this agent's sync calls: its connections live as long as it does."""
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner

    async def aclose(self) -> None:
        """Close what the agent holds: its client(s) and its memory store."""
        await (self.pool.aclose() if self.pool else self.client.aclose())
        if self.memory is not None:
            self.memory.close()

    def close(self) -> None:
        """``aclose`` for sync callers; also ends the agent's event loop."""
        runner = self._loop()
        try:
            runner.run(self.aclose())
        finally:
            runner.close()
            self._runner = None

    def __enter__(self) -> "Agent":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> "Agent":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

