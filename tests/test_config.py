"""Settings precedence: flags win over HARNESS_* variables, which win over config.toml."""

from __future__ import annotations

import os
import subprocess
import sys


def run(home, *args, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    full_env.update({"HARNESS_HOME": str(home), **(env or {})})
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


def test_flag_over_env_over_config_file(tmp_path):
    (tmp_path / "config.toml").write_text('base_url = "http://127.0.0.1:9"\nmemory = "%s"\n'
                                          % (tmp_path / "m.db"))
    assert "no server answers at http://127.0.0.1:9" in run(tmp_path, "run", "hi").stderr
    env = {"HARNESS_BASE_URL": "http://127.0.0.1:7"}
    assert "no server answers at http://127.0.0.1:7" in run(tmp_path, "run", "hi", env=env).stderr
    out = run(tmp_path, "run", "--base-url", "http://127.0.0.1:5", "hi", env=env)
    assert "no server answers at http://127.0.0.1:5" in out.stderr
    assert (tmp_path / "m.db").exists()  # the memory path came from the file


def test_broken_config_file_is_a_clear_error(tmp_path):
    (tmp_path / "config.toml").write_text("tools = [1\n")
    out = run(tmp_path, "run", "hi")
    assert out.returncode == 1 and "not valid TOML" in out.stderr and "Traceback" not in out.stderr


def test_unknown_tool_name_is_a_clear_error(tmp_path):
    out = run(tmp_path, "run", "--tools", "read_file,launch_rockets", "--memory", str(tmp_path / "m.db"), "hi")
    assert out.returncode == 1 and "unknown tools: launch_rockets" in out.stderr
