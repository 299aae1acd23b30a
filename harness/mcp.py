"""MCP servers as harness tools: each server's tools become ``tools.Tool``s.

The official ``mcp`` SDK is async, and a server outlives any one agent's event loop (the agent's,
or a caller's own); so each server's client session lives in ONE background thread with its own
loop, and each tool's sync ``fn`` submits its call there and waits with the tool's timeout.

    with MCPServer.stdio("time", sys.executable, ["-m", "mcp_server_time"]) as srv:
        with Agent(tools=[*srv.tools()]) as agent:
            ...

A server that fails to start or dies is reported with the tail of its stderr; its tools then
return a clear error result and the session goes on.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import re
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.tools import Tool

DEFAULT_TIMEOUT_S = 30.0
START_TIMEOUT_S = 30.0
STDERR_TAIL = 2000  # characters of a server's stderr shown when it fails
PROJECT_FILE = ".mcp.json"
_NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")


class MCPServerSettings(BaseModel):
    """One server: ``command`` (stdio) or ``url`` (streamable HTTP), as in ``[mcp_servers.NAME]``."""

    model_config = ConfigDict(extra="forbid")
    command: str | None = Field(default=None, description="the program that starts a stdio server, a string")
    args: list[str] = Field(default_factory=list, description="its arguments, a list of strings")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables, a table of strings")
    url: str | None = Field(default=None, description="a streamable HTTP server's URL, a string")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers, a table of strings")
    trust: bool = Field(default=False, description="run its tools without asking, true or false")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, description="seconds per call, a positive number")

    @model_validator(mode="after")
    def _one_transport(self) -> "MCPServerSettings":
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (an HTTP server), not both or neither")
        return self


class MCPError(RuntimeError):
    """A server that is not running, or a call that failed: the message is for the model or the user."""


def tool_name(server: str, tool: str) -> str:
    """``SERVER__tool``, made a valid harness tool name deterministically (sanitised; shortened with a hash)."""
    full = f"{server}__{tool}"
    name = re.sub(r"[^A-Za-z0-9_\-]", "_", full)
    if not re.match(r"[A-Za-z_]", name):
        name = "_" + name
    if name != full or len(name) > 64:
        # A hash of the original keeps two names that sanitise or shorten alike apart.
        digest = hashlib.sha256(full.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[:55]}_{digest}"
    return name


def render_result(result: Any) -> str:
    """Text contents joined; images and audio as a note; resources by their URI or text."""
    parts: list[str] = []
    for item in getattr(result, "content", None) or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind in ("image", "audio"):
            size = len(item.data or "") * 3 // 4  # base64 → bytes
            parts.append(f"[{item.mime_type}, {max(1, round(size / 1000))} kB]")
        elif kind == "resource":
            resource = item.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {item.uri}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(json.dumps(result.structured_content, sort_keys=True, ensure_ascii=False))
    return "\n".join(parts)


@dataclass(eq=False)  # identity: servers are kept in a set for atexit
class MCPServer:
    """One MCP server's client session, run in its own thread and event loop."""

    name: str
    settings: MCPServerSettings
    status: str = "stopped"  # stopped, running, failed
    error: str = ""
    _tools: list[Any] = field(default_factory=list, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _session: Any = field(default=None, repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _main: Any = field(default=None, repr=False)
    _stderr: TextIO | None = field(default=None, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def stdio(cls, name: str, command: str, args: Iterable[str] = (), env: dict[str, str] | None = None,
              trust: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S) -> "MCPServer":
        return cls(name, MCPServerSettings(command=command, args=list(args), env=env or {}, trust=trust,
                                           timeout_s=timeout_s))

    @classmethod
    def http(cls, name: str, url: str, headers: dict[str, str] | None = None, trust: bool = False,
             timeout_s: float = DEFAULT_TIMEOUT_S) -> "MCPServer":
        return cls(name, MCPServerSettings(url=url, headers=headers or {}, trust=trust, timeout_s=timeout_s))

    def __enter__(self) -> "MCPServer":
        self.start()
        if self.status != "running":
            self.close()
            raise MCPError(self.error)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifetime ---------------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "MCPServer":
        """Start the server and list its tools; on failure ``status`` is "failed" and ``error`` says why
        (never raises)."""
        if self.status == "running":
            return self
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"mcp-{self.name}", daemon=True)
        self._thread.start()
        try:
            ready = asyncio.run_coroutine_threadsafe(self._make_ready(), self._loop).result()
            self._main = asyncio.run_coroutine_threadsafe(self._serve(ready), self._loop)
            self._wait_ready(ready, timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure to start is a status, not a crash
            self._fail(f"did not start: {_describe(exc)}")
        if self.status != "running":
            self._shutdown()
        _open_servers.add(self)
        return self

    async def _make_ready(self) -> asyncio.Future[None]:
        self._stop = asyncio.Event()
        return asyncio.get_running_loop().create_future()

    def _wait_ready(self, ready: Any, timeout_s: float) -> None:
        done = threading.Event()
        assert self._loop is not None
        self._loop.call_soon_threadsafe(lambda: ready.add_done_callback(lambda _: done.set()))
        self._main.add_done_callback(lambda _: done.set())
        if not done.wait(timeout_s):
            self._fail(f"did not start within {timeout_s:g} s")
            return
        if ready.done() and not ready.cancelled() and ready.exception() is None:
            self.status = "running"
            self._main.add_done_callback(self._on_exit)
            return
        error = ready.exception() if ready.done() and not ready.cancelled() else None
        if error is None and self._main.done():
            error = self._main.exception()
        self._fail(f"did not start: {_describe(error) if error else 'it exited'}")

    async def _serve(self, ready: asyncio.Future[None]) -> None:
        from mcp import ClientSession

        self._task = asyncio.current_task()
        try:
            async with self._transport() as streams, ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                listed = await session.list_tools()
                self._tools = sorted(listed.tools, key=lambda t: t.name)
                self._session = session
                ready.set_result(None)
                assert self._stop is not None
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done() and isinstance(exc, Exception):
                ready.set_exception(exc)
            elif not ready.done():
                ready.cancel()  # cancelled while starting (the start timed out)
            raise
        finally:
            self._session = None

    def _transport(self) -> Any:
        settings = self.settings
        if settings.command is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(command=settings.command, args=settings.args, env=settings.env or None)
            return stdio_client(params, errlog=self._stderr)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert settings.url is not None
        return _http(settings.url, httpx2.AsyncClient(headers=settings.headers), streamable_http_client)

    def _on_exit(self, future: Any) -> None:
        if self.status != "running":
            return
        error = None if future.cancelled() else future.exception()
        self._fail(f"stopped: {_describe(error)}" if error else "stopped")

    def _fail(self, why: str) -> None:
        self.status = "failed"
        tail = self.stderr_tail()
        self.error = f"MCP server {self.name!r} {why}" + (f"; its stderr ends:\n{tail}" if tail else "")

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0, 2)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - STDERR_TAIL * 4))
            return self._stderr.read()[-STDERR_TAIL:].strip()
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        """Stop the server (its process ends with the session) and the thread."""
        if self.status == "running":
            self.status = "stopped"
        self._shutdown()
        _open_servers.discard(self)

    def _shutdown(self) -> None:
        # close() and a call that finds the server dead may both get here, from different threads.
        with self._lock:
            self._shutdown_locked()

    def _shutdown_locked(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if self._main is not None and not self._main.done():
            # A started session ends at the stop event; one still starting is cancelled. Either
            # way its transport's own cleanup ends the server's process before the loop stops.
            if self._session is not None and self._stop is not None:
                loop.call_soon_threadsafe(self._stop.set)
            elif self._task is not None:
                loop.call_soon_threadsafe(self._task.cancel)
            try:
                self._main.result(timeout=10)
            except BaseException:  # noqa: BLE001 - it failed or was cancelled: what matters is that it ended
                pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not loop.is_running():
            loop.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # -- tools ------------------------------------------------------------------------------

    def tools(self) -> list[Tool]:
        """The server's tools as harness tools (none while it is not running), sorted by name."""
        if self.status != "running":
            return []
        seen: set[str] = set()
        made = []
        for spec in self._tools:
            name = tool_name(self.name, spec.name)
            if name in seen or not _NAME_OK.fullmatch(name):
                continue
            seen.add(name)
            schema = dict(spec.input_schema or {}) or {"type": "object", "properties": {}}
            made.append(Tool.from_schema(name, spec.description or spec.title or spec.name, schema,
                                         self._caller(spec.name), timeout_s=self.settings.timeout_s,
                                         needs_approval=not self.settings.trust))
        return sorted(made, key=lambda t: t.name)

    def _caller(self, remote: str) -> Any:
        def call(**arguments: Any) -> str:
            return self.call(remote, arguments)

        call.__name__ = tool_name(self.name, remote)
        return call

    def call(self, remote: str, arguments: dict[str, Any]) -> str:
        """Call one tool by its name on the server; raises ``MCPError`` with a clear message."""
        session, loop = self._session, self._loop
        if self.status != "running" or session is None or loop is None or loop.is_closed():
            raise MCPError(self.error or f"MCP server {self.name!r} is not running; its tools are unavailable")
        timeout = self.settings.timeout_s
        # One clock, here: on timeout the call's task is cancelled (the SDK tells the server).
        future = asyncio.run_coroutine_threadsafe(session.call_tool(remote, arguments), loop)
        try:
            result = future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()
            raise MCPError(f"MCP tool {remote!r} on server {self.name!r} did not answer within {timeout:g} s") \
                from None
        except Exception as exc:  # noqa: BLE001 - a dead server or a protocol error: a message for the model
            if _connection_closed(exc) or (self._main is not None and self._main.done()):
                # The server died (or was closed): its tools disappear, and every later call says so at once.
                if self.status == "running":
                    self._fail("stopped (its connection closed)")
                    self.error += "; its tools are unavailable for the rest of this session"
                    self._shutdown()
                raise MCPError(self.error or f"MCP server {self.name!r} was stopped") from None
            raise MCPError(f"MCP tool {remote!r} on server {self.name!r} failed: {_describe(exc)}") from None
        text = render_result(result)
        if result.is_error:
            raise MCPError(text or f"MCP tool {remote!r} reported an error")
        return text


def _http(url: str, client: Any, connect: Any) -> Any:
    """The streamable HTTP transport, closing the httpx client it was given."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def transport() -> Any:
        async with client, connect(url, http_client=client) as streams:
            yield streams[0], streams[1]

    return transport()


def _connection_closed(exc: BaseException) -> bool:
    from mcp.types import CONNECTION_CLOSED

    return getattr(getattr(exc, "error", None), "code", None) == CONNECTION_CLOSED


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    # anyio task groups wrap the real cause; show the innermost errors.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_open_servers: set[MCPServer] = set()


@atexit.register
def _close_all() -> None:
    for server in list(_open_servers):
        server.close()


# -- configuration ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProjectServers:
    path: Path  # the resolved .mcp.json
    servers: dict[str, MCPServerSettings]
    digest: str  # sha256 of the file's bytes: trust ends when it changes


def project_servers(cwd: Path | None = None) -> ProjectServers | None:
    """The servers of ``./.mcp.json`` (``{"mcpServers": {NAME: {...}}}``), or None where there is none.

    A project file cannot trust its own servers (``trust`` is ignored: every call asks). A broken
    file is an ``MCPError`` naming the file and what is wrong."""
    path = ((cwd or Path.cwd()) / PROJECT_FILE)
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        parsed = json.loads(data)
    except (OSError, ValueError) as exc:
        raise MCPError(f"{path} is not readable JSON: {exc}") from exc
    table = parsed.get("mcpServers") if isinstance(parsed, dict) else None
    if not isinstance(table, dict):
        raise MCPError(f"{path} has no \"mcpServers\" object; expected {{\"mcpServers\": {{NAME: {{...}}}}}}")
    servers = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise MCPError(f"{path}: server {name!r} is not an object")
        known = {k: v for k, v in entry.items() if k in MCPServerSettings.model_fields and k != "trust"}
        try:
            servers[name] = MCPServerSettings.model_validate(known)
        except ValidationError as exc:
            raise MCPError(f"{path}: server {name!r}: {exc.errors()[0]['msg']}") from exc
    return ProjectServers(path.resolve(), servers, hashlib.sha256(data).hexdigest())


def start_servers(settings: dict[str, MCPServerSettings]) -> list[MCPServer]:
    """Start each server, sorted by name; failed ones are returned too (status "failed")."""
    return [MCPServer(name, value).start() for name, value in sorted(settings.items())]
