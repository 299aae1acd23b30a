"""The agent: render → generate (streamed) → parse → validate → run tools → append → again.

The prompt is a stable system message (instructions, tool schemas, skill index) followed by an
append-only transcript; nothing the model has seen is ever re-rendered, so every request's
prompt extends the previous one and vLLM's prefix cache serves it.

The rules that steer a small model live beside it, each in its own module, mixed into Agent: why a
call is not run and what comes next instead (harness/refusals.py), the checks an answer passes
(harness/answer_checks.py); the first action's answer-or-call decision reads harness/decide.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from typing import Any

from harness import events as ev
from harness.answer_checks import AnswerChecks
from harness.claims import (asked_tools, asks_about_now, asks_for, dateless, kind_option, named_tools, own_work,
                            past_date, points_back, uncovered_tools, unfit_action, unfit_object, unfit_thing)
from harness.client import AsyncClient, ChatDelta, ChatResult, iterate
from harness.constrained import (ASK_USER, FINAL_ANSWER, REPLAN, FinalAnswerStream, action_schema, answer_opening,
                                 ask_user_tool, decline_schema, fresh_answer_schema, pinned, replan_tool,
                                 tools_for_prompt, unlooped)
from harness.decide import (ANSWER_AT, DECLINE_AT, DECLINE_OPENING, DECLINE_TOKENS, PROBE_TOKENS, UNSURE_AT,
                            answer_probability, decline_probability, name_choices, probe_options)
from harness.errors import HarnessError
from harness.grounding import invented_optional, repaired_values, said_choices
from harness.memory import MemoryStore
from harness.memory_tools import MEMORY_TOOLS, memory_tools
from harness.models import BUNDLED
from harness.prompt import ToolFormat, parse_errors_message, render_examples, render_system, tool_results_message
from harness.refusals import GUESSED, Refusals, fold, tool_texts
from harness.routing import ServerPool
from harness.run import CONTINUE, RETRY, Next, Outcome, Policy, Run
from harness.skills import SkillSet, expand, skill_tools
from harness.techniques import Techniques
from harness.toolcalls import ContentDelta, StreamingToolCallParser, ToolCall, calls_from_openai
from harness.toolcalls import ThinkingDelta as ParserThinking
from harness.tools import Approve, Tool, ToolResult, ToolSet, canonical_json, deny_all
from harness.tools.workspace import Workspace
from harness.transcript import SUMMARY_REQUEST, Transcript

_POINTING = re.compile(r"\b(?:this|that|these|those|it)\b", re.IGNORECASE)
DEFAULT_SYSTEM = (
    "You are a capable assistant running on the user's own machine through the harness. "
    "Use the tools when they help; answer plainly and briefly."
)
Message = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Fit:
    """What Agent._fit found no offered tool fits: to decline, or to answer (``own``: writing the model does
    itself, never declined). Falsy when it found nothing."""
    decline: str = ""
    answer: str = ""
    own: bool = False

    def __bool__(self) -> bool:
        return bool(self.decline or self.answer)


def _call_key(name: str, arguments: dict[str, Any]) -> str:
    """A call as compared with earlier ones when an answer stands beside it ("Cairo" is "cairo")."""
    return fold(canonical_json([name, arguments]))


def _joined(partial: str, text: str) -> str:
    """An answer so far and the part it left out, given next; one of them when it holds the other."""
    if fold(text) in fold(partial):
        return partial or text
    return text if fold(partial) in fold(text) else f"{partial}\n{text}"


class Agent(Refusals, AnswerChecks):
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
        texts = tool_texts(self.tools)
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

