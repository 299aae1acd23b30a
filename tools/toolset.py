"""A set of tools: stable order, validation of a call's arguments, and running calls.

Everything the model gets wrong — an unknown tool, arguments that do not fit the schema, a tool
that raises, hangs or prints megabytes — becomes a ``ToolResult`` with a message the model can
act on. Nothing here raises because of what the model wrote.
"""

from __future__ import annotations

import asyncio
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

from tools.tool import Tool, canonical_json

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


def _as_text(value: Any) -> str:
    if value is None:
        return "(no output)"
    if isinstance(value, str):
        return value
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


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


def _run_in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
    """Run a sync tool off the event loop in a daemon thread.

    A thread cannot be killed: a sync tool that hangs past its timeout keeps its thread, but as a
    daemon it never holds up the process's exit (asyncio.to_thread's pool would).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def work() -> None:
        try:
            value = fn(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
            loop.call_soon_threadsafe(settle, future.set_exception, exc)
        else:
            loop.call_soon_threadsafe(settle, future.set_result, value)

    threading.Thread(target=work, daemon=True, name="tool").start()
    return future


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
        try:
            kwargs = tool.bind(arguments)
            call = tool.fn(**kwargs) if tool.is_async else _run_in_daemon_thread(tool.fn, kwargs)
            value = await asyncio.wait_for(call, timeout=tool.timeout_s)
        except asyncio.TimeoutError:
            return result(f"{name!r} did not finish within its {tool.timeout_s:g} s timeout and was abandoned.", False)
        except pydantic.ValidationError as exc:
            return result(f"The arguments for {name!r} are invalid: {exc}", False)
        except Exception as exc:  # noqa: BLE001 - a tool's failure is a result for the model
            return result(f"{name!r} failed: {type(exc).__name__}: {exc}", False)
        return result(_as_text(value), True)

    async def run_all(self, calls: Iterable[tuple[str, dict[str, Any]]], approve: Approve = deny_all) -> list[ToolResult]:
        """Run one turn's calls concurrently; results come back in call order."""
        return list(await asyncio.gather(*(self.run(n, a, approve) for n, a in calls)))

    def run_sync(self, name: str, arguments: dict[str, Any], approve: Approve = deny_all) -> ToolResult:
        return asyncio.run(self.run(name, arguments, approve))
