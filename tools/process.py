"""Tools that run code: Python in a subprocess, and shell commands. Both need approval.

Approval is the protection here, not a sandbox: approved code can do what the user can. Two
things still hold for every run: the process gets a minimal environment (no API keys, tokens
or secrets of the harness's own), and nothing it starts outlives the call (see subreaper.py):
at the timeout, or when the command exits, its whole process tree is killed, including children
that changed session or double-forked. It also runs at a lower CPU priority (TOOL_NICENESS): on a
machine of few cores a busy tool would otherwise take a core from the model server's threads,
and every agent decoding at that moment would slow to its pace (README, "Speed on ordinary
hardware"). With the server idle, as it is while its own agent waits for the tool, it costs the
tool nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from harness.tools.tool import Tool, tool
from harness.tools.workspace import Workspace

PROCESS_TIMEOUT_S = 60.0
KILL_GRACE_S = 5.0  # for the reaper to kill the tree after the timeout
SUBREAPER = str(Path(__file__).with_name("subreaper.py"))
TOOL_NICENESS = 10  # CFS weight about a tenth of a normal process's when both want the same core
# Passed on from the harness's environment, and nothing else.
ENV_KEPT = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "TMPDIR")
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


def minimal_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a child gets: a few harmless variables of ours, plus ``extra``."""
    env = {name: os.environ[name] for name in ENV_KEPT if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return {k: v for k, v in env.items() if not any(m in k.upper() for m in SECRET_MARKERS)}


def start_process(argv: list[str], cwd: str, stdin: bool = False, env: Mapping[str, str] | None = None,
                  nice: int = TOOL_NICENESS) -> subprocess.Popen[bytes]:
    """Start ``argv`` as every tool process starts: under the subreaper, in its own session, at
    lower priority, in a minimal environment (``env`` adds variables), output captured."""
    return subprocess.Popen([sys.executable, "-I", SUBREAPER, "--nice", str(nice), *argv], cwd=cwd,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            env=minimal_env(env))


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process from start_process and everything it started, and wait for it."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def run_process(argv: list[str], cwd: str, timeout_s: float, stdin: str | None = None,
                env: Mapping[str, str] | None = None) -> str:
    """Run ``argv`` as start_process starts it, and return what it printed.

    At the timeout the reaper is told to kill the whole tree; if it cannot within a few seconds,
    its process group is killed and whatever was printed so far is returned.
    """
    proc = start_process(argv, cwd, stdin=stdin is not None, env=env)
    data = stdin.encode() if stdin is not None else None
    try:
        out, _ = proc.communicate(data, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired as exc:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.kill()
            out = exc.output or b""
            if proc.stdout is not None:
                proc.stdout.close()  # a survivor may hold the pipe open: stop waiting for it
            proc.wait()
        text = out.decode(errors="replace")
        return f"{text}\n[killed: still running after {timeout_s:g} s]"
    text = out.decode(errors="replace")
    return f"{text}\n[exit code {proc.returncode}]" if proc.returncode else (text or "(no output, exit code 0)")


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass  # already gone


def process_tools(ws: Workspace, timeout_s: float = PROCESS_TIMEOUT_S) -> list[Tool]:
    # The tool-level timeout is longer, so the process's own kill reports first.
    @tool(needs_approval=True, timeout_s=timeout_s + KILL_GRACE_S + 5)
    def run_python(code: str) -> str:
        """Run Python code in a fresh subprocess in the workspace; returns what it prints.

        Args:
            code: the Python source to run
        """
        return run_process([sys.executable, "-I", "-"], str(ws.root), timeout_s, stdin=code)

    @tool(needs_approval=True, timeout_s=timeout_s + KILL_GRACE_S + 5)
    def run_shell(command: str) -> str:
        """Run a shell command (bash) in the workspace; returns stdout and stderr.

        Args:
            command: the command line
        """
        return run_process(["bash", "-c", command], str(ws.root), timeout_s)

    return [run_python, run_shell]
