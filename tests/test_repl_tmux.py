"""`harness chat` driven in tmux as a person would (send-keys, capture-pane), on the real server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.live, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

SKILL = """---
name: haiku-writer
description: Write a haiku about a subject. Use when the user asks for a haiku.
---
Write one haiku (three lines: 5, 7 and 5 syllables) about: $ARGUMENTS
"""


class Terminal:
    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = f"harness-test-{uuid.uuid4().hex[:8]}"
        # A tmux server of its own (-L): no race with another test's server shutting down.
        self.tmux = ["tmux", "-L", self.name]
        envs = [f"{k}={v}" for k, v in env.items()]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", "140", "-y", "50", "-c", str(cwd),
                        "env", "-u", "COLUMNS", "-u", "LINES", *envs, *command], check=True)

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        self.keys("-l", text)
        self.keys("Enter")

    def screen(self) -> str:
        out = subprocess.run([*self.tmux, "capture-pane", "-p", "-J", "-S", "-2000", "-t", self.name],
                             capture_output=True, text=True)
        return out.stdout

    def wait_for(self, text: str, timeout: float = 120, after: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen[after:]:
                return screen
            time.sleep(0.3)
        raise AssertionError(f"{text!r} did not appear; screen:\n{self.screen()}")

    def wait_prompt(self, timeout: float = 120) -> str:
        """Until the input prompt is back at the bottom (the reply is done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [l for l in self.screen().rstrip().splitlines() if l.strip()]
            if lines and lines[-1].strip() == "›":  # an empty prompt: the output before it is complete
                return self.screen()
            time.sleep(0.3)
        raise AssertionError(f"the prompt did not come back; screen:\n{self.screen()}")

    def alive(self) -> bool:
        return subprocess.run([*self.tmux, "has-session", "-t", self.name], capture_output=True).returncode == 0

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    (home / "skills" / "haiku-writer").mkdir(parents=True)
    # Dropped into the user's skills directory: no other step.
    (home / "skills" / "haiku-writer" / "SKILL.md").write_text(SKILL)
    return home


def chat(live_server, home: Path, tmp_path: Path, *args: str) -> Terminal:
    env = {"HARNESS_HOME": str(home), "HARNESS_BASE_URL": live_server.base_url, "TERM": "xterm-256color",
           "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(tmp_path))}
    return Terminal([sys.executable, "-m", "harness.cli", "chat", *args], env, tmp_path)


def test_chat_session_in_a_terminal(live_server, home, tmp_path):
    term = chat(live_server, home, tmp_path)
    try:
        term.wait_for("harness chat")
        screen = term.wait_prompt()
        assert "/help for commands" in screen and "1 skills" not in screen

        term.type("What is the capital of France? Answer in one word.")
        screen = term.wait_for("prompt tok")
        term.wait_prompt()
        screen = term.screen()
        assert "Paris" in screen
        assert "cached" in screen and "stop: final_answer" in screen

        term.type("/help")
        term.wait_for("/trace")
        screen = term.wait_prompt()
        assert "/resume ID" in screen and "/exit" in screen

        term.type("/skills")
        term.wait_for("/haiku-writer")
        screen = term.wait_prompt()
        assert "(user)" in screen and "/plan-task" in screen

        mark = len(term.screen().rstrip())
        term.type("/haiku-writer the sea")
        term.wait_for("prompt tok", after=mark)
        term.wait_prompt()

        mark = len(term.screen().rstrip())
        term.type("/trace")
        term.wait_for("last turn", after=mark)
        screen = term.wait_prompt()
        assert "served from the prefix cache" in screen and "model wrote:" in screen

        term.type("/exit")
        deadline = time.monotonic() + 20
        while term.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not term.alive()
    finally:
        term.close()

    # A new terminal continues the session and sees the earlier turns.
    again = chat(live_server, home, tmp_path, "--continue")
    try:
        screen = again.wait_for("resumed session")
        again.wait_prompt()
        screen = again.screen()
        assert "capital of France" in screen and "Paris" in screen
        again.type("/exit")
    finally:
        again.close()


def test_ctrl_c_cancels_the_reply_not_the_session(live_server, home, tmp_path):
    # Free-form decoding and one tool: the bundled model then writes long answers to cancel.
    term = chat(live_server, home, tmp_path, "--free", "--tools", "now")
    try:
        term.wait_for("harness chat")
        term.wait_prompt()
        mark = len(term.screen().rstrip())
        term.type("Explain in detail, step by step, how a compiler turns source code into machine code.")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until some of the reply has streamed in
            if len(term.screen().rstrip()) > mark + 200:
                break
            time.sleep(0.2)
        term.keys("C-c")
        term.wait_for("cancelled", after=mark, timeout=30)
        screen = term.wait_prompt()
        assert "stop: cancelled" in screen[mark:]
        term.type("/trace")
        term.wait_for("last turn", after=mark)
        assert term.alive()
        mark = len(term.screen().rstrip())
        term.type("What is 2+2? Answer with just the number.")
        term.wait_for("prompt tok", after=mark)
        screen = term.wait_prompt()
        assert "4" in screen[mark:]
    finally:
        term.close()


def test_errors_never_end_the_session(home, tmp_path, live_server):
    from harness.server import ServerInfo

    dead = ServerInfo(base_url="http://127.0.0.1:9", port=9, model="", pid=None, log=None)
    term = chat(dead, home, tmp_path)
    try:
        term.wait_for("harness chat")
        term.wait_prompt()
        term.type("hello?")
        term.wait_for("no server answers")
        screen = term.wait_prompt()
        assert "harness serve" in screen
        term.type("/nonsense")
        term.wait_for("unknown command")
        assert term.alive()
    finally:
        term.close()
