"""A scripted OpenAI-compatible server (httpx.MockTransport) for deterministic edge cases."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.client import AsyncClient


@dataclass
class Reply:
    text: str
    finish: str = "stop"
    stop_reason: str | int | None = None
    chunk: int = 7  # characters per streamed delta
    hang_after: int | None = None  # stall forever after this many chunks (for cancellation)
    drop_after: int | None = None  # close the connection after this many chunks
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON) as a server parser sends


@dataclass
class ScriptedServer:
    replies: list[Reply]
    model: str = "scripted"
    requests: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 100
    max_model_len: int | None = None
    # What the first-action probes (non-streamed requests for logprobs, harness/decide.py) are told: the
    # probability of final_answer, one per probe; with none left a probe gets no logprobs (no decision).
    # Probes take no scripted reply and are kept apart from ``requests``.
    answer_probabilities: list[float] = field(default_factory=list)
    # The same for the probes of an answer's first words (the schema offers final_answer alone): the
    # probability that it opens with "Sorry".
    decline_probabilities: list[float] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    probe_status: int = 200  # 400: refuse probes, as a server with a lower --max-logprobs does

    def client(self) -> AsyncClient:
        return AsyncClient(base_url="http://scripted.test", model=self.model,
                           transport=httpx.MockTransport(self.handle))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": self.model, "max_model_len": self.max_model_len}]})
        body = json.loads(request.content)
        if body.get("logprobs") and not body.get("stream"):
            self.probes.append(body)
            if self.probe_status != 200:
                return httpx.Response(self.probe_status, json={"error": {"message": "top_logprobs must be at most 5"}})
            schema = body["response_format"]["json_schema"]["schema"]
            names = {o["properties"]["name"]["const"] for o in schema.get("items", schema)["anyOf"]}
            queue, opening = (self.decline_probabilities, ("Sorry", "The")) if names == {"final_answer"} else \
                (self.answer_probabilities, ("final", "get"))
            return httpx.Response(200, json=_probe(queue.pop(0) if queue else None, opening, self.model,
                                                   self.prompt_tokens))
        self.requests.append(body)
        if not self.replies:
            return httpx.Response(500, json={"error": {"message": "script exhausted"}})
        reply = self.replies.pop(0)
        if not body.get("stream"):
            return httpx.Response(200, json={
                "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                             "finish_reason": reply.finish}],
                "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": 5}})
        continuous = bool((body.get("stream_options") or {}).get("continuous_usage_stats"))
        return httpx.Response(200, stream=_Stream(reply, self.prompt_tokens, continuous),
                              headers={"content-type": "text/event-stream"})


class _Stream(httpx.AsyncByteStream):
    def __init__(self, reply: Reply, prompt_tokens: int, continuous: bool = False) -> None:
        self.reply, self.prompt_tokens, self.continuous = reply, prompt_tokens, continuous

    async def __aiter__(self) -> AsyncIterator[bytes]:
        r = self.reply
        pieces = [r.text[i:i + r.chunk] for i in range(0, len(r.text), r.chunk)] or [""]
        for n, piece in enumerate(pieces):
            if r.hang_after is not None and n == r.hang_after:
                await asyncio.sleep(3600)
            if r.drop_after is not None and n == r.drop_after:
                raise httpx.RemoteProtocolError("peer closed connection")
            chunk: dict[str, Any] = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            if self.continuous:  # as vLLM does with stream_options.continuous_usage_stats
                chunk["usage"] = {"prompt_tokens": self.prompt_tokens, "completion_tokens": n + 1,
                                  "prompt_tokens_details": {"cached_tokens": 64}}
            yield _sse(chunk)
        for index, (name, args) in enumerate(r.tool_calls):
            head = {"index": index, "id": f"call_{index}", "type": "function", "function": {"name": name}}
            yield _sse({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
            for i in range(0, len(args), 5):
                frag = {"index": index, "function": {"arguments": args[i:i + 5]}}
                yield _sse({"choices": [{"index": 0, "delta": {"tool_calls": [frag]}}]})
        yield _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": r.finish, "stop_reason": r.stop_reason}]})
        yield _sse({"choices": [], "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": len(pieces),
                                             "prompt_tokens_details": {"cached_tokens": 64}}})
        yield b"data: [DONE]\n\n"


def _probe(p: float | None, opening: tuple[str, str], model: str, prompt_tokens: int) -> dict[str, Any]:
    """A probe's reply: '[{"name":"' and, at the name's first token, ``opening`` ("final", "get") at ``p``
    against the other; or, for ("Sorry", "The"), the answer's opening word after its name and key."""
    def entry(token: str, top: list[tuple[str, float]]) -> dict[str, Any]:
        return {"token": token, "logprob": top[0][1],
                "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top]}
    head = ('[', '{"', "name", '":"') if opening[0] == "final" else \
        ('{"', "name", '":"', "final", "_answer", '","', "arguments", '":{"', "answer", '":"')
    content = [entry(t, [(t, 0.0)]) for t in head]
    if p is not None:
        top = sorted([(opening[0], math.log(p) if p > 0 else -9999.0), (opening[1], math.log1p(-p) if p < 1 else -9999.0)],
                     key=lambda candidate: -candidate[1])
        content.append(entry(top[0][0], top))
    return {"model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": ""},
                                         "logprobs": {"content": content} if p is not None else None,
                                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content),
                      "prompt_tokens_details": {"cached_tokens": 64}}}


def _sse(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


# --- constrained actions, as the guided-decoding schema has them ----------------------------------


def action(*calls: tuple[str, dict[str, Any]]) -> Reply:
    """A constrained reply: a JSON list of calls (harness/constrained.py's action schema)."""
    return Reply(json.dumps([{"name": n, "arguments": a} for n, a in calls]))


def answer(text: str) -> Reply:
    """A constrained final answer."""
    return action(("final_answer", {"answer": text}))


def offered(request: dict[str, Any]) -> set[str]:
    """The action names a request's guided-decoding schema allows (an action or a list of them)."""
    schema = request["response_format"]["json_schema"]["schema"]
    return {o["properties"]["name"]["const"] for o in schema.get("items", schema)["anyOf"]}
