"""A set of tools: stable order, validation of a call's arguments, and running calls.

Everything the model gets wrong — an unknown tool, arguments that do not fit the schema, a tool
that raises, hangs or prints megabytes — becomes a ``ToolResult`` with a message the model can
act on. Nothing here raises because of what the model wrote, nor because of what a tool does
(raise, ``sys.exit``, return a value that cannot be printed, block its event loop).

Every tool runs in a thread of its own, an async tool in an event loop of its own there: a tool
that blocks cannot freeze the agent, so its timeout always holds. The price: an async tool must
not use objects bound to the caller's event loop (its clients, locks, queues).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import inspect
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jsonschema
import pydantic

from harness.tools.tool import Tool, canonical_json

# Validation costs tens of microseconds per value, on the event loop: bigger arguments are refused
# with a message (a model that sends 10^5 values means to pass data, which a file does better).
MAX_ARGUMENT_VALUES = 10_000
MAX_ARGUMENT_DEPTH = 64  # validators and serialisers recurse

# approve(tool_name, arguments) -> bool, sync or async. The REPL asks; scripts deny by default.
Approve = Callable[[str, dict[str, Any]], bool | Awaitable[bool]]


def deny_all(name: str, arguments: dict[str, Any]) -> bool:
    return False


def allow_all(name: str, arguments: dict[str, Any]) -> bool:
    return True


@dataclass
class ToolResult:
    name: str
    arguments: dict[str, Any]
    output: str
    ok: bool = True
    truncated: bool = False
    elapsed_s: float = 0.0


def truncate(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    note = (f"\n[output truncated: {len(text):,} characters in all, showing the first {limit:,}; "
            "ask for a narrower range if you need more]")
    return text[:limit] + note, True


def _safe_str(value: object) -> str:
    """str(), else repr(), else the type's name: a tool's value or error may break both."""
    for render in (str, repr):
        try:
            return render(value)
        except Exception:  # noqa: BLE001 - any failure falls through to the next rendering
            continue
    return f"<{type(value).__name__}>"


def _as_text(name: str, value: Any) -> tuple[str, bool]:
    """The text handed back to the model, and False when the value could not be turned into text."""
    try:
        if value is None:
            return "(no output)", True
        if isinstance(value, str):
            return value, True
        if isinstance(value, pydantic.BaseModel):
            value = value.model_dump(mode="json")
        try:
            return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str), True
        except (TypeError, ValueError):
            return repr(value), True
    except Exception as exc:  # noqa: BLE001 - a broken __str__/__repr__ is the tool's fault, not the run's
        return (f"{name!r} returned a {type(value).__name__} that could not be turned into text "
                f"({type(exc).__name__}: {_safe_str(exc)})."), False


def _size_problem(name: str, arguments: dict[str, Any]) -> str | None:
    """A message if the arguments hold too many values or nest too deeply; counts at most the limit."""
    count, stack = 0, [(arguments, 1)]  # the arguments object itself is not counted
    while stack:
        value, depth = stack.pop()
        if depth > MAX_ARGUMENT_DEPTH:
            return (f"The arguments for {name!r} nest more than {MAX_ARGUMENT_DEPTH} levels deep. "
                    "Flatten them, or pass the nested data as a string.")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        count += len(children)
        if count > MAX_ARGUMENT_VALUES:
            return (f"The arguments for {name!r} are too large: more than {MAX_ARGUMENT_VALUES:,} values "
                    "(list items, object fields and scalars). Pass less per call: split the work into "
                    "several calls, or write the data to a file and pass its path.")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return None


def _describe_error(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(the arguments object)"
    expected = ""
    if error.validator in ("type", "enum", "const", "format", "pattern", "minimum", "maximum"):
        expected = f" (expected {error.validator} {json.dumps(error.validator_value)})"
    return f"at {where}: {error.message}{expected}"


class ToolExited(Exception):
    """A tool called ``sys.exit``: the call fails; the program goes on."""

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


class _Call:
    """One tool call in a daemon thread; an async tool runs in an event loop of its own there.

    A thread cannot be killed: a tool still running at its timeout keeps its thread, but as a
    daemon it never holds up the process's exit (asyncio.to_thread's pool would). An abandoned
    async tool is also cancelled in its own loop, so one that awaits stops there.
    """

    def __init__(self, fn: Callable[..., Any], kwargs: dict[str, Any], is_async: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self._loop.create_future()
        self._lock = threading.Lock()
        self._abandoned = False
        self._cancel_tool: Callable[[], object] | None = None
        self.future.add_done_callback(self._on_done)
        threading.Thread(target=self._work, args=(fn, kwargs, is_async), daemon=True, name="tool").start()

    def _work(self, fn: Callable[..., Any], kwargs: dict[str, Any], is_async: bool) -> None:
        try:
            value = asyncio.run(self._run_async(fn, kwargs)) if is_async else fn(**kwargs)
        except SystemExit as exc:
            # Raised on the caller's loop, SystemExit would end the whole program.
            self._deliver(self.future.set_exception, ToolExited(exc.code))
        except StopIteration as exc:  # a future refuses it (and would never complete)
            self._deliver(self.future.set_exception, RuntimeError(f"StopIteration: {_safe_str(exc)}"))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side; KeyboardInterrupt still ends the run
            self._deliver(self.future.set_exception, exc)
        else:
            self._deliver(self.future.set_result, value)

    async def _run_async(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None
        with self._lock:
            if self._abandoned:
                raise asyncio.CancelledError
            self._cancel_tool = lambda: loop.call_soon_threadsafe(task.cancel)
        return await fn(**kwargs)

    def _on_done(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled():
            return
        # Abandoned (timeout, Ctrl-C): cancel an async tool in its own loop too.
        with self._lock:
            self._abandoned = True
            cancel = self._cancel_tool
        if cancel is not None:
            with contextlib.suppress(RuntimeError):  # its loop has just finished: nothing to cancel
                cancel()

    def _deliver(self, setter: Callable[[Any], None], value: Any) -> None:
        def settle() -> None:
            if not self.future.done():
                setter(value)

        # A tool that finishes after its timeout may find the caller's loop closed: nobody waits
        # for it then (without this check the thread dies printing "Event loop is closed").
        if self._loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            self._loop.call_soon_threadsafe(settle)


class ToolSet:
    """Tools in a stable order (sorted by name), so their rendering is byte-stable."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"two tools are named {tool.name!r}")
        self._tools[tool.name] = tool

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._tools[name] for name in sorted(self._tools))

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self]

    def specs_json(self) -> str:
        """The canonical bytes of every tool's spec, one per line (what the prompt embeds)."""
        return "\n".join(canonical_json(s) for s in self.specs())

    def check(self, name: str, arguments: Any) -> str | None:
        """None if the call may run, else a message that tells the model exactly what to fix."""
        tool = self._tools.get(name)
        if tool is None:
            close = difflib.get_close_matches(name, self.names, n=1)
            suggestion = f" Did you mean {close[0]!r}?" if close else ""
            return (f"There is no tool named {name!r}.{suggestion} "
                    f"Available tools: {', '.join(self.names) or '(none)'}.")
        if not isinstance(arguments, dict):
            return f"The arguments for {name!r} must be a JSON object, not {type(arguments).__name__}."
        too_big = _size_problem(name, arguments)
        if too_big:
            return too_big
        validator = jsonschema.Draft202012Validator(tool.parameters)
        # Only the first few errors are shown: do not compute the rest (one per item of a long list).
        problems = sorted(itertools.islice(validator.iter_errors(arguments), 8), key=lambda e: list(e.absolute_path))
        if problems:
            lines = "\n".join(f"- {_describe_error(p)}" for p in problems[:8])
            return (f"The arguments for {name!r} do not match its schema:\n{lines}\n"
                    f"The parameters are: {canonical_json(tool.parameters)}\n"
                    "Call it again with corrected arguments.")
        return None

    async def run(self, name: str, arguments: dict[str, Any], approve: Approve = deny_all) -> ToolResult:
        """Validate, ask approval if needed, run with a timeout, cap the output."""
        started = time.perf_counter()

        def result(output: str, ok: bool) -> ToolResult:
            limit = tool.max_output if tool else 16_000
            text, cut = truncate(output, limit)
            return ToolResult(name, arguments if isinstance(arguments, dict) else {}, text, ok, cut,
                              time.perf_counter() - started)

        tool = self._tools.get(name)
        problem = self.check(name, arguments)
        if problem or tool is None:
            return result(problem or "", False)
        if tool.needs_approval:
            decision = approve(name, arguments)
            if inspect.isawaitable(decision):
                decision = await decision
            if not decision:
                return result(f"The user did not approve running {name!r}. Do not retry it; "
                              "continue without it or ask the user.", False)
        call: _Call | None = None
        try:
            kwargs = tool.bind(arguments)
            call = _Call(tool.fn, kwargs, tool.is_async)
            value = await asyncio.wait_for(call.future, timeout=tool.timeout_s)
        except asyncio.TimeoutError as exc:
            if call is None or not call.future.cancelled():  # the tool itself raised TimeoutError
                return result(f"{name!r} failed: {type(exc).__name__}: {_safe_str(exc)}", False)
            return result(f"{name!r} did not finish within its {tool.timeout_s:g} s timeout and was abandoned.", False)
        except pydantic.ValidationError as exc:
            return result(f"The arguments for {name!r} are invalid: {exc}", False)
        except ToolExited as exc:
            return result(f"{name!r} tried to end the program (sys.exit({_safe_str(exc.code)})); "
                          "the call failed and nothing else stopped.", False)
        except Exception as exc:  # noqa: BLE001 - a tool's failure is a result for the model
            return result(f"{name!r} failed: {type(exc).__name__}: {_safe_str(exc)}", False)
        return result(*_as_text(name, value))

    async def run_all(self, calls: Iterable[tuple[str, dict[str, Any]]], approve: Approve = deny_all) -> list[ToolResult]:
        """Run one turn's calls concurrently; results come back in call order."""
        return list(await asyncio.gather(*(self.run(n, a, approve) for n, a in calls)))

    def run_sync(self, name: str, arguments: dict[str, Any], approve: Approve = deny_all) -> ToolResult:
        return asyncio.run(self.run(name, arguments, approve))
