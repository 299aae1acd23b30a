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


# -- in process: one settings model, one builder ---------------------------------------------------

@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in [v for v in os.environ if v.startswith("HARNESS_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("key", "in_file", "in_env", "flag", "expected"), [
    ("max_steps", "3", "5", 7, [8, 3, 5, 7]),
    ("timeout_s", "30.0", "40", 50.0, [600.0, 30.0, 40.0, 50.0]),
    ("tools", '"all"', "read_file", "now", ["read", "all", "read_file", "now"]),
    ("yes", "true", "false", True, [False, True, False, True]),
    ("workspace", '"a"', "b", "c", [".", "a", "b", "c"]),
    ("model", '"from-file"', "from-env", "from-flag", [None, "from-file", "from-env", "from-flag"]),
])
def test_flag_beats_env_beats_file_beats_default(home, monkeypatch, key, in_file, in_env, flag, expected):
    from harness.config import Settings

    seen = [getattr(Settings.load(), key)]
    (home / "config.toml").write_text(f"{key} = {in_file}\n")
    seen.append(getattr(Settings.load(), key))
    monkeypatch.setenv(f"HARNESS_{key.upper()}", in_env)
    seen.append(getattr(Settings.load(), key))
    seen.append(getattr(Settings.load(**{key: flag}), key))
    assert seen == expected


def test_the_built_agent_waits_as_long_as_the_config_file_says(home, monkeypatch):
    # The file's timeout_s used to reach only clients made outside the CLI's reading of the file.
    from harness.build import build_agent
    from harness.config import Settings

    (home / "config.toml").write_text(f'timeout_s = 30.0\nmemory = "{home / "m.db"}"\n')
    with build_agent(Settings.load(workspace=str(home))) as agent:
        from_file = agent.client.http.timeout.read
    monkeypatch.setenv("HARNESS_TIMEOUT_S", "45")
    with build_agent(Settings.load(workspace=str(home))) as agent:
        from_env = agent.client.http.timeout.read
    assert (from_file, from_env) == (30.0, 45.0)


def test_unknown_key_in_the_config_file_is_an_error_naming_file_and_key(home):
    from harness.config import Settings
    from harness.errors import ConfigError

    (home / "config.toml").write_text("max_step = 3\n")
    with pytest.raises(ConfigError) as err:
        Settings.load()
    assert (err.value.message, "max_steps" in err.value.hint) == \
        (f"{home / 'config.toml'}: max_step is not a setting", True)


def test_ill_typed_variable_is_an_error_naming_it(home, monkeypatch):
    from harness.config import Settings
    from harness.errors import ConfigError

    monkeypatch.setenv("HARNESS_MAX_STEPS", "many")
    with pytest.raises(ConfigError, match="^HARNESS_MAX_STEPS: max_steps = 'many' is not valid"):
        Settings.load()


def test_run_chat_and_the_repls_new_session_build_through_one_function(home, monkeypatch):
    from click.testing import CliRunner

    from harness import build, cli

    built = []
    real = build.build_agent

    def recording(settings, **kw):  # type: ignore[no-untyped-def]
        built.append((settings, kw.get("session")))
        return real(settings, **kw)

    monkeypatch.setattr(build, "build_agent", recording)
    args = ["--base-url", "http://127.0.0.1:9", "--memory", str(home / "m.db"), "--max-steps", "2", "--no-mcp"]
    CliRunner().invoke(cli.main, ["run", *args, "hi"])
    CliRunner().invoke(cli.main, ["chat", *args], input="/new\n/exit\n")
    settings = [s for s, _ in built]
    assert (len(built), settings[0] == settings[1] == settings[2], settings[0].max_steps) == (3, True, 2)


def test_an_unknown_session_leaves_no_store_open(home, monkeypatch):
    # /resume with a mistyped id: the error is clear and the store opened for it is closed.
    from harness import build
    from harness.config import Settings
    from harness.errors import HarnessError

    opened = []
    real = build.open_store
    monkeypatch.setattr(build, "open_store", lambda settings: opened.append(real(settings)) or opened[-1])
    (home / "config.toml").write_text(f'memory = "{home / "m.db"}"\n')
    with pytest.raises(HarnessError, match="there is no session 'nope'"):
        build.build_agent(Settings.load(workspace=str(home)), session="nope")
    assert len(opened) == 1 and _is_closed(opened[0])


def _is_closed(store) -> bool:
    import sqlite3

    try:
        store.db.execute("select 1")
    except sqlite3.ProgrammingError:
        return True
    return False
