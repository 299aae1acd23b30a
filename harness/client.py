"""The vLLM client: OpenAI-compatible chat completions (streamed and not), plus vLLM's own
endpoints (/tokenize, /metrics, /health), sync and async, on httpx.

Payload building and response parsing are pure functions; ``AsyncClient`` does every request,
and ``Client`` runs its methods on an event loop of its own, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from harness.config import Settings
from harness.errors import (
    ContextTooLong,
    HarnessError,
    ModelNotFound,
    RequestTimeout,
    ServerError,
    ServerUnreachable,
    StreamInterrupted,
)

Message = dict[str, Any]
T = TypeVar("T")


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Usage":
        data = data or {}
        details = data.get("prompt_tokens_details") or {}
        return cls(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
        )


@dataclass
class ChatDelta:
    """One streamed piece: new text, and on the last chunks the finish reason and usage."""

    text: str = ""
    finish_reason: str | None = None
    stop_reason: str | int | None = None
    usage: Usage | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChatResult:
    text: str
    finish_reason: str | None
    usage: Usage
    model: str = ""
    # The matched stop string or token id, when vLLM reports one.
    stop_reason: str | int | None = None
    # Calls parsed by the server's own tool parser (only when it runs one).
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    ttft_s: float | None = None
    elapsed_s: float = 0.0
    # vLLM's choices[0].logprobs.content, when the request asked for logprobs (not streamed).
    logprobs: list[dict[str, Any]] | None = None


@dataclass
class PrefixCacheCounters:
    """vLLM's cumulative prefix-cache counters, in tokens."""

    queries: float = 0.0
    hits: float = 0.0
    block_size: int | None = None  # the cache's block size (vllm:cache_config_info), where reported

    @property
    def hit_rate(self) -> float:
        return self.hits / self.queries if self.queries else 0.0


# --- pure helpers -------------------------------------------------------------------------


def build_chat_payload(
    model: str,
    messages: list[Message],
    *,
    stream: bool,
    max_tokens: int | None = None,
    temperature: float | None = None,
    stop: list[str] | None = None,
    json_schema: dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    cache_salt: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if stream:
        payload["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    if temperature is not None:
        payload["temperature"] = temperature
    if stop:
        payload["stop"] = stop
    if json_schema is not None:
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": json_schema, "strict": True},
        }
    if response_format is not None:
        payload["response_format"] = response_format
    if cache_salt is not None:
        payload["cache_salt"] = cache_salt
    if tools:
        payload["tools"] = tools
        if tool_choice is not None:
            payload["tool_choice"] = tool_choice
    if extra:
        payload.update(extra)
    return payload


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent-event stream, up to and excluding ``[DONE]``.

    Yields the sentinel ``"[DONE]"`` itself last when the stream finished properly, so the caller
    can tell a complete stream from one that was cut off.
    """
    for line in lines:
        if not line.startswith("data:"):
            continue  # comments, event names, blank separators
        data = line[5:].strip()
        if not data:
            continue
        yield data
        if data == "[DONE]":
            return


class StreamAccumulator:
    """Folds streamed chunks into deltas and, at the end, one ``ChatResult``."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.stop_reason: str | int | None = None
        self.usage = Usage()
        self.model = ""
        self.ttft_s: float | None = None
        self.done = False
        self.tool_calls: dict[int, dict[str, Any]] = {}

    def feed(self, data: str) -> ChatDelta | None:
        if data == "[DONE]":
            self.done = True
            return None
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as exc:
            raise StreamInterrupted(f"the server sent a malformed stream chunk: {data[:200]!r}",
                                    partial=self.text) from exc
        if "error" in chunk:
            err = chunk["error"]
            msg = err.get("message", str(err)) if isinstance(err, dict) else str(err)
            raise StreamInterrupted(f"the server reported an error mid-stream: {msg}", partial=self.text)
        self.model = chunk.get("model") or self.model
        delta = ChatDelta()
        if chunk.get("usage"):
            delta.usage = self.usage = Usage.from_json(chunk["usage"])
        for choice in chunk.get("choices") or []:
            piece = choice.get("delta") or {}
            text = piece.get("content") or ""
            if text:
                if self.ttft_s is None:
                    self.ttft_s = time.perf_counter() - self.started
                self.parts.append(text)
                delta.text += text
            for call in piece.get("tool_calls") or []:
                self._merge_tool_call(call)
                delta.tool_calls.append(call)
            if choice.get("finish_reason"):
                delta.finish_reason = self.finish_reason = choice["finish_reason"]
                delta.stop_reason = self.stop_reason = choice.get("stop_reason")
        return delta

    def _merge_tool_call(self, call: dict[str, Any]) -> None:
        slot = self.tool_calls.setdefault(
            int(call.get("index", 0)), {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if call.get("id"):
            slot["id"] = call["id"]
        fn = call.get("function") or {}
        slot["function"]["name"] += fn.get("name") or ""
        slot["function"]["arguments"] += fn.get("arguments") or ""

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def result(self) -> ChatResult:
        if not self.done and self.finish_reason is None:
            raise StreamInterrupted(
                "the server closed the stream before the reply finished",
                hint="the server may have restarted or crashed; check its log (`harness serve` prints where)",
                partial=self.text,
            )
        return ChatResult(
            text=self.text,
            finish_reason=self.finish_reason,
            usage=self.usage,
            model=self.model,
            stop_reason=self.stop_reason,
            tool_calls=[self.tool_calls[i] for i in sorted(self.tool_calls)],
            ttft_s=self.ttft_s,
            elapsed_s=time.perf_counter() - self.started,
        )


def parse_chat_response(body: dict[str, Any], started: float) -> ChatResult:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    elapsed = time.perf_counter() - started
    return ChatResult(
        text=message.get("content") or "",
        finish_reason=choice.get("finish_reason"),
        usage=Usage.from_json(body.get("usage")),
        model=body.get("model", ""),
        stop_reason=choice.get("stop_reason"),
        tool_calls=message.get("tool_calls") or [],
        elapsed_s=elapsed,
        logprobs=(choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None,
    )


def parse_metrics(text: str) -> PrefixCacheCounters:
    """The prefix-cache counters from Prometheus text (summed over label sets)."""
    counters = PrefixCacheCounters()
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if name == "vllm:cache_config_info":
            found = re.search(r'[{,]block_size="(\d+)"', line)
            counters.block_size = int(found.group(1)) if found else counters.block_size
        elif name == "vllm:prefix_cache_queries_total":
            counters.queries += value
        elif name == "vllm:prefix_cache_hits_total":
            counters.hits += value
    return counters


def error_for_status(status: int, body: str, *, base_url: str, model: str | None) -> HarnessError:
    """Turn an error response into the typed exception that says what to do."""
    try:
        err = json.loads(body)
        err = err.get("error", err) if isinstance(err, dict) else err
        message = err.get("message") or err.get("detail") or body if isinstance(err, dict) else str(err)
    except json.JSONDecodeError:
        message = body.strip() or f"HTTP {status}"
    message = str(message)
    lowered = message.lower()
    if status == 404 and ("model" in lowered or "does not exist" in lowered):
        return ModelNotFound(
            f"the server at {base_url} does not serve model {model!r}: {message}",
            hint="list what it serves with `harness doctor`, then pass --model or set HARNESS_MODEL",
        )
    if "context length" in lowered or "too long" in lowered or "maximum input length" in lowered:
        return ContextTooLong(
            f"the prompt does not fit the model's context: {message}",
            hint="start a new session, shorten the input, or serve the model with a larger --max-model-len",
        )
    if status == 401:
        return ServerError(f"the server at {base_url} refused the API key: {message}",
                           hint="set HARNESS_API_KEY to the key the server was started with", status=status)
    return ServerError(f"the server answered {status}: {message}", status=status)


def _unreachable(base_url: str, exc: Exception) -> ServerUnreachable:
    return ServerUnreachable(
        f"no server answers at {base_url} ({type(exc).__name__})",
        hint="start one with `harness serve`, or point at yours with --base-url / HARNESS_BASE_URL",
    )


def _timeout(base_url: str, what: str) -> RequestTimeout:
    return RequestTimeout(f"{what} at {base_url} timed out",
                          hint="the server may be overloaded; retry, or raise the timeout")


def transport_error(exc: httpx.TransportError, base_url: str, what: str, partial: str | None = None) -> HarnessError:
    """The typed error for a failed connection: a timeout, a stream cut off midway, or no server."""
    if isinstance(exc, httpx.TimeoutException):
        return _timeout(base_url, what)
    if partial is not None and isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return StreamInterrupted("the connection dropped in the middle of the reply",
                                 hint="the server may have restarted; check it with `harness doctor`",
                                 partial=partial)
    return _unreachable(base_url, exc)


# --- transports ---------------------------------------------------------------------------


class AsyncClient:
    """The client: every request, and every error it can end in, is implemented here once.
    ``AsyncClient()`` reads the base URL, model, API key and timeout from ``Settings`` (flags'
    values passed in win). Many can share one server (vLLM batches them)."""

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        settings = Settings.load(base_url=base_url, model=model, api_key=api_key, timeout_s=timeout)
        self.base_url = settings.base_url.rstrip("/").removesuffix("/v1")
        self._model = settings.model
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self.http = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                      timeout=httpx.Timeout(settings.timeout_s, connect=5.0),
                                      limits=httpx.Limits(max_connections=256), transport=transport)

    @property
    def known_model(self) -> str | None:
        """The model's name if it was given or already asked for (no request)."""
        return self._model

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def closed(self) -> bool:
        return self.http.is_closed

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.base_url, f"{method} {path}") from exc
        if response.status_code >= 400:
            raise error_for_status(response.status_code, response.text, base_url=self.base_url, model=self._model)
        return response

    async def get_model(self) -> str:
        """The model to use: the one given, else the first the server serves."""
        if self._model is None:
            served = await self.models()
            if not served:
                raise ModelNotFound(f"the server at {self.base_url} serves no model")
            self._model = served[0]
        return self._model

    async def check_model(self) -> str:
        """The model to use, after checking the server serves it (a clear error if not)."""
        served = await self.models()
        if self._model is not None and self._model not in served:
            raise ModelNotFound(
                f"the server at {self.base_url} does not serve model {self._model!r} (it serves: {', '.join(served)})",
                hint="pass one of those with --model or HARNESS_MODEL, or leave it unset to use the first",
            )
        return await self.get_model()

    async def health(self) -> bool:
        try:
            return (await self.http.get("/health", timeout=5.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def models(self) -> list[str]:
        return [m["id"] for m in (await self._request("GET", "/v1/models")).json().get("data", [])]

    async def version(self) -> str:
        return (await self._request("GET", "/version")).json().get("version", "")

    async def max_model_len(self) -> int | None:
        """The served model's context length (vLLM reports it in /v1/models), if known."""
        model = await self.get_model()
        for m in (await self._request("GET", "/v1/models")).json().get("data", []):
            if m.get("id") == model and m.get("max_model_len"):
                return int(m["max_model_len"])
        return None

    async def tokenize(self, messages: list[Message] | None = None, prompt: str | None = None,
                       **extra: Any) -> list[int]:
        body: dict[str, Any] = {"model": await self.get_model(), **extra}
        if prompt is not None:
            body["prompt"] = prompt
        else:
            body["messages"] = messages or []
        return (await self._request("POST", "/tokenize", json=body)).json()["tokens"]

    async def metrics(self) -> PrefixCacheCounters:
        return parse_metrics((await self._request("GET", "/metrics")).text)

    async def chat(self, messages: list[Message], **options: Any) -> ChatResult:
        """One completion, not streamed."""
        started = time.perf_counter()
        payload = build_chat_payload(await self.get_model(), messages, stream=False, **options)
        response = await self._request("POST", "/v1/chat/completions", json=payload)
        return parse_chat_response(response.json(), started)

    async def stream_chat(self, messages: list[Message], **options: Any) -> AsyncIterator[ChatDelta | ChatResult]:
        """Yields ``ChatDelta``s as they arrive, then one final ``ChatResult``.

        Closing the generator (or cancelling its task) closes the HTTP stream, which makes vLLM
        abort the request.
        """
        started = time.perf_counter()
        payload = build_chat_payload(await self.get_model(), messages, stream=True, **options)
        acc = StreamAccumulator(started)
        try:
            async with self.http.stream("POST", "/v1/chat/completions", json=payload) as response:
                if response.status_code >= 400:
                    body = (await response.aread()).decode(errors="replace")
                    raise error_for_status(response.status_code, body, base_url=self.base_url, model=self._model)
                # Read to the end (the server closes the stream after [DONE]): left unfinished, httpx's
                # nested line and byte iterators are closed by the garbage collector, as tasks on an event
                # loop that may stop first ("Task was destroyed but it is pending!").
                async for line in response.aiter_lines():
                    for data in iter_sse_data([line]):
                        if not acc.done and (delta := acc.feed(data)) is not None:
                            yield delta
        except httpx.TransportError as exc:
            raise transport_error(exc, self.base_url, "the streamed reply", partial=acc.text) from exc
        yield acc.result()

    async def complete(self, messages: list[Message], **options: Any) -> ChatResult:
        """Stream a completion and return only the final result (measures time to first token)."""
        result: ChatResult | None = None
        async for item in self.stream_chat(messages, **options):
            if isinstance(item, ChatResult):
                result = item
        assert result is not None
        return result


_DONE = object()


class Client:
    """Synchronous client: ``AsyncClient``'s methods, run on one event loop of its own, so one
    thread at a time uses it (give each thread its own). ``Client()`` reads the same settings as
    ``AsyncClient()``."""

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.aio = AsyncClient(base_url, model, api_key, timeout, transport)
        self.base_url = self.aio.base_url
        self._runner = asyncio.Runner()

    def close(self) -> None:
        self._runner.run(self.aio.aclose())
        self._runner.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def known_model(self) -> str | None:
        return self.aio.known_model

    def get_model(self) -> str:
        return self._runner.run(self.aio.get_model())

    def check_model(self) -> str:
        return self._runner.run(self.aio.check_model())

    def health(self) -> bool:
        return self._runner.run(self.aio.health())

    def models(self) -> list[str]:
        return self._runner.run(self.aio.models())

    def version(self) -> str:
        return self._runner.run(self.aio.version())

    def max_model_len(self) -> int | None:
        return self._runner.run(self.aio.max_model_len())

    def tokenize(self, messages: list[Message] | None = None, prompt: str | None = None,
                 **extra: Any) -> list[int]:
        return self._runner.run(self.aio.tokenize(messages, prompt, **extra))

    def metrics(self) -> PrefixCacheCounters:
        return self._runner.run(self.aio.metrics())

    def chat(self, messages: list[Message], **options: Any) -> ChatResult:
        return self._runner.run(self.aio.chat(messages, **options))

    def complete(self, messages: list[Message], **options: Any) -> ChatResult:
        return self._runner.run(self.aio.complete(messages, **options))

    def stream_chat(self, messages: list[Message], **options: Any) -> Iterator[ChatDelta | ChatResult]:
        """``AsyncClient.stream_chat``, item by item. Closing the generator (or Ctrl-C in the
        consumer) closes the HTTP stream, which makes vLLM abort the request."""
        return iterate(self._runner, self.aio.stream_chat(messages, **options))


def iterate(runner: asyncio.Runner, agen: AsyncIterator[T]) -> Iterator[T]:
    """An async generator's items, each run to completion on ``runner``'s loop; closing the
    iterator closes the generator there too."""
    try:
        while (item := runner.run(_anext(agen))) is not _DONE:
            yield item  # type: ignore[misc]
    finally:
        with contextlib.suppress(RuntimeError):  # already running or closed: nothing to clean up
            runner.run(agen.aclose())  # type: ignore[attr-defined]


async def _anext(agen: AsyncIterator[T]) -> T | object:
    return await anext(agen, _DONE)
