"""Tools that run code: Python in a subprocess, and shell commands. Both need approval."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tools.tool import Tool, tool
from tools.workspace import Workspace

PROCESS_TIMEOUT_S = 60.0


def run_process(argv: list[str], cwd: str, timeout_s: float, stdin: str | None = None) -> str:
    """Run a process in its own group; on timeout kill the whole group (children too)."""
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        out, _ = proc.communicate(stdin.encode() if stdin is not None else None, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        text = out.decode(errors="replace")
        return f"{text}\n[killed: still running after {timeout_s:g} s]"
    text = out.decode(errors="replace")
    return f"{text}\n[exit code {proc.returncode}]" if proc.returncode else (text or "(no output, exit code 0)")


def process_tools(ws: Workspace, timeout_s: float = PROCESS_TIMEOUT_S) -> list[Tool]:
    # The tool-level timeout is a little longer, so the process's own kill reports first.
    @tool(needs_approval=True, timeout_s=timeout_s + 5)
    def run_python(code: str) -> str:
        """Run Python code in a fresh subprocess in the workspace; returns what it prints.

        Args:
            code: the Python source to run
        """
        return run_process([sys.executable, "-I", "-"], str(ws.root), timeout_s, stdin=code)

    @tool(needs_approval=True, timeout_s=timeout_s + 5)
    def run_shell(command: str) -> str:
        """Run a shell command (bash) in the workspace; returns stdout and stderr.

        Args:
            command: the command line
        """
        return run_process(["bash", "-c", command], str(ws.root), timeout_s)

    return [run_python, run_shell]
