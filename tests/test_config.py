"""Settings precedence: flags win over HARNESS_* variables, which win over config.toml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(home, *args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    full_env.update({"HARNESS_HOME": str(home), **(env or {})})
    if cwd is not None:  # the package must still import from this checkout
        full_env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), full_env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=60, cwd=cwd)


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


def test_invalid_base_url_in_the_environment_is_a_clear_error(tmp_path):
    out = run(tmp_path, "run", "--memory", str(tmp_path / "m.db"), "hi", env={"HARNESS_BASE_URL": "::::"})
    assert (out.returncode, "Traceback" in out.stderr, "HARNESS_BASE_URL: base_url = '::::' is not valid"
            in out.stderr) == (1, False, True), out.stderr


@pytest.mark.parametrize("line, key", [
    ('memory = ["a"]', "memory"),
    ('max_steps = "many"', "max_steps"),
    ("max_steps = 0", "max_steps"),
    ('yes = "sure"', "yes"),
    ("constrained = 1", "constrained"),
    ("tools = [1, 2]", "tools"),
    ("skills = \"one\"", "skills"),
    ("base_url = 8011", "base_url"),
    ('base_url = "::::"', "base_url"),
    ("timeout_s = -1", "timeout_s"),
])
def test_config_value_of_the_wrong_type_names_file_and_key(tmp_path, line, key):
    (tmp_path / "config.toml").write_text(line + "\n")
    out = run(tmp_path, "run", "hi", cwd=tmp_path)
    expected = f"{tmp_path / 'config.toml'}: {key} = "
    assert (out.returncode, "Traceback" in out.stderr, expected in out.stderr, f"{key} should be" in out.stderr) \
        == (1, False, True, True), out.stderr


def test_config_memory_list_creates_no_stray_file(tmp_path):
    (tmp_path / "config.toml").write_text('memory = ["a"]\n')
    run(tmp_path, "run", "hi", cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_config_tools_may_be_a_list_of_names(tmp_path):
    (tmp_path / "config.toml").write_text('tools = ["read_file", "launch_rockets"]\n')
    out = run(tmp_path, "run", "--memory", str(tmp_path / "m.db"), "hi")
    assert "unknown tools: launch_rockets" in out.stderr
