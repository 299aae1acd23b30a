"""`harness doctor`: what is installed, what the server serves, and three measured figures.

Time to first token for a ~2,000-token prompt uncached vs cached shows the prefix cache at
work; decode tokens/s is the speed of generation; the server's prefix-cache counters are read
before and after so the hits are the server's own count, not an assumption. It also names the
CPU features that decide a CPU server's speed, the serving settings chosen, and says plainly when
this machine will be slow and what would help.
"""

from __future__ import annotations

import statistics
import uuid
from dataclasses import asdict
from typing import Any

from harness.client import Client
from harness.server import vllm_flavour
from harness.serving import ServingSettings, read_cpu_features

# Below this decode rate an agent turn with a tool call and an answer takes tens of seconds.
SLOW_DECODE_TPS = 10.0

FILLER = (
    "The harness keeps the prompt append-only so that the server's prefix cache can serve every "
    "token it has already seen. Section {i}: tools are typed functions, skills are folders, and "
    "memory is a SQLite file that outlives the process. "
)


def long_prompt(client: Client, target_tokens: int = 2000) -> str:
    """A prompt of about ``target_tokens`` tokens (measured with the server's tokenizer)."""
    probe = "".join(FILLER.format(i=i) for i in range(10))
    per_chunk = max(1, len(client.tokenize(prompt=probe)) / 10)
    chunks = int(target_tokens / per_chunk)
    return "".join(FILLER.format(i=i) for i in range(chunks))


def _ttft(client: Client, messages: list[dict[str, Any]]) -> float:
    result = client.complete(messages, max_tokens=1, temperature=0)
    return result.ttft_s if result.ttft_s is not None else result.elapsed_s


def advice(cpu_features: list[str], decode_tps: float | None, gpu_build: bool) -> list[str]:
    """Plain sentences: whether this machine will be slow, and what would help."""
    lines = []
    if not gpu_build:
        if "avx512f" not in cpu_features:
            lines.append("this CPU has no AVX-512 (" + ("AVX2 only" if "avx2" in cpu_features else "not even AVX2")
                         + "): vLLM's CPU kernels run at a fraction of their speed here, and bf16 math is "
                         "emulated, so harness serve loads the weights in float32 (prefill about 5x faster)")
        elif not {"avx512_bf16", "amx_bf16"} & set(cpu_features):
            lines.append("this CPU has AVX-512 but no AVX512-BF16 or AMX: bf16 math is emulated, so harness serve "
                         "loads the weights in float32")
    if decode_tps is not None and decode_tps < SLOW_DECODE_TPS:
        lines.append(f"decode is {decode_tps:.1f} tokens/s: this machine will be slow (a turn with a tool call can "
                     "take tens of seconds). What would help: a GPU (pip install 'harness[gpu]'), a smaller model "
                     "(harness serve --model smollm2), fewer tools (a shorter prompt), fewer programs running beside "
                     "the server")
    return lines


def measure(client: Client, repeats: int = 3, decode_tokens: int = 128,
            serving: ServingSettings | None = None) -> dict[str, Any]:
    flavour = vllm_flavour()
    report: dict[str, Any] = {
        "base_url": client.base_url,
        "installed_vllm": f"{flavour[0]} {flavour[1]}" if flavour else None,
        "healthy": client.health(),
        "cpu_features": read_cpu_features(),
        "serving": asdict(serving) if serving else None,
    }
    report["server_version"] = client.version()
    report["models"] = client.models()
    report["model"] = client.get_model()
    before = client.metrics()
    body = long_prompt(client)
    uncached, cached = [], []
    for _ in range(repeats):
        # A fresh nonce at the very start makes every block of this prompt new to the cache.
        messages = [{"role": "user", "content": f"[{uuid.uuid4()}] {body}\nSummarise the above in one word."}]
        uncached.append(_ttft(client, messages))
        cached.append(_ttft(client, messages))
    report["prompt_tokens"] = len(client.tokenize(messages=messages))
    rates = []
    for _ in range(repeats):
        result = client.complete(
            [{"role": "user", "content": "Count from one to two hundred in words."}],
            max_tokens=decode_tokens, temperature=0, extra={"ignore_eos": True},
        )
        decode_time = result.elapsed_s - (result.ttft_s or 0.0)
        if result.usage.completion_tokens > 1 and decode_time > 0:
            rates.append((result.usage.completion_tokens - 1) / decode_time)
    after = client.metrics()
    report.update({
        "ttft_uncached_s": round(statistics.median(uncached), 4),
        "ttft_cached_s": round(statistics.median(cached), 4),
        "ttft_speedup": round(statistics.median(uncached) / max(statistics.median(cached), 1e-9), 2),
        "decode_tokens_per_s": round(statistics.median(rates), 2) if rates else None,
        "prefix_cache_hits": int(after.hits - before.hits),
        "prefix_cache_queries": int(after.queries - before.queries),
        "counters_before": {"hits": before.hits, "queries": before.queries},
        "counters_after": {"hits": after.hits, "queries": after.queries},
        "repeats": repeats,
    })
    report["advice"] = advice(report["cpu_features"], report["decode_tokens_per_s"],
                              gpu_build=bool(flavour and flavour[0] == "vllm"))
    return report
