"""Against the real vLLM server (started once per session). Plumbing runs on the small model
(``small_client``); what depends on the model's answers runs on the default one (``client``)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import jsonschema
import pytest

from harness.client import ChatDelta, ChatResult
from harness.errors import ModelNotFound
from harness.client import Client

pytestmark = pytest.mark.live

LONG = " ".join(f"Paragraph {i}: the harness keeps its prompt append-only for the prefix cache." for i in range(80))


def test_streamed_chat_returns_text_and_usage(small_client):
    items = list(small_client.stream_chat([{"role": "user", "content": "Say hello in French."}],
                                          max_tokens=8, temperature=0))
    deltas = [i for i in items if isinstance(i, ChatDelta) and i.text]
    result = items[-1]
    assert isinstance(result, ChatResult)
    assert len(deltas) >= 2 and result.text == "".join(d.text for d in deltas)
    assert result.text.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.ttft_s is not None and result.ttft_s <= result.elapsed_s


def test_same_long_prompt_twice_is_served_from_cache(small_client):
    messages = [{"role": "user", "content": f"{uuid.uuid4()} {LONG}\nHow many paragraphs?"}]
    first = small_client.complete(messages, max_tokens=1, temperature=0)
    second = small_client.complete(messages, max_tokens=1, temperature=0)
    assert first.usage.prompt_tokens > 1000
    assert first.usage.cached_tokens == 0  # the nonce at the start makes it new
    assert second.usage.cached_tokens > 0
    # Whole blocks of 128 (CPU), i.e. everything but the partial last block.
    assert second.usage.cached_tokens >= second.usage.prompt_tokens - 128


def test_cache_salt_separates_caches(small_client):
    messages = [{"role": "user", "content": f"{uuid.uuid4()} {LONG}"}]
    small_client.complete(messages, max_tokens=1, cache_salt="tenant-a")
    other = small_client.complete(messages, max_tokens=1, cache_salt="tenant-b")
    same = small_client.complete(messages, max_tokens=1, cache_salt="tenant-a")
    assert other.usage.cached_tokens == 0
    assert same.usage.cached_tokens > 0


def test_json_schema_request_returns_valid_json(client):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    result = client.chat([{"role": "user", "content": "Name a large city and its population as JSON."}],
                         json_schema=schema, max_tokens=60, temperature=0)
    jsonschema.validate(json.loads(result.text), schema)


def test_metrics_counters_increase(small_client):
    before = small_client.metrics()
    small_client.complete([{"role": "user", "content": f"{uuid.uuid4()} {LONG}"}], max_tokens=1)
    after = small_client.metrics()
    assert after.queries > before.queries


def test_tokenize_and_models(small_client):
    assert small_client.get_model() in small_client.models()
    tokens = small_client.tokenize(messages=[{"role": "user", "content": "hello"}])
    assert len(tokens) > 3 and all(isinstance(t, int) for t in tokens)


def test_model_the_server_lacks(small_server):
    with Client(base_url=small_server.base_url, model="no-such-model") as c:
        with pytest.raises(ModelNotFound, match="no-such-model"):
            c.chat([{"role": "user", "content": "hi"}], max_tokens=1)


def test_async_client_streams(small_async_client):
    async def run():
        async with small_async_client as c:
            results = await asyncio.gather(*[
                c.complete([{"role": "user", "content": f"Say the number {i}."}], max_tokens=8, temperature=0)
                for i in range(3)
            ])
        return results

    results = asyncio.run(run())
    assert all(r.text and r.usage.completion_tokens > 0 for r in results)


def harness_cli(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def test_doctor_json(small_server):
    out = harness_cli("doctor", "--json", "--repeats", "1", "--base-url", small_server.base_url)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("model", "ttft_uncached_s", "ttft_cached_s", "decode_tokens_per_s",
                "prefix_cache_hits", "prefix_cache_queries"):
        assert key in report
    assert report["ttft_cached_s"] < report["ttft_uncached_s"]
    assert report["prefix_cache_hits"] > 0 and report["decode_tokens_per_s"] > 0


def test_chat_streams_an_answer(live_server, tmp_path):
    out = harness_cli("chat", "--base-url", live_server.base_url, "--memory", str(tmp_path / "m.db"),
                      input="What is 2+2? Answer with a number.\n")
    assert out.returncode == 0, out.stderr
    answer = out.stdout.split("> ", 1)[1]
    assert "4" in answer.splitlines()[0] and "prompt tok" in answer and "cached" in answer


def test_wrong_base_url_is_clear():
    out = harness_cli("doctor", "--base-url", "http://127.0.0.1:9")
    assert out.returncode == 1
    assert "no server answers at http://127.0.0.1:9" in out.stderr and "harness serve" in out.stderr
    assert "Traceback" not in out.stderr


def test_serve_reuses_a_healthy_server(live_server):
    if not live_server.port:
        pytest.skip("external server")
    out = harness_cli("serve", "--port", str(live_server.port))
    assert out.returncode == 0, out.stderr
    assert "reusing it" in out.stdout
