"""`harness chat`: the terminal REPL (prompt_toolkit for input, rich for output).

It consumes the agent's event stream: replies stream in as Markdown, thinking is dimmed and
collapsed when the answer comes, tool calls and results show as they happen, approvals are asked
inline, and a status line after each turn says what the turn cost and how much came from cache.
Ctrl-C cancels the reply being generated (not the session); Ctrl-D or /exit leaves. No error
ends the session: it is one clear line, and the prompt comes back.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.constrain import Constrain
from rich.live import Live
from rich.markdown import Markdown
from rich.spinner import Spinner
from rich.text import Text

from harness import events as ev
from harness.agent import Agent
from harness.config import cache_dir, harness_home
from harness.errors import HarnessError
from harness.models import resolve
from harness.mcp import MCPServer
from harness.skill_trust import ProjectSkills
from harness.memory import Session, StoredMessage, StoreError
from harness.prompt import PARSE_ERRORS_OPENING
from harness.toolcalls import parse_tool_calls
from harness.tools import deny_all


@dataclass(frozen=True)
class Command:
    """A slash command: what /help says about it, and the Repl method that runs it (given the text
    after the name; it returns "exit" to leave the chat)."""

    name: str
    help: str
    run: Callable[[Repl, str], str | None]
    usage: str = ""  # the argument it takes, as /help shows it
    aliases: tuple[str, ...] = ()


# --- showing text the model, a tool or a file wrote -----------------------------------------------
# Such text is never markup: it goes into Text objects (no "[bold]" is interpreted, none can raise),
# and what a terminal would act on or hide (escape sequences, bidi overrides, zero-width characters,
# a long run of spaces that pushes the rest of a command off screen) is shown as an escape instead.

MAX_SHOWN_SPACES = 8
ESCAPE_STYLE = "reverse"  # an escape the harness wrote stands out from the same characters typed
_SUSPECT = re.compile(r" {%d,}|[^ -~]" % (MAX_SHOWN_SPACES + 1))  # long space runs; all but printable ASCII
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}  # controls, format, unassigned, odd spaces
_NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
# For multi-line text (replies, thinking): C0 and C1 controls but newline and tab, as \xNN.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7f, 0xa0)] if chr(c) not in "\n\t"}


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else
                                        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def visible(text: str, style: str = "") -> Text:
    """``text`` on one line with nothing hidden and nothing interpreted: control, format and unusual
    space characters as escapes (``\\x1b``, ``\\n``, ``\\u202e``), runs of more than
    MAX_SHOWN_SPACES spaces as ``⟨120 spaces⟩``. One pass over the text."""
    out = Text(style=style)
    start = 0
    for match in _SUSPECT.finditer(text):
        found = match.group()
        if found[0] == " ":
            marker = f"⟨{len(found)} spaces⟩"
        elif unicodedata.category(found) in _HIDDEN_CATEGORIES:
            marker = _escape(found)
        else:
            continue  # a visible non-ASCII character (é, 字, →) is shown as it is
        out.append(text[start:match.start()])
        out.append(marker, style=ESCAPE_STYLE)
        start = match.end()
    out.append(text[start:])
    return out


def terminal_safe(text: str) -> str:
    """Multi-line text with the terminal's control characters (escape sequences, carriage returns)
    made visible as ``\\xNN``; newlines and tabs stay."""
    return text.translate(_CONTROLS)


def padded(text: str, width: int, style: str = "") -> Text:
    """``visible(text)`` padded with spaces to ``width`` columns (the padding is not text to reveal)."""
    shown = visible(text, style)
    shown.pad_right(max(0, width - shown.cell_len))
    return shown


def shown_value(value: Any) -> Text:
    """One argument's value: a string quoted and made visible, anything else as JSON."""
    if isinstance(value, str):
        return Text.assemble('"', visible(value), '"')
    return visible(json.dumps(value, ensure_ascii=False, default=str))


def approval_request(name: str, arguments: dict[str, Any]) -> Text:
    """What the user approves: the tool and every argument, in full, one per line."""
    text = Text.assemble(("? allow ", "yellow"), visible(name, "bold yellow"))
    for key, value in arguments.items():
        text.append("\n  ")
        text.append_text(visible(str(key), "bold"))
        text.append(": ")
        text.append_text(shown_value(value))
    return text


def trust_question(project: ProjectSkills) -> Text:
    """Asking whether a project's own skills may enter the prompt: which skills, from where."""
    names = Text(", ").join(visible(n, "bold") for n in project.names)
    if project.folder.name == ".mcp.json":  # the same trust, for a project's MCP servers (harness.mcp)
        return Text.assemble(("? this folder's .mcp.json starts MCP servers: ", "yellow"), names,
                             "\n  from ", visible(str(project.folder)),
                             "\n  Their commands would run on this machine, and their tools reach the model. "
                             "Trust them? (remembered until the file changes; each call still asks)")
    return Text.assemble(("? this folder brings its own skills: ", "yellow"), names,
                         "\n  from ", visible(str(project.folder)),
                         "\n  Their instructions would enter the model's prompt. Trust them? "
                         "(remembered for this folder until a SKILL.md changes)")


def ask_project_trust(console: Console, project: ProjectSkills) -> bool:
    """Ask once, y/n; no terminal to ask in, or no answer, is a no."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    console.print(trust_question(project))
    try:
        answer = console.input("  [bold]y[/]es / [bold]n[/]o: ")
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def kv_bytes_per_token(model: str) -> int | None:
    """KV-cache bytes one token occupies: 2 (K and V) x layers x KV heads x head size x dtype size.

    Known when the model's config.json is at hand: a bundled model's prepared checkpoint, or a
    checkpoint directory given as the model name."""
    bundled = resolve(model)
    candidates = [cache_dir() / "models" / bundled.name / "config.json"] if bundled else []
    candidates.append(Path(model).expanduser() / "config.json")
    for path in candidates:
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        layers = config.get("num_hidden_layers")
        heads = config.get("num_attention_heads")
        kv_heads = config.get("num_key_value_heads", heads)
        head_dim = config.get("head_dim") or (config.get("hidden_size", 0) // heads if heads else 0)
        size = {"float32": 4, "float16": 2, "bfloat16": 2}.get(str(config.get("dtype") or
                                                                   config.get("torch_dtype") or "bfloat16"), 2)
        if layers and kv_heads and head_dim:
            return 2 * layers * kv_heads * head_dim * size
    return None


def status_line(turns: list[ev.TurnRecord], stop: str, kv_per_token: int | None) -> str:
    prompt = sum(t.usage.prompt_tokens for t in turns)
    cached = sum(t.usage.cached_tokens for t in turns)
    completion = sum(t.usage.completion_tokens for t in turns)
    first = turns[0] if turns else None
    ttft = f"{first.ttft_s:.2f}s" if first and first.ttft_s is not None else "-"
    decode_s = sum(t.elapsed_s - (t.ttft_s or 0.0) for t in turns)
    rate = f"{(completion - len(turns)) / decode_s:.1f} tok/s" if decode_s > 0 and completion > len(turns) else "-"
    last = turns[-1] if turns else None
    context = (last.usage.prompt_tokens + last.usage.completion_tokens) if last else 0
    kv = f"KV {context * kv_per_token / 2**20:.1f} MiB" if kv_per_token and context else "KV -"
    share = f"{cached / prompt:.0%}" if prompt else "-"
    return (f"{prompt} prompt tok, {cached} cached ({share}) · ttft {ttft} · {rate} · {len(turns)} request"
            f"{'s' if len(turns) != 1 else ''} · stop: {stop} · {kv}")


@dataclass
class TurnLog:
    """What /trace shows about the last turn."""

    user: str = ""
    turns: list[ev.TurnRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skill loads, recalls, compactions, plan steps
    stop: str = ""
    error: str | None = None


@contextlib.contextmanager
def _no_echo(enabled: bool) -> Iterator[None]:
    """Turn off the terminal's echo while a reply streams: keys typed meanwhile, and the "^C" the
    terminal itself prints for Ctrl-C, would otherwise land inside the live area and garble it."""
    if not enabled:
        yield
        return
    import termios

    fd = sys.stdin.fileno()
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


class _Plain:
    """Output for a pipe: deltas printed as they come, no live redraws or spinners."""

    def __init__(self, console: Console) -> None:
        self.console, self.wrote = console, False

    def start(self) -> None:
        pass

    def write(self, event: ev.Event) -> None:
        if isinstance(event, ev.TextDelta):
            self.console.print(terminal_safe(event.text), end="", markup=False, highlight=False)
            self.wrote = True

    def stop(self) -> None:
        if self.wrote:
            self.console.print()
            self.wrote = False


class _ReplyView:
    """The reply being streamed: a live area (spinner, dimmed thinking, Markdown) in a terminal,
    plain deltas in a pipe. ``settle`` replaces the live area with the final text, printed once."""

    def __init__(self, console: Console, interactive: bool) -> None:
        self.console, self.interactive = console, interactive
        self.reply = self.thinking = self.all_thinking = ""
        self.waiting = Spinner("dots", text=Text(" prefilling the prompt…", style="dim"))
        self.live: Any = None

    def view(self) -> Any:
        parts: list[Any] = []
        if self.thinking and not self.reply:
            parts.append(Text(terminal_safe(self.thinking[-600:]), style="dim italic"))
        if self.reply:
            parts.append(Constrain(Markdown(terminal_safe(self.reply)), width=max(self.console.width - 1, 20)))
        return Group(*parts) if parts else self.waiting

    def start(self) -> None:
        self.reply = self.thinking = ""
        # Transient: erased when it stops, then the final text is printed once for good.
        self.live = Live(self.view(), console=self.console, refresh_per_second=12, transient=True) \
            if self.interactive else _Plain(self.console)
        self.live.start()

    def update(self, event: ev.Event) -> None:
        if self.interactive:
            self.live.update(self.view())
        else:
            self.live.write(event)

    def settle(self) -> None:
        if self.live is None:
            return
        self.live.stop()
        self.live = None
        self.all_thinking += self.thinking
        if self.interactive and (self.reply or self.thinking):
            self.console.print(self.view())


def event_lines(event: ev.Event) -> list[Text]:
    """How the chat shows one event of a turn (model text and tool output never read as markup)."""
    if isinstance(event, ev.ToolCallEvent):
        args = json.dumps(event.call.arguments, ensure_ascii=False, default=str)
        line = Text.assemble(("→ ", "cyan"), visible(event.call.name, "cyan"), "(", visible(args[:200]),
                             " …)" if len(args) > 200 else ")")
        if event.problem:
            line.append(" ")
            line.append_text(visible(f"✗ {(event.problem.splitlines() or [''])[0]}", "red"))
        return [line]
    if isinstance(event, ev.ToolResultEvent):
        r = event.result
        first = (r.output.strip().splitlines() or [""])[0]
        more = " …" if len(r.output) > len(first) else ""
        return [Text.assemble("  ", ("✓" if r.ok else "✗", "green" if r.ok else "red"), " ",
                              visible(first[:160], "dim"), (f"{more} ({r.elapsed_s * 1000:.0f} ms)", "dim"))]
    if isinstance(event, ev.ParseProblem):
        return [Text.assemble("! the reply could not be used: ", visible(event.errors[0][:200]), style="yellow")]
    if isinstance(event, ev.AnswerRejected):  # it streamed already: say it was withdrawn, and why
        if event.reason == "unused":
            return [Text.assemble("\n↺ answer incomplete (it left a tool result out); asking again", style="yellow")]
        why = {"echo": "it repeated the harness's note", "restated": "it only said the request back",
               "numbers": "it stated numbers nobody gave",
               "claimed": "it reported an action no tool did"}.get(event.reason, "it could not be used")
        return [Text.assemble("\n↺ answer withdrawn (", why, "); asking again", style="yellow")]
    if isinstance(event, ev.SkillLoaded):
        return [Text.assemble("◆ skill ", visible(event.name), " loaded", style="magenta")]
    if isinstance(event, ev.MemoryRecalled):
        return [Text.assemble(f"◆ recalled {len(event.facts)} fact(s) for ", visible(repr(event.query)),
                              style="magenta")]
    if isinstance(event, ev.Compacted):
        return [Text(f"◆ context nearly full: {event.replaced} older messages summarised; "
                     "the prefix cache restarts from here", style="yellow")]
    if isinstance(event, ev.PlanEvent):
        title = "plan" if event.revision == 0 else f"new plan (revision {event.revision})"
        return [Text.assemble((f"{title}:", "bold"), " ", visible(str(event.plan.goal))),
                *(Text.assemble(f"  {i}. ", visible(str(step.goal)), " ", visible(", ".join(step.tools), "dim"))
                  for i, step in enumerate(event.plan.steps, 1))]
    if isinstance(event, ev.StepStarted):
        return [Text.assemble((f"▶ step {event.index + 1}:", "bold"), " ", visible(event.goal))]
    if isinstance(event, ev.StepFinished):
        return [Text.assemble("  ", ("done" if event.ok else "failed", "green" if event.ok else "red"), ": ",
                              visible(event.outcome[:200]))]
    return []


# --- what the chat shows, as data in and renderables out (tested with a recording console) -------

def turn_end_lines(log: TurnLog, thinking: str, kv_per_token: int | None) -> list[Text]:
    """What follows a turn's reply: how long it thought, whether it was cancelled or failed, and the
    status line (what the turn cost, how much came from the prefix cache)."""
    lines = []
    if thinking:
        lines.append(Text(f"▸ thought for {len(thinking.split())} words (/thinking shows it)", style="dim"))
    if log.stop == "cancelled":
        lines.append(Text("cancelled", style="yellow"))
    if log.error:
        lines.append(Text.assemble(("error:", "red"), " ", visible(log.error)))
    lines.append(Text(status_line(log.turns, log.stop, kv_per_token), style="dim"))
    return lines


def trace_lines(log: TurnLog) -> list[Text]:
    """/trace: the last turn request by request: tokens, cache, timing, what the model wrote, what ran."""
    if not log.turns:
        return [Text("  nothing yet: /trace explains the last turn")]
    lines = [Text.assemble(("last turn", "bold"), ": ", visible(repr(log.user[:120])), f" → stop: {log.stop}",
                           visible(f" ({log.error})" if log.error else ""))]
    for i, t in enumerate(log.turns, 1):
        u = t.usage
        share = f"{u.cached_tokens / u.prompt_tokens:.0%}" if u.prompt_tokens else "-"
        decode = t.elapsed_s - (t.ttft_s or 0.0)
        lines.append(Text.assemble(
            (f"request {i}", "bold"),
            f": {t.prompt_messages} messages, {u.prompt_tokens} prompt tokens, {u.cached_tokens} served from the "
            f"prefix cache ({share}); prefill+first token {(t.ttft_s or 0):.2f} s, decode {decode:.2f} s for "
            f"{u.completion_tokens} tokens; finish: ", visible(str(t.finish_reason)),
            " (guided decoding)" if t.constrained else ""))
        lines.append(Text.assemble(("  model wrote: ", "dim"), visible(t.raw_text[:600]),
                                   " …" if len(t.raw_text) > 600 else ""))
        if t.thinking:
            lines.append(Text(f"  thinking: {len(t.thinking.split())} words", style="dim"))
        lines.extend(Text.assemble("  ", ("parse problem:", "red"), " ", visible(p)) for p in t.problems)
        for call in t.calls:
            result = next((r for r in t.results if r.name == call.name and r.arguments == call.arguments), None)
            verdict = ("final answer" if call.name == "final_answer" else
                       "valid, ran" if result and result.ok else
                       f"refused or failed: {(result.output.splitlines() or [''])[0][:120]}" if result else
                       "not run")
            args = json.dumps(call.arguments, ensure_ascii=False, default=str)[:160]
            lines.append(Text.assemble("  call ", visible(f"{call.name}({args}) → {verdict}")))
            if result and result.ok:
                lines.append(Text.assemble("    result: ", visible(result.output[:200])))
    lines.extend(Text.assemble("  • ", visible(note)) for note in log.notes)
    return lines


def model_line(model: str | None, base_url: str, constrained: bool | None) -> Text:
    """/model: the model and server, and whether calls use guided decoding (decided on the first turn,
    from the served model, unless given)."""
    mode = "not yet decided (on the first turn)" if constrained is None else "on" if constrained else "off"
    return Text.assemble("  ", visible(f"{model or 'model not yet asked'} at {base_url}"),
                         f"; constrained calls: {mode}")


def _tool_names(message: StoredMessage) -> list[str]:
    """The tools whose results a stored message carries (none for any other message)."""
    names = [str(r.get("name")) for r in message.extra.get("results", [])]
    return names or ([message.tool_name] if message.tool_name else [])


def recap_lines(messages: list[StoredMessage], last: int = 6) -> list[Text]:
    """The end of a stored conversation: what the user said and what the model answered or called.

    Tool results are known by the tool columns the store keeps, and the model's calls are named from
    them; the model's own text is read only for a final answer's words."""
    shown: list[tuple[str, str]] = []
    for i, m in enumerate(messages):
        called = _tool_names(messages[i + 1]) if i + 1 < len(messages) else []
        if m.role == "assistant" and called:
            shown.append(("model", f"(called {', '.join(called)})"))
        elif m.role == "assistant":
            final = next((c for c in parse_tool_calls(m.content).calls if c.name == "final_answer"), None)
            shown.append(("model", str(final.arguments.get("answer", "")) if final else m.content))
        elif m.role == "user" and m.kind == "message" and not _tool_names(m) and \
                not m.content.startswith(PARSE_ERRORS_OPENING):
            shown.append(("you", m.content))
    lines = []
    for who, text in shown[-last:]:
        line = " ".join(text.split())
        lines.append(Text.assemble((f"  {who}: ", "bold"), visible(line[:200]), " …" if len(line) > 200 else ""))
    return lines


def help_lines(commands: Sequence[Command]) -> list[Text]:
    """/help, from the command table (and the skills, which are commands too)."""
    rows = [(" ".join(filter(None, [", ".join((c.name, *c.aliases)), c.usage])), c.help) for c in commands]
    rows.append(("/<skill> ARGS", "run a skill with arguments, e.g. /plan-task tidy my notes"))
    return [Text.assemble("  ", padded(name, 18, "bold"), " ", what) for name, what in rows]


def session_lines(sessions: list[Session], current: str) -> list[Text]:
    """/sessions: the recent ones, the current one starred, each with its title (its first message)."""
    return [Text.assemble(f" {'*' if s.id == current else ' '}", visible(s.id), f"  {s.messages:4d} messages  ",
                          visible(s.title or "")) for s in sessions]


class Repl:
    def __init__(self, make_agent: Callable[[str | None], Agent], console: Console | None = None,
                 session: str | None = None, mcp_servers: Callable[[], list[MCPServer]] | None = None) -> None:
        self.make_agent = make_agent
        self.mcp_servers = mcp_servers or list  # the servers the CLI started (for /mcp)
        self.console = console or Console(highlight=False)
        self.agent = make_agent(session)
        self.last = TurnLog()
        self.last_thinking = ""
        self.always: set[str] = set()
        self.kv_per_token: int | None = None
        self._adopt(self.agent)
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._prompt: Any = None

    # --- input ---------------------------------------------------------------------------------

    def _session(self) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion, PathCompleter
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        repl = self

        class SlashCompleter(Completer):
            paths = PathCompleter(expanduser=True)

            def get_completions(self, document, complete_event):  # type: ignore[no-untyped-def]
                text = document.text_before_cursor
                if text.startswith("/") and " " not in text:
                    for name in repl.command_names():
                        if name.startswith(text):
                            yield Completion(name, start_position=-len(text))
                    return
                word = text.split()[-1] if text.split() and not text.endswith(" ") else ""
                if "/" in word or word.startswith("."):
                    from prompt_toolkit.document import Document

                    yield from self.paths.get_completions(Document(word), complete_event)

        keys = KeyBindings()

        @keys.add("escape", "enter")  # Alt-Enter / Esc Enter: a new line; Enter sends
        def _(event):  # type: ignore[no-untyped-def]
            event.current_buffer.insert_text("\n")

        history = harness_home() / "history"
        history.parent.mkdir(parents=True, exist_ok=True)
        return PromptSession(history=FileHistory(str(history)), completer=SlashCompleter(),
                             key_bindings=keys, multiline=False, complete_while_typing=True)

    def read(self) -> str | None:
        """One message, or None at end of input (Ctrl-D)."""
        if not self.interactive:
            self.console.print("> ", end="")
            line = sys.stdin.readline()
            return line.rstrip("\n") if line else None
        if self._prompt is None:
            self._prompt = self._session()
        while True:
            try:
                return self._prompt.prompt("› ")
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                return None

    def _ask(self, prompt: str) -> str:
        """One line from the person. The agent's event loop turns a Ctrl-C into cancelling its task,
        which a blocking input never notices: here Ctrl-C must raise at once (and refuse)."""
        if threading.current_thread() is not threading.main_thread():
            return self.console.input(prompt)
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return self.console.input(prompt)
        finally:
            signal.signal(signal.SIGINT, previous)

    def approve(self, name: str, arguments: dict[str, Any]) -> bool:
        if name in self.always:
            return True
        if not self.interactive:  # nobody to ask: piped input is messages, not answers
            self.console.print(Text.assemble("refused ", visible(name), ": approval needs a terminal (or --yes)",
                                             style="yellow"))
            return False
        self.console.print(approval_request(name, arguments))
        while True:
            try:
                answer = self._ask("  [bold]y[/]es / [bold]n[/]o / [bold]a[/]lways for this tool: ")
            except (EOFError, KeyboardInterrupt):
                return False
            answer = answer.strip().lower()
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no", ""):
                return False
            if answer in ("a", "always"):
                self.always.add(name)
                return True

    # --- the loop --------------------------------------------------------------------------------

    def banner(self) -> None:
        a = self.agent
        model = a.client.known_model or "?"
        resumed = f" · resumed session {a.session_id} ({len(a.messages)} messages)" if len(a.messages) > 1 else ""
        self.console.print(Text.assemble(("harness chat", "bold"), " · ", visible(f"{model} at {a.client.base_url}"),
                                         visible(resumed)))
        self.console.print(Text.assemble(f"{len(a.tools)} tools, {len(a.skills.skills)} skills · session ",
                                         visible(a.session_id),
                                         " · /help for commands · Ctrl-C cancels a reply, Ctrl-D exits", style="dim"))
        for error in a.skills.errors:
            self.console.print(Text.assemble(f"skill {error.level}: ", visible(str(error)), style="yellow"))
        if resumed:
            self.recap()

    def recap(self) -> None:
        """The end of a resumed conversation, as the store has it."""
        if self.agent.memory is not None:
            for line in recap_lines(self.agent.memory.messages(self.agent.session_id, include_compacted=False)):
                self.console.print(line)

    def run(self) -> None:
        try:
            self.agent.served_model()
        except HarnessError as exc:
            self.error(exc)
        model = self.agent.client.known_model  # None when the server was down: no guessing from ./
        self.kv_per_token = kv_bytes_per_token(model) if model else None
        self.banner()
        while True:
            text = self.read()
            if text is None:
                self.console.print("bye")
                return
            text = text.strip()
            if not text:
                continue
            try:
                if text.startswith("/"):
                    if self.command(text) == "exit":
                        return
                else:
                    self.turn(text)
            except (HarnessError, StoreError) as exc:
                self.error(exc)
            except Exception as exc:  # noqa: BLE001 - the session must survive anything
                self.console.print(Text.assemble(("error:", "red"), f" {type(exc).__name__}: ", visible(str(exc))))

    def error(self, exc: Exception) -> None:
        message = getattr(exc, "message", str(exc))
        hint = getattr(exc, "hint", "")
        self.console.print(Text.assemble(("error:", "red"), " ", visible(str(message))))
        if hint:
            self.console.print(Text.assemble("  ", visible(f"hint: {hint}", "dim")))

    # --- one turn --------------------------------------------------------------------------------

    def turn(self, text: str, skill: str | None = None, plan: bool = False) -> None:
        self.last = log = TurnLog(user=text)
        screen = _ReplyView(self.console, self.interactive)
        stream = self.agent.stream(text, skill=skill, plan=plan)
        screen.start()
        try:
            with _no_echo(self.interactive):
                for event in stream:
                    if isinstance(event, ev.TextDelta):
                        screen.reply += event.text
                    elif isinstance(event, ev.ThinkingDelta):
                        screen.thinking += event.text
                    elif isinstance(event, ev.Final):
                        log.turns, log.stop, log.error = event.result.turns, event.result.stop_reason, event.result.error
                    else:
                        screen.settle()
                        self.show(event, log)
                        screen.start()  # the next model request streams below what was printed
                        continue
                    screen.update(event)
        except KeyboardInterrupt:
            stream.close()  # closes the HTTP stream: the server aborts the request
            log.stop = "cancelled"
        finally:
            screen.settle()
        if screen.all_thinking:
            self.last_thinking = screen.all_thinking
        for line in turn_end_lines(log, screen.all_thinking, self.kv_per_token):
            self.console.print(line, soft_wrap=True)

    def show(self, event: ev.Event, log: TurnLog) -> None:
        if isinstance(event, ev.TurnUsage):  # /trace has each request as it ends, even if the run then fails
            log.turns.append(event.turn)
        elif isinstance(event, ev.SkillLoaded):
            log.notes.append(f"skill loaded: {event.name} ({event.path})")
        elif isinstance(event, ev.MemoryRecalled):
            log.notes.append(f"memory recalled for {event.query!r}: {len(event.facts)} line(s)")
        elif isinstance(event, ev.Compacted):
            log.notes.append(f"compacted {event.replaced} messages (~{event.estimated_tokens} tokens)")
        elif isinstance(event, ev.PlanEvent):
            title = "plan" if event.revision == 0 else f"new plan (revision {event.revision})"
            log.notes.append(f"{title}: {len(event.plan.steps)} steps")
        elif isinstance(event, ev.StepFinished):
            log.notes.append(f"step {event.index + 1} {'done' if event.ok else 'failed'}: {event.outcome[:80]}")
        for line in event_lines(event):
            self.console.print(line)

    # --- commands --------------------------------------------------------------------------------

    def command(self, line: str) -> str | None:
        """Run a slash command (or a skill by its name); "exit" means leave."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        found = next((c for c in COMMANDS if name in (c.name, *c.aliases)), None)
        if found is not None:
            return found.run(self, arg)
        if name[1:] in self.agent.skills.names:
            self.turn(arg, skill=name[1:])
            return None
        close = difflib.get_close_matches(name, self.command_names(), n=1, cutoff=0.5)
        self.console.print(Text.assemble(("unknown command ", "yellow"), visible(name, "yellow"),
                                         *(("; did you mean ", (close[0], "bold"), "?") if close
                                           else ("; /help lists them",))))
        return None

    def command_names(self) -> list[str]:
        """Every name a slash command answers to, skills included (for completion and "did you mean")."""
        return sorted({*(n for c in COMMANDS for n in (c.name, *c.aliases)),
                       *(f"/{n}" for n in self.agent.skills.names)})

    def print_lines(self, lines: list[Text]) -> None:
        for line in lines:
            self.console.print(line)

    def leave(self, arg: str) -> str:
        return "exit"

    def help(self, arg: str) -> None:
        self.print_lines(help_lines(COMMANDS))

    def list_tools(self, arg: str) -> None:
        for t in self.agent.tools:
            flag = (" (asks first)", "yellow") if t.needs_approval else ""
            self.console.print(Text.assemble("  ", padded(t.name, 18, "bold"), " ",
                                             visible((t.description.splitlines() or [""])[0][:90]), flag))

    def list_mcp(self, arg: str) -> None:
        c = self.console
        servers = self.mcp_servers()
        for server in servers:
            style = "green" if server.status == "running" else "red"
            c.print(Text.assemble("  ", padded(server.name, 18, "bold"), " ", (server.status, style),
                                  (f"  ({len(server.tools())} tools"
                                   f"{', trusted' if server.settings.trust else ', asks first'})", "dim")))
            for line in server.error.splitlines():
                c.print(Text.assemble("    ", visible(line, "yellow")))
        if not servers:
            c.print("  no MCP servers; add [mcp_servers.NAME] to ~/.harness/config.toml, or a ./.mcp.json")

    def list_skills(self, arg: str) -> None:
        c = self.console
        for s in self.agent.skills.skills:
            c.print(Text.assemble("  ", padded(f"/{s.name}", 21, "bold"), " ", visible(s.description[:90]), " ",
                                  (f"({s.source})", "dim")))
        for e in self.agent.skills.errors:
            c.print(Text.assemble("  ", visible(f"{e.level}: {e}", "yellow")))
        if not self.agent.skills.skills:
            c.print("  no skills; add a folder with a SKILL.md to ~/.harness/skills")

    def plan(self, arg: str) -> None:
        if not arg:
            self.console.print("usage: /plan TASK")
        else:
            self.turn(arg, plan=True)

    def search_memory(self, arg: str) -> None:
        store = self._store()
        facts = store.recall(arg, limit=10) if arg else store.facts(limit=10)
        for f in facts:
            self.console.print(Text.assemble(f"  #{f.id} ", visible(f.text)))
        if not facts:
            self.console.print("  no facts" + (" match" if arg else " yet"))

    def remember(self, arg: str) -> None:
        if not arg:
            self.console.print("usage: /remember TEXT")
        else:
            fact = self._store().remember(arg, session_id=self.agent.session_id)
            self.console.print(f"  remembered as fact #{fact}")

    def list_sessions(self, arg: str) -> None:
        self.print_lines(session_lines(self._store().sessions(limit=15), self.agent.session_id))

    def resume(self, arg: str) -> None:
        if not arg:
            self.console.print("usage: /resume ID (see /sessions)")
        else:
            self._switch(arg)

    def new_session(self, arg: str) -> None:
        self._switch(None)

    def show_model(self, arg: str) -> None:
        a = self.agent
        self.console.print(model_line(a.client.known_model, a.client.base_url, a._constrained))

    def show_trace(self, arg: str) -> None:
        self.print_lines(trace_lines(self.last))

    def show_thinking(self, arg: str) -> None:
        self.console.print(Text(terminal_safe(self.last_thinking) or "(no thinking in the last reply)", style="dim"))

    def _store(self) -> Any:
        if self.agent.memory is None:
            raise HarnessError("memory is off in this session", hint="start harness chat without --no-memory")
        return self.agent.memory

    def _adopt(self, agent: Any) -> None:
        """Ask the person at the terminal, unless the agent was built to allow all (--yes)."""
        if agent.approve is deny_all:
            agent.approve = self.approve

    def _switch(self, session: str | None) -> None:
        agent = self.make_agent(session)
        self._adopt(agent)
        # The old session's client and store go with it (only once the new one was built).
        self.agent, old = agent, self.agent
        old.close()
        self.console.print(Text.assemble(f"  {'resumed' if session else 'new'} session ", visible(agent.session_id),
                                         f" ({len(agent.messages)} messages)" if session else ""))


COMMANDS: tuple[Command, ...] = (
    Command("/help", "this list", Repl.help),
    Command("/tools", "the tools the model can call", Repl.list_tools),
    Command("/skills", "the skills found, and any problems", Repl.list_skills),
    Command("/mcp", "the MCP servers, their status and tools", Repl.list_mcp),
    Command("/plan", "plan the task, then run the steps", Repl.plan, "TASK"),
    Command("/memory", "search remembered facts (the latest without a query)", Repl.search_memory, "[QUERY]"),
    Command("/remember", "remember a fact", Repl.remember, "TEXT"),
    Command("/sessions", "recent sessions", Repl.list_sessions),
    Command("/resume", "continue another session", Repl.resume, "ID"),
    Command("/new", "start a new session", Repl.new_session),
    Command("/model", "the model and server in use", Repl.show_model),
    Command("/trace", "what happened in the last turn, step by step", Repl.show_trace),
    Command("/thinking", "show the last reply's thinking", Repl.show_thinking),
    Command("/exit", "leave (Ctrl-D works too)", Repl.leave, aliases=("/quit",)),
)
