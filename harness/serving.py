"""Serving settings for vLLM on CPUs: the features that decide speed, the rule that picks the
engine's threads and step size by core count and the weights' type by CPU features, and
`harness bench serving`, which measured that rule.

On a few cores the engine's OpenMP threads share the machine with the harness (streaming,
parsing) and the tools it runs. Pinned threads that spin at every barrier then wait on a core
another process holds, and decode collapses. The rule below is what measured best under that
load (figures in the README, "Speed on ordinary hardware").
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.client import ChatResult, Client
from harness.errors import HarnessError
from harness.toolcalls import StreamingToolCallParser
from harness.tools.process import TOOL_NICENESS, start_process, stop_process

# The CPU flags (as /proc/cpuinfo spells them) that decide how fast vLLM's CPU kernels run.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
# Set it to choose the weights' type yourself (vLLM's --dtype).
DTYPE_VARIABLE = "HARNESS_SERVE_DTYPE"
DTYPES = ("bfloat16", "float32", "auto")
# "ngram" or "off": whether the engine drafts tokens by prompt lookup (see ServingSettings.speculative).
SPECULATIVE_VARIABLE = "HARNESS_SERVE_SPECULATIVE"
SPECULATIVE = ("ngram", "off")
# Up to 5 drafted tokens, from a match of 2 to 4 tokens earlier in the prompt (vLLM's n-gram proposer).
NGRAM_CONFIG = {"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_max": 4, "prompt_lookup_min": 2}


def cpu_features(cpuinfo: str) -> list[str]:
    """The speed-deciding flags present in /proc/cpuinfo text, in SPEED_FLAGS order."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return [name for name in SPEED_FLAGS if name in flags]


def read_cpu_features(path: Path = Path("/proc/cpuinfo")) -> list[str]:
    try:
        return cpu_features(path.read_text(errors="replace"))
    except OSError:
        return []


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ServingSettings:
    """What `harness serve` sets for a CPU engine, and why."""

    cores: int
    cpu_features: list[str]
    reserved_cpus: int
    threads_bind: str  # VLLM_CPU_OMP_THREADS_BIND: "auto", "nobind" or explicit lists
    omp_wait_policy: str  # "PASSIVE": idle threads sleep instead of spinning on a shared core
    kv_cache_gib: int
    max_num_seqs: int
    # The CPU backend's default is 128-token cache blocks: a turn then re-prefills up to 127 tokens
    # it has already seen. 32 is the smallest it takes; time to first token at turn 20 of a session
    # fell from 2.15x turn 1 to 1.85x with the same decode speed (README).
    block_size: int = 32
    # The weights' type. Without native bf16 arithmetic (AVX512-BF16 or AMX) bf16 matrix products are
    # emulated: on a 2-core AVX2 EPYC, 1,000 tokens took 54 s to prefill in bf16 and 10.5 s in float32
    # (decode 5.9 vs 4.0 tok/s), and 14 benchmark cases took 686 s vs 200 s (README).
    dtype: str = "bfloat16"
    # Tokens one engine step may take (vLLM's --max-num-batched-tokens; 0: its default, 2,048 on CPUs).
    # Every request in flight waits for a step: on a 2-core AVX2 EPYC a stream paused 16 s while a
    # 1,500-token prompt was prefilled beside it in one step, 3 s in 256-token steps, which prefill
    # that prompt alone no slower (10-11 s for 1,000 tokens either way).
    step_tokens: int = 0
    # "ngram": the engine drafts the next tokens by finding the last few in the prompt and checks them
    # in one step, so text the prompt already holds (the action JSON's keys, a value copied from a tool
    # result) costs one step for up to 5 tokens. Greedy output is the same. On a 2-core AVX2 EPYC
    # (float32), 14 benchmark cases ran in 146 s instead of 210 s, every answer identical (README).
    # Not measured where the CPU has native bf16, so off there.
    speculative: str = "off"
    reason: str = ""
    overridden: list[str] = field(default_factory=list)  # env names the user set themselves

    def env(self) -> dict[str, str]:
        return {
            "VLLM_CPU_NUM_OF_RESERVED_CPU": str(self.reserved_cpus),
            "VLLM_CPU_OMP_THREADS_BIND": self.threads_bind,
            "OMP_WAIT_POLICY": self.omp_wait_policy,
            "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib),
        }

    def args(self) -> list[str]:
        step = ["--max-num-batched-tokens", str(self.step_tokens)] if self.step_tokens else []
        draft = ["--speculative-config", json.dumps(NGRAM_CONFIG, separators=(",", ":"))] \
            if self.speculative == "ngram" else []
        return ["--max-num-seqs", str(self.max_num_seqs), "--block-size", str(self.block_size), *step,
                "--dtype", self.dtype, *draft]

    def summary(self) -> str:
        feats = ", ".join(self.cpu_features) or "none of " + "/".join(SPEED_FLAGS)
        text = (f"serving on {self.cores} cores ({feats}): reserved {self.reserved_cpus}, "
                f"bind {self.threads_bind}, OMP_WAIT_POLICY={self.omp_wait_policy or '(runtime default)'}, "
                f"KV cache {self.kv_cache_gib} GiB in blocks of {self.block_size} tokens, "
                f"max {self.max_num_seqs} sequences"
                + (f" and {self.step_tokens} tokens a step" if self.step_tokens else "")
                + f", weights in {self.dtype}"
                + (", n-gram speculative decoding" if self.speculative == "ngram" else ""))
        if self.overridden:
            text += f" (from your environment: {', '.join(self.overridden)})"
        return text


def choose(cores: int, features: list[str], environ: dict[str, str] | None = None) -> ServingSettings:
    """The CPU serving settings for this machine; variables already in ``environ`` win."""
    if cores <= 0:
        raise ValueError(f"cores must be positive, got {cores}")
    # Measured on 2 cores (README): PASSIVE keeps decode under load near idle; binding to cores
    # a busy tool also needs made it worse, so few cores run unbound. Many cores (not measured
    # here): vLLM's own default of one reserved core for the engine's scheduler and pinned
    # compute threads, still passive so tools and the harness get a core when they need one.
    few = cores <= 4
    native_bf16 = "avx512_bf16" in features or "amx_bf16" in features
    settings = ServingSettings(
        cores=cores, cpu_features=list(features),
        reserved_cpus=0 if few else 1,
        threads_bind="nobind" if few else "auto",
        omp_wait_policy="PASSIVE",
        kv_cache_gib=1 if few else 4,
        # 16 agents at once finished in 12 s with 16 sequences and in 22 s with 4 (bench concurrent):
        # on CPUs, passive threads, not a small batch, are what keeps requests in flight moving.
        max_num_seqs=16,
        dtype="bfloat16" if native_bf16 else "float32",
        step_tokens=256 if few else 0,
        speculative="off" if native_bf16 else "ngram",
        reason=("few cores: unbound, passive threads share them with the harness and tools"
                if few else "many cores: one reserved for the scheduler (rule not measured here)"),
    )
    environ = dict(os.environ if environ is None else environ)
    overridden = sorted(k for k in [*settings.env(), DTYPE_VARIABLE, SPECULATIVE_VARIABLE] if k in environ)
    if not overridden:
        return settings
    return replace(
        settings,
        reserved_cpus=_whole_number(environ, "VLLM_CPU_NUM_OF_RESERVED_CPU", settings.reserved_cpus),
        threads_bind=environ.get("VLLM_CPU_OMP_THREADS_BIND", settings.threads_bind),
        omp_wait_policy=environ.get("OMP_WAIT_POLICY", settings.omp_wait_policy),
        kv_cache_gib=_whole_number(environ, "VLLM_CPU_KVCACHE_SPACE", settings.kv_cache_gib),
        dtype=_dtype(environ, settings.dtype), speculative=_speculative(environ, settings.speculative),
        overridden=overridden,
    )


def _speculative(environ: dict[str, str], default: str) -> str:
    value = environ.get(SPECULATIVE_VARIABLE, "").strip().casefold()
    if not value:
        return default
    if value not in SPECULATIVE:
        raise HarnessError(f"{SPECULATIVE_VARIABLE}={environ[SPECULATIVE_VARIABLE]!r} is not a choice harness serve "
                           "knows", hint=f"use one of {', '.join(SPECULATIVE)}, or unset it to let harness serve "
                           f"choose ({default})")
    return value


def _dtype(environ: dict[str, str], default: str) -> str:
    value = environ.get(DTYPE_VARIABLE, "").strip()
    if not value:
        return default
    if value not in DTYPES:
        raise HarnessError(f"{DTYPE_VARIABLE}={environ[DTYPE_VARIABLE]!r} is not a type vLLM's CPU backend takes",
                           hint=f"use one of {', '.join(DTYPES)}, or unset it to let harness serve choose ({default})")
    return value


def _whole_number(environ: dict[str, str], name: str, default: int) -> int:
    """A variable the user set: empty means ours; anything but a whole number is their mistake."""
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise HarnessError(f"{name}={environ[name]!r} is not a whole number",
                           hint=f"unset it to let harness serve choose ({default}), or set a number") from None


def for_this_machine() -> ServingSettings:
    return choose(usable_cores(), read_cpu_features())


# --- measurement (`harness bench serving`) ---

PREFILL_TEXT = ("Every tool call is parsed, validated and run; its result is appended to the transcript "
                "so that the server's prefix cache can serve the next turn. Item {i}. ")


def _stream(client: Client, messages: list[dict[str, Any]], max_tokens: int,
            stop: threading.Event | None = None) -> ChatResult | None:
    """Stream a reply through the harness's own parser, as the agent loop does."""
    parser = StreamingToolCallParser()
    stream = client.stream_chat(messages, max_tokens=max_tokens, temperature=0, extra={"ignore_eos": True})
    try:
        for item in stream:
            if isinstance(item, ChatResult):
                parser.finish()
                return item
            parser.feed(item.text)
            if stop is not None and stop.is_set():
                return None
    finally:
        stream.close()
    return None


def decode_rate(client: Client, tokens: int) -> float | None:
    result = _stream(client, [{"role": "user", "content": "Count from one to five hundred in words."}], tokens)
    if result is None or result.ttft_s is None or result.usage.completion_tokens < 2:
        return None
    return (result.usage.completion_tokens - 1) / max(result.elapsed_s - result.ttft_s, 1e-9)


def prefill_time(client: Client, prompt_tokens: int) -> float:
    """Time to first token of a prompt the cache has never seen (a fresh nonce leads it)."""
    body = "".join(PREFILL_TEXT.format(i=i) for i in range(max(1, prompt_tokens // 30)))
    result = client.complete([{"role": "user", "content": f"[{uuid.uuid4()}] {body}\nOne word?"}],
                             max_tokens=1, temperature=0)
    return result.ttft_s if result.ttft_s is not None else result.elapsed_s


@contextlib.contextmanager
def load(client: Client, busy: bool = True, stream: bool = True, tool_nice: int = TOOL_NICENESS) -> Iterator[None]:
    """A realistic load beside the server: a tool busy on one core, started as the harness starts
    every tool process (at ``tool_nice``; 0 is a tool at normal priority), and this process
    streaming and parsing another long reply."""
    model = client.get_model()  # before anything is started that must be stopped
    spinner = (start_process([sys.executable, "-c", "while True: pass"], os.getcwd(), nice=tool_nice)
               if busy else None)
    stop = threading.Event()

    def other() -> None:
        # Its own client: a sync Client runs on its own event loop, one thread at a time.
        with Client(base_url=client.base_url, model=model) as own:
            while not stop.is_set():
                _stream(own, [{"role": "user", "content": "Write a long story about a lighthouse."}], 2048, stop)

    worker = threading.Thread(target=other, daemon=True) if stream else None
    if worker:
        worker.start()
    try:
        time.sleep(0.5)  # let the other request reach decoding
        yield
    finally:
        stop.set()
        if spinner:
            stop_process(spinner)
        if worker:
            worker.join(timeout=60)


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# The modes of bench_serving, interleaved: the server alone; under load with the tool at the
# priority the harness gives tools; and with the tool at normal priority, for comparison.
MODES = ("idle", "loaded", "loaded_plain")


def bench_serving(client: Client, repeats: int = 3, decode_tokens: int = 64, prompt_tokens: int = 1000,
                  busy: bool = True, stream: bool = True, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Decode tok/s and prefill time, idle and under load, interleaved so noise hits both."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    modes = MODES if busy else MODES[:2]  # without the busy tool, its priority changes nothing
    runs: dict[str, dict[str, list[float]]] = {m: {"decode": [], "prefill": []} for m in modes}
    loads: list[float] = []
    decode_rate(client, 8)  # warm-up: the first request pays one-off costs
    for _ in range(repeats):
        loads.append(_load_average())
        for mode in modes:
            with (load(client, busy, stream, tool_nice=0 if mode == "loaded_plain" else TOOL_NICENESS)
                  if mode != "idle" else contextlib.nullcontext()):
                rate = decode_rate(client, decode_tokens)
                if rate is not None:
                    runs[mode]["decode"].append(rate)
                runs[mode]["prefill"].append(prefill_time(client, prompt_tokens))
    decode = {m: _median(runs[m]["decode"]) for m in modes}
    prefill = {m: _median(runs[m]["prefill"]) for m in modes}
    idle = decode["idle"]

    def ratio(mode: str) -> float | None:
        value = decode.get(mode)
        return round(value / idle, 3) if idle and value else None

    return {
        "model": client.get_model(), "base_url": client.base_url, "repeats": repeats,
        "decode_tokens": decode_tokens, "prompt_tokens": prompt_tokens,
        "load": {"busy_subprocess": busy, "other_stream": stream, "tool_nice": TOOL_NICENESS},
        "decode_idle_tps": idle, "decode_loaded_tps": decode["loaded"], "decode_ratio": ratio("loaded"),
        "decode_loaded_plain_tps": decode.get("loaded_plain"), "decode_ratio_plain": ratio("loaded_plain"),
        "prefill_idle_s": prefill["idle"], "prefill_loaded_s": prefill["loaded"],
        "prefill_loaded_plain_s": prefill.get("loaded_plain"),
        "runs": runs, "load_average": loads, "settings": settings,
    }


def write_settings(path: Path, settings: ServingSettings) -> None:
    path.write_text(json.dumps(asdict(settings), sort_keys=True))


def read_settings(path: Path) -> ServingSettings | None:
    try:
        return ServingSettings(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
