"""The client against scripted responses: SSE parsing and every error it turns into advice.

These are the deterministic edge cases a real server will not produce on demand; the real
server is exercised in test_live.py.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from harness.client import (
    AsyncClient,
    ChatResult,
    Client,
    build_chat_payload,
    iter_sse_data,
    parse_metrics,
)
from harness.errors import (
    ConfigError,
    ContextTooLong,
    ModelNotFound,
    RequestTimeout,
    ServerError,
    ServerUnreachable,
    StreamInterrupted,
)

MODEL = "m"


def chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None) -> str:
    body: dict = {"model": MODEL, "choices": []}
    if content is not None or finish is not None:
        body["choices"] = [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


USAGE = {"prompt_tokens": 300, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 256}}
GOOD_STREAM = (
    ": keep-alive comment\n\n"
    + chunk("Hel") + chunk("lo, ") + chunk("wörld") + chunk(finish="stop") + chunk(usage=USAGE) + "data: [DONE]\n\n"
)


def make_client(handler, **kw) -> Client:
    return Client(base_url="http://server.test", model=MODEL, transport=httpx.MockTransport(handler), **kw)


def sse(body: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body.encode(), headers={"content-type": "text/event-stream"})


def test_stream_yields_deltas_then_result_with_cached_tokens():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return sse(GOOD_STREAM)

    items = list(make_client(handler).stream_chat([{"role": "user", "content": "hi"}], cache_salt="s1"))
    deltas, result = items[:-1], items[-1]
    assert "".join(d.text for d in deltas) == "Hello, wörld"
    assert isinstance(result, ChatResult)
    assert (result.text, result.finish_reason) == ("Hello, wörld", "stop")
    assert (result.usage.prompt_tokens, result.usage.cached_tokens) == (300, 256)
    assert seen[0]["stream_options"] == {"include_usage": True}
    assert seen[0]["cache_salt"] == "s1"


def test_stream_cut_off_midway_raises_with_the_partial_text():
    body = chunk("Half a") + chunk(" sentence")  # no finish_reason, no [DONE]
    with pytest.raises(StreamInterrupted) as err:
        list(make_client(lambda r: sse(body)).stream_chat([]))
    assert err.value.partial == "Half a sentence"
    assert "closed the stream" in str(err.value)


def test_error_event_inside_stream_is_reported():
    body = chunk("x") + 'data: {"error": {"message": "engine died", "code": 500}}\n\n'
    with pytest.raises(StreamInterrupted, match="engine died"):
        list(make_client(lambda r: sse(body)).stream_chat([]))


def test_server_tool_call_deltas_are_merged():
    def tc(index: int, name: str = "", args: str = "", id_: str = "") -> str:
        call = {"index": index, "function": {"name": name, "arguments": args}}
        if id_:
            call["id"] = id_
        return "data: " + json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}) + "\n\n"

    body = tc(0, "get_weather", "", "c1") + tc(0, args='{"city": ') + tc(0, args='"Oslo"}') + chunk(finish="tool_calls")
    body += "data: [DONE]\n\n"
    result = list(make_client(lambda r: sse(body)).stream_chat([]))[-1]
    assert result.tool_calls == [{"id": "c1", "type": "function",
                                  "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]
    assert result.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (404, {"error": {"message": "The model `m` does not exist.", "code": 404}}, ModelNotFound, "--model"),
        (400, {"error": {"message": "This model's maximum context length is 8192 tokens. However, you requested "
                                    "9000 tokens", "code": 400}}, ContextTooLong, "max-model-len"),
        (401, {"error": {"message": "Unauthorized"}}, ServerError, "HARNESS_API_KEY"),
        (500, {"error": {"message": "boom"}}, ServerError, "500"),
    ],
)
def test_error_statuses_become_typed_errors_with_advice(status, body, error, words):
    client = make_client(lambda r: httpx.Response(status, json=body))
    with pytest.raises(error) as err:
        client.chat([{"role": "user", "content": "x"}])
    assert words in str(err.value)
    with pytest.raises(error):  # streamed requests map errors the same way
        list(client.stream_chat([]))


def test_no_server_suggests_harness_serve():
    def handler(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ServerUnreachable) as err:
        make_client(handler).models()
    assert "harness serve" in err.value.hint and "--base-url" in err.value.hint


def test_timeout_is_typed():
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(RequestTimeout):
        make_client(handler).chat([])


def test_dropped_connection_mid_stream_keeps_partial():
    class Dropping(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield chunk("partial ").encode()
            raise httpx.RemoteProtocolError("peer closed connection")

    with pytest.raises(StreamInterrupted) as err:
        list(make_client(lambda r: httpx.Response(200, stream=Dropping())).stream_chat([]))
    assert err.value.partial == "partial "


def test_model_defaults_to_the_first_served():
    def handler(request):
        return httpx.Response(200, json={"data": [{"id": "served-a"}, {"id": "served-b"}]})

    client = Client(base_url="http://server.test/v1", transport=httpx.MockTransport(handler))
    assert client.base_url == "http://server.test"  # a trailing /v1 is accepted
    assert client.get_model() == "served-a"


def test_check_model_names_what_the_server_serves():
    client = make_client(lambda r: httpx.Response(200, json={"data": [{"id": "other"}]}))
    with pytest.raises(ModelNotFound, match="it serves: other"):
        client.check_model()


def test_metrics_sums_prefix_cache_counters():
    text = """# HELP vllm:prefix_cache_queries_total x
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 4168.0
vllm:prefix_cache_hits_total{engine="0",model_name="m"} 2048.0
vllm:prefix_cache_hits_created{engine="0",model_name="m"} 1.7e9
vllm:num_requests_running{engine="0"} 0.0
"""
    counters = parse_metrics(text)
    assert (counters.queries, counters.hits) == (4168.0, 2048.0)
    assert counters.hit_rate == pytest.approx(2048 / 4168)
    assert counters.block_size is None  # not reported: the caller decides


def test_metrics_reads_the_cache_block_size():
    text = ('vllm:cache_config_info{_block_size_resolved="True",block_size="32",cache_dtype="auto",'
            'hash_block_size="None",kv_cache_memory_bytes="1073741824"} 1.0\n'
            'vllm:prefix_cache_hits_total{engine="0",model_name="m"} 64.0\n')
    counters = parse_metrics(text)
    assert (counters.block_size, counters.hits) == (32, 64.0)


def test_payload_json_schema_becomes_response_format():
    payload = build_chat_payload("m", [], stream=False, json_schema={"type": "object"}, max_tokens=5)
    assert payload["response_format"]["type"] == "json_schema"
    assert payload["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert "stream_options" not in payload


def test_sse_parser_stops_at_done_and_skips_noise():
    lines = ["event: x", "", ": comment", "data: 1", "data:2", "data: [DONE]", "data: after"]
    assert list(iter_sse_data(lines)) == ["1", "2", "[DONE]"]


def test_api_key_is_sent(monkeypatch):
    monkeypatch.setenv("HARNESS_API_KEY", "sekret")
    seen = []

    def handler(request):
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"data": []})

    Client(base_url="http://s.test", transport=httpx.MockTransport(handler)).models()
    assert seen == ["Bearer sekret"]


def test_async_stream_matches_sync():
    async def handler(request):
        return sse(GOOD_STREAM)

    async def run():
        async with AsyncClient(base_url="http://s.test", model=MODEL, transport=httpx.MockTransport(handler)) as c:
            return [item async for item in c.stream_chat([])]

    items = asyncio.run(run())
    assert items[-1].text == "Hello, wörld" and items[-1].usage.cached_tokens == 256


def test_async_cut_off_stream_raises():
    async def handler(request):
        return sse(chunk("abc"))

    async def run():
        async with AsyncClient(base_url="http://s.test", model=MODEL, transport=httpx.MockTransport(handler)) as c:
            return [item async for item in c.stream_chat([])]

    with pytest.raises(StreamInterrupted):
        asyncio.run(run())


@pytest.mark.parametrize("url", ["::::", "localhost:8011", "ftp://example.com", "http://", "http://[::1"])
def test_invalid_base_url_is_a_config_error_naming_it(monkeypatch, tmp_path, url):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        Client(base_url=url)
    assert f"base_url = {url!r} is not valid" in str(err.value) and "http://" in err.value.hint


def test_invalid_base_url_from_the_environment_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_BASE_URL", "::::")
    with pytest.raises(ConfigError, match="^HARNESS_BASE_URL: base_url = '::::' is not valid"):
        AsyncClient()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8011", "https://example.com/v1", "http://[::1]:8011"])
def test_valid_base_urls_are_accepted(monkeypatch, tmp_path, url):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    with Client(base_url=url) as client:
        assert client.base_url == url.removesuffix("/v1")


def test_the_sync_client_has_every_method_of_the_async_one():
    public = {name for name in dir(AsyncClient) if not name.startswith("_")} - {"aclose", "http", "closed"}
    assert public - set(dir(Client)) == set()


def test_the_sync_client_keeps_one_connection_pool_across_calls():
    client = make_client(lambda r: httpx.Response(200, json={"data": [{"id": MODEL}]}))
    pool = client.aio.http
    client.models()
    client.models()
    assert (client.aio.http is pool, pool.is_closed) == (True, False)
    client.close()
    assert pool.is_closed
