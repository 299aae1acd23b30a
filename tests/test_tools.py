"""Declaring tools from typed functions, validating calls, running them safely, and the
built-in tools' confinement to the workspace."""

from __future__ import annotations

import asyncio
import enum
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import jsonschema
import pydantic
import pytest

from harness.constrained import action_schema
from harness.prompt import render_system, tool_results_message
from harness.toolcalls import parse_tool_calls
from harness.tools import PathEscape, Tool, ToolSet, Workspace, allow_all, builtin_tools, canonical_json, deny_all, tool


class Unit(str, enum.Enum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Point(pydantic.BaseModel):
    x: float
    y: float = 0.0


@tool
def get_weather(city: str, unit: Unit = Unit.celsius, days: int | None = None) -> dict:
    """Get the weather for a city.

    Args:
        city: the city name,
            e.g. 'Oslo'
        unit: temperature unit
        days (int): forecast days
    """
    return {"city": city, "unit": unit.value, "days": days}


@tool(timeout_s=5)
async def plot(points: list[Point], style: Literal["line", "dots"] = "line") -> str:
    """Plot points."""
    await asyncio.sleep(0)
    return f"{len(points)} {style} {points[0].x + points[0].y}"


def test_schema_from_signature():
    schema = get_weather.parameters
    assert get_weather.description == "Get the weather for a city."
    assert schema["required"] == ["city"]
    assert schema["properties"]["city"] == {"description": "the city name, e.g. 'Oslo'", "type": "string"}
    assert schema["additionalProperties"] is False
    assert "title" not in json.dumps(schema)  # pydantic's titles are noise in the prompt
    unit = schema["properties"]["unit"]
    assert unit["default"] == "celsius"
    assert "$ref" in unit or unit.get("enum")
    assert {"type": "null"} in schema["properties"]["days"]["anyOf"]
    assert schema["properties"]["days"]["description"] == "forecast days"


def test_nested_models_and_literals():
    schema = plot.parameters
    assert schema["properties"]["style"]["enum"] == ["line", "dots"]
    assert schema["properties"]["points"]["type"] == "array"
    assert "Point" in schema["$defs"]
    result = ToolSet([plot]).run_sync("plot", {"points": [{"x": 1, "y": 2}], "style": "dots"})
    assert result.ok and result.output == "1 dots 3.0"


def test_schemas_serialise_to_the_same_bytes_every_run():
    code = ("from tools import ToolSet, builtin_tools; import tempfile; "
            "print(ToolSet(builtin_tools(tempfile.gettempdir())).specs_json())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2)}
    assert len(runs) == 1
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": "ü"}]}) == '{"a":[1,{"c":"ü","d":2}],"b":1}'


def test_explicit_schema_tool():
    t = Tool.from_schema("add", "Add two numbers.", {
        "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"], "additionalProperties": False}, lambda a, b: a + b)
    ts = ToolSet([t])
    assert ts.run_sync("add", {"a": 2, "b": 3}).output == "5"
    assert "'b' is a required property" in ts.run_sync("add", {"a": 2}).output


def test_unknown_tool_names_the_valid_ones():
    ts = ToolSet([get_weather, plot])
    msg = ts.check("get_wether", {})
    assert "no tool named 'get_wether'" in msg and "Did you mean 'get_weather'" in msg
    assert "Available tools: get_weather, plot" in msg


def test_invalid_arguments_name_field_and_expectation():
    msg = ToolSet([get_weather]).check("get_weather", {"city": 3, "unit": "kelvin", "extra": 1})
    assert "at city: 3 is not of type 'string'" in msg
    assert "at unit: 'kelvin' is not one of" in msg
    assert "'extra' was unexpected" in msg
    assert "Call it again" in msg


def test_tool_that_raises_becomes_an_error_result():
    @tool
    def broken(x: int) -> int:
        """Fails."""
        raise RuntimeError("disk on fire")

    result = ToolSet([broken]).run_sync("broken", {"x": 1})
    assert not result.ok and result.output == "'broken' failed: RuntimeError: disk on fire"


def test_tool_that_hangs_times_out_and_the_loop_goes_on():
    @tool(timeout_s=0.3)
    def hang() -> str:
        """Never returns."""
        time.sleep(3600)
        return "never"

    ts = ToolSet([hang, get_weather])
    started = time.perf_counter()
    results = asyncio.run(ts.run_all([("hang", {}), ("get_weather", {"city": "Oslo"})]))
    assert time.perf_counter() - started < 2
    assert not results[0].ok and "0.3 s timeout" in results[0].output
    assert results[1].ok


def test_tool_printing_10_mb_is_truncated_with_a_note():
    @tool(max_output=1000)
    def flood() -> str:
        """Lots of output."""
        return "x" * 10_000_000

    result = ToolSet([flood]).run_sync("flood", {})
    assert result.truncated and len(result.output) < 1200
    assert "output truncated: 10,000,000 characters" in result.output


def test_parallel_calls_run_concurrently():
    @tool
    def slow(n: int) -> int:
        """Sleeps."""
        time.sleep(0.5)
        return n

    @tool
    async def aslow(n: int) -> int:
        """Sleeps (async)."""
        await asyncio.sleep(0.5)
        return n

    ts = ToolSet([slow, aslow])
    started = time.perf_counter()
    results = asyncio.run(ts.run_all([("slow", {"n": 1}), ("slow", {"n": 2}), ("aslow", {"n": 3}), ("aslow", {"n": 4})]))
    assert time.perf_counter() - started < 1.2
    assert [r.output for r in results] == ["1", "2", "3", "4"]


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def _exits() -> str:
    sys.exit(3)


async def _aexits() -> str:
    sys.exit(3)


def _unprintable() -> Unprintable:
    return Unprintable()


def _raises_unprintable() -> str:
    raise UnprintableError


def _stops() -> str:
    raise StopIteration


@pytest.mark.parametrize("fn, words", [
    (_exits, "'misbehaves' tried to end the program (sys.exit(3))"),
    (_aexits, "'misbehaves' tried to end the program (sys.exit(3))"),
    (_unprintable, "'misbehaves' returned a Unprintable that could not be turned into text"),
    (_raises_unprintable, "'misbehaves' failed: UnprintableError: UnprintableError()"),
    (_stops, "'misbehaves' failed: RuntimeError: StopIteration"),
], ids=["sys.exit", "async sys.exit", "unprintable result", "unprintable error", "StopIteration"])
def test_tool_that_misbehaves_becomes_an_error_result(fn, words):
    misbehaves = Tool.from_schema("misbehaves", "Misbehaves.", {"type": "object", "properties": {}}, fn, timeout_s=5)
    result = ToolSet([misbehaves]).run_sync("misbehaves", {})
    assert (result.ok, result.output[:len(words)]) == (False, words)


def test_tool_raising_keyboard_interrupt_still_cancels_the_run():
    @tool
    def interrupted() -> str:
        """Ctrl-C."""
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ToolSet([interrupted]).run_sync("interrupted", {})


def test_async_tool_that_blocks_its_loop_still_times_out():
    @tool(timeout_s=0.2)
    async def blocks() -> str:
        """Blocks the event loop (a synchronous sleep in async code)."""
        time.sleep(1.5)
        return "finished"

    results = asyncio.run(ToolSet([blocks, get_weather]).run_all([("blocks", {}), ("get_weather", {"city": "Oslo"})]))
    assert [(r.ok, "0.2 s timeout" in r.output) for r in results] == [(False, True), (True, False)]


def test_async_tool_abandoned_at_its_timeout_is_cancelled():
    cancelled = threading.Event()

    @tool(timeout_s=0.2)
    async def waits() -> str:
        """Awaits forever."""
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    ToolSet([waits]).run_sync("waits", {})
    assert cancelled.wait(timeout=10)


def test_sync_tool_finishing_after_its_timeout_reports_nothing(monkeypatch):
    thread_errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_value))
    threads: list[threading.Thread] = []

    @tool(timeout_s=0.1)
    def late() -> str:
        """Finishes after its timeout, once the caller's event loop has closed."""
        threads.append(threading.current_thread())
        time.sleep(0.5)
        return "late"

    ToolSet([late]).run_sync("late", {})
    threads[0].join(timeout=10)
    assert thread_errors == []


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("line one\nsecret? no\nline three\n")
    (root / "sub").mkdir()
    (root / "sub" / "code.py").write_text("def f():\n    return 42\n")
    (tmp_path / "outside.txt").write_text("private")
    os.symlink(tmp_path / "outside.txt", root / "link_out")
    os.symlink(tmp_path, root / "dir_out")
    os.symlink(root / "notes.txt", root / "link_in")
    return Workspace(root)


@pytest.mark.parametrize("path", ["../outside.txt", "sub/../../outside.txt", "link_out", "dir_out/outside.txt",
                                  "/etc/passwd", "sub/../notes.txt"])
def test_path_escapes_are_refused(ws, path):
    with pytest.raises(PathEscape):
        ws.resolve(path)
    ts = ToolSet(builtin_tools(ws))
    result = ts.run_sync("read_file", {"path": path})
    assert not result.ok and "PathEscape" in result.output


def test_symlink_inside_and_absolute_inside_are_fine(ws):
    ts = ToolSet(builtin_tools(ws))
    assert "line one" in ts.run_sync("read_file", {"path": "link_in"}).output
    assert "line one" in ts.run_sync("read_file", {"path": str(ws.root / "notes.txt")}).output


def test_file_tools(ws):
    ts = ToolSet(builtin_tools(ws))
    assert ts.run_sync("read_file", {"path": "notes.txt", "start_line": 2, "max_lines": 1}).output == \
        "    2  secret? no\n[1 more lines; read on with start_line]"
    assert ts.run_sync("list_dir", {}).output.splitlines() == [
        "sub/", f"dir_out -> {ws.root.parent}", f"link_in -> {ws.root / 'notes.txt'}",
        f"link_out -> {ws.root.parent / 'outside.txt'}", "notes.txt"]
    assert ts.run_sync("search_files", {"pattern": "*.py"}).output == "sub/code.py"
    assert ts.run_sync("search_files", {"text": "RETURN 4"}).output == "sub/code.py:2: return 42"
    assert ts.run_sync("search_files", {"text": "RETURN \\d+", "regex": True}).output == "sub/code.py:2: return 42"
    assert ts.run_sync("write_file", {"path": "new/a.txt", "content": "hi"}).ok is False  # needs approval
    assert ts.run_sync("write_file", {"path": "new/a.txt", "content": "hi"}, allow_all).ok
    assert (ws.root / "new" / "a.txt").read_text() == "hi"
    edit = ts.run_sync("edit_file", {"path": "notes.txt", "old": "line", "new": "LINE"}, allow_all)
    assert not edit.ok and "occurs 2 times" in edit.output
    assert ts.run_sync("edit_file", {"path": "notes.txt", "old": "three", "new": "3"}, allow_all).ok
    assert "line 3" in (ws.root / "notes.txt").read_text()


def test_writes_outside_are_refused_even_when_approved(ws, tmp_path):
    ts = ToolSet(builtin_tools(ws))
    result = ts.run_sync("write_file", {"path": "../evil.txt", "content": "x"}, allow_all)
    assert not result.ok and not (tmp_path / "evil.txt").exists()


# --- confinement: symlinks, races, hard links, caps ----------------------------------------------

LEAKS = [  # (tool, arguments) that would show the outside file's "private" content if they followed links
    ("read_file", {"path": "link_out"}),
    ("read_file", {"path": "dir_out/outside.txt"}),
    ("list_dir", {"path": "dir_out"}),
    ("search_files", {"text": "."}),
    ("search_files", {"text": ".", "path": "dir_out"}),
    ("search_files", {"text": "priv", "regex": True}),
]


@pytest.mark.parametrize(("name", "arguments"), LEAKS)
def test_no_file_tool_reads_through_a_symlink_that_leads_outside(ws, name, arguments):
    assert "private" not in ToolSet(builtin_tools(ws)).run_sync(name, arguments).output


@pytest.mark.timeout(30)
@pytest.mark.parametrize("special", ["fifo", "dev_zero"])
def test_search_never_reads_a_fifo_or_a_device(ws, special):
    if special == "fifo":
        os.mkfifo(ws.root / "pipe.txt")  # opening it to read would block until a writer comes
    else:
        os.symlink("/dev/zero", ws.root / "zero.txt")  # reading it would never end
    assert ToolSet(builtin_tools(ws)).run_sync("search_files", {"text": "x"}).output == "no matches"


@pytest.mark.timeout(30)
def test_read_file_refuses_a_fifo(ws):
    os.mkfifo(ws.root / "pipe.txt")
    result = ToolSet(builtin_tools(ws)).run_sync("read_file", {"path": "pipe.txt"})
    assert not result.ok and "not a regular file" in result.output


@pytest.mark.parametrize(("cap", "tool", "arguments", "note"), [
    ("MAX_SEARCH_FILE_BYTES", "search_files", {"text": "needle"}, "only their start was searched"),
    ("MAX_SEARCH_TOTAL_BYTES", "search_files", {"text": "needle"}, "stopped after reading 1,000 bytes"),
    ("MAX_READ_BYTES", "read_file", {"path": "big.txt"}, "only the first 1,000 bytes of this file were read"),
])
def test_reads_are_capped(ws, monkeypatch, cap, tool, arguments, note):
    from harness.tools import files

    monkeypatch.setattr(files, cap, 1000)
    (ws.root / "big.txt").write_text("hay\n" * 1000 + "needle\n")
    output = ToolSet(builtin_tools(ws)).run_sync(tool, arguments).output
    assert "needle" not in output.replace(note, "") and note in output


@pytest.mark.parametrize(("name", "arguments", "message"), [
    ("read_file", {"path": "sub/nope.txt"}, "'sub/nope.txt' does not exist in the workspace"),
    ("read_file", {"path": "notes.txt/x"}, "'notes.txt/x' (or a folder on its way) is a file"),
    ("list_dir", {"path": "notes.txt"}, "'notes.txt' (or a folder on its way) is a file"),
    ("read_file", {"path": "sub"}, "'sub' is a directory"),
])
def test_bad_paths_get_a_message_naming_the_whole_path(ws, name, arguments, message):
    assert message in ToolSet(builtin_tools(ws)).run_sync(name, arguments).output


def test_symlinks_that_stay_inside_are_followed_inside(ws):
    os.symlink("../notes.txt", ws.root / "sub" / "up")  # relative, with '..', still inside
    os.symlink("sub", ws.root / "sub_link")
    ts = ToolSet(builtin_tools(ws))
    assert "line one" in ts.run_sync("read_file", {"path": "sub/up"}).output
    assert "return 42" in ts.run_sync("read_file", {"path": "sub_link/code.py"}).output


@pytest.mark.parametrize("target", ["../..", "../../outside.txt", "/etc/passwd"])
def test_a_symlink_inside_pointing_out_through_dotdot_is_refused(ws, target):
    os.symlink(target, ws.root / "sub" / "sneaky")
    with pytest.raises(PathEscape):
        ws.open_file("sub/sneaky")


def test_a_symlink_loop_is_a_clear_error(ws):
    os.symlink("b", ws.root / "a")
    os.symlink("a", ws.root / "b")
    with pytest.raises(PathEscape, match="too many levels of symbolic links"):
        ws.open_file("a")


@pytest.mark.parametrize(("name", "arguments"), [
    ("read_file", {"path": "swapme/secret.txt"}),
    ("write_file", {"path": "swapme/secret.txt", "content": "overwritten"}),
    ("edit_file", {"path": "swapme/secret.txt", "old": "inside", "new": "overwritten"}),
])
def test_a_directory_swapped_for_a_symlink_mid_call_leads_nowhere(ws, tmp_path, monkeypatch, name, arguments):
    """The race, made deterministic: the directory becomes a symlink to outside at the first open or
    stat that names it, that is after any check of the path and before the file is read or written."""
    (ws.root / "swapme").mkdir()
    (ws.root / "swapme" / "secret.txt").write_text("inside")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.txt").write_text("the real secret")
    real_open, real_stat = os.open, os.stat
    swapped = []

    def swap(path: object) -> None:
        if not swapped and "swapme" in str(path):
            swapped.append(True)
            os.rename(ws.root / "swapme", ws.root / "moved")
            os.symlink(tmp_path / "elsewhere", ws.root / "swapme")

    monkeypatch.setattr(os, "open", lambda path, *a, **k: (swap(path), real_open(path, *a, **k))[1])
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: (swap(path), real_stat(path, *a, **k))[1])
    result = ToolSet(builtin_tools(ws)).run_sync(name, arguments, allow_all)
    assert swapped and (tmp_path / "elsewhere" / "secret.txt").read_text() == "the real secret"
    assert "real secret" not in result.output and "PathEscape" in result.output


@pytest.mark.parametrize(("name", "arguments"), [
    ("write_file", {"path": "hard.txt", "content": "overwritten"}),
    ("edit_file", {"path": "hard.txt", "old": "private", "new": "overwritten"}),
])
def test_no_write_through_a_hard_link(ws, tmp_path, name, arguments):
    os.link(tmp_path / "outside.txt", ws.root / "hard.txt")
    result = ToolSet(builtin_tools(ws)).run_sync(name, arguments, allow_all)
    assert "hard links" in result.output and (tmp_path / "outside.txt").read_text() == "private"


# --- search: literal by default, RE2 when asked ----------------------------------------------------

@pytest.mark.parametrize(("arguments", "expected"), [
    ({"text": "(a|aa)+$"}, "f.txt:2: x (a|aa)+$"),  # literal: the characters themselves
    ({"text": "A+B"}, "no matches\n[text is searched literally; for a regular expression pass regex=true]"),
    ({"text": "a+b", "regex": True}, "f.txt:1: aaab"),
])
def test_search_text_is_literal_unless_regex_is_asked(ws, arguments, expected):
    (ws.root / "f.txt").write_text("aaab\nx (a|aa)+$\n")
    assert ToolSet(builtin_tools(ws)).run_sync("search_files", {"pattern": "f.txt", **arguments}).output == expected


@pytest.mark.timeout(60)
def test_regex_search_takes_linear_time_on_a_backtracking_pattern(ws):
    # A backtracking engine needs about 2**40 steps here (over the 30 s tool timeout, holding the GIL).
    (ws.root / "evil.txt").write_text("a" * 40 + "b\n")
    result = ToolSet(builtin_tools(ws)).run_sync("search_files", {"text": "(a|aa)+$", "regex": True})
    assert result.ok and result.output == "no matches"


@pytest.mark.parametrize("pattern", ["(a)\\1", "(?=a)b", "(unclosed"])
def test_a_regex_re2_cannot_run_is_a_clear_error(ws, pattern):
    result = ToolSet(builtin_tools(ws)).run_sync("search_files", {"text": pattern, "regex": True})
    assert not result.ok and "not a valid regular expression" in result.output and "regex=false" in result.output


def test_shell_and_python_need_approval_and_run_in_the_workspace(ws):
    ts = ToolSet(builtin_tools(ws))
    denied = ts.run_sync("run_shell", {"command": "touch pwned"}, deny_all)
    assert not denied.ok and "did not approve" in denied.output and not (ws.root / "pwned").exists()
    assert ts.run_sync("run_shell", {"command": "pwd"}, allow_all).output.strip() == str(ws.root)
    out = ts.run_sync("run_python", {"code": "import os; print(sorted(os.listdir('.'))[-1], 6*7)"}, allow_all)
    assert out.output.strip() == "sub 42"
    failed = ts.run_sync("run_shell", {"command": "echo oops >&2; exit 3"}, allow_all)
    assert "oops" in failed.output and "[exit code 3]" in failed.output


def test_shell_command_that_hangs_is_killed(ws):
    from harness.tools.process import process_tools

    ts = ToolSet(process_tools(ws, timeout_s=0.5))
    started = time.perf_counter()
    result = ts.run_sync("run_shell", {"command": "echo started; sleep 600"}, allow_all)
    assert time.perf_counter() - started < 5
    assert "started" in result.output and "killed: still running after 0.5 s" in result.output


@pytest.mark.parametrize(("name", "arguments"), [
    ("run_shell", {"command": "env"}),
    ("run_python", {"code": "import os\nfor k, v in os.environ.items(): print(f'{k}={v}')"}),
])
def test_processes_get_a_minimal_environment(ws, monkeypatch, name, arguments):
    for secret in ("HARNESS_API_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "SOME_UNLISTED_VAR"):
        monkeypatch.setenv(secret, "hunter2")
    output = ToolSet(builtin_tools(ws)).run_sync(name, arguments, allow_all).output
    assert "hunter2" not in output and "PATH=" in output


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    os.kill(pid, 9)  # clean up after a failing run
    return False


@pytest.mark.timeout(60)
@pytest.mark.parametrize("then", ["", "sleep 600"])  # the command ends / runs into the timeout
def test_no_process_outlives_the_call_not_even_after_setsid(ws, then):
    from harness.tools.process import process_tools

    escape = ("setsid sh -c 'echo $$ > escaped.pid; exec sleep 300' > /dev/null 2>&1 < /dev/null & "
              "while [ ! -s escaped.pid ]; do sleep 0.05; done; " + then)
    ToolSet(process_tools(ws, timeout_s=3)).run_sync("run_shell", {"command": escape}, allow_all)
    assert _gone(int((ws.root / "escaped.pid").read_text()))


@pytest.mark.timeout(60)
def test_a_background_child_holding_the_output_pipe_does_not_hold_the_call(ws):
    from harness.tools.process import process_tools

    result = ToolSet(process_tools(ws, timeout_s=30)).run_sync("run_shell", {"command": "sleep 300 & echo done"},
                                                              allow_all)
    assert result.output.strip() == "done"  # not the 30 s timeout


def test_tool_processes_and_their_children_run_at_lower_priority(ws):
    # A busy tool must not take a core from the model server's threads (README, speed section).
    from harness.tools.process import TOOL_NICENESS

    own = os.nice(0)
    command = "cut -d' ' -f19 /proc/self/stat; sh -c \"cut -d' ' -f19 /proc/self/stat\""
    result = ToolSet(builtin_tools(ws)).run_sync("run_shell", {"command": command}, allow_all)
    niceness = min(own + TOOL_NICENESS, 19)
    assert result.output.split() == [str(niceness)] * 2
    if Path("/proc/self/autogroup").exists():
        # Its own session is its own autogroup, which competes as a whole unless niced too.
        group = ToolSet(builtin_tools(ws)).run_sync("run_shell", {"command": "cat /proc/self/autogroup"}, allow_all)
        assert group.output.split()[-2:] == ["nice", str(niceness)]


def test_a_started_tool_process_is_stopped_with_everything_it_started(ws):
    from harness.tools.process import start_process, stop_process

    proc = start_process(["bash", "-c", "sleep 300 & echo $! > child.pid; wait"], str(ws.root))
    for _ in range(200):
        if (ws.root / "child.pid").exists() and (ws.root / "child.pid").read_text().strip():
            break
        time.sleep(0.05)
    stop_process(proc)
    assert proc.returncode is not None
    time.sleep(0.2)  # the reaper's sweep has run before it exits; give /proc a moment
    assert _gone(int((ws.root / "child.pid").read_text()))


def test_shell_printing_10_mb_is_capped(ws):
    result = ToolSet(builtin_tools(ws)).run_sync("run_shell", {"command": "head -c 10485760 /dev/zero | tr '\\0' a"},
                                                 allow_all)
    assert result.truncated and "10,485,760 characters" in result.output


def test_now():
    out = ToolSet(builtin_tools(".")).run_sync("now", {}).output
    assert out[:4].isdigit() and "T" in out


def test_rendered_system_prompt_has_every_tool_in_stable_order():
    ts = ToolSet([plot, get_weather])
    system = render_system("Be helpful.", ts)
    assert system.index('"name":"get_weather"') < system.index('"name":"plot"')
    assert "<tools>" in system and "<tool_call>" in system
    assert render_system("Be helpful.", ToolSet([get_weather, plot])) == system
    assert "[TOOL_CALLS]" in render_system("x", ts, "mistral")


def test_tool_results_go_back_as_a_user_turn():
    result = ToolSet([get_weather]).run_sync("get_weather", {"city": "Oslo"})
    (msg,) = tool_results_message([result])
    assert msg["role"] == "user" and "Tool result for get_weather" in msg["content"]
    assert tool_results_message([result], role="tool")[0]["role"] == "tool"


def test_action_schema_admits_exactly_valid_calls_and_a_final_answer():
    ts = ToolSet([get_weather, plot])
    schema = action_schema(ts)
    jsonschema.validate({"name": "get_weather", "arguments": {"city": "Oslo"}}, schema)
    jsonschema.validate({"name": "plot", "arguments": {"points": [{"x": 1}]}}, schema)
    jsonschema.validate({"name": "final_answer", "arguments": {"answer": "42"}}, schema)
    for bad in ({"name": "get_weather", "arguments": {}}, {"name": "nope", "arguments": {}},
                {"name": "plot", "arguments": {"points": [{"x": 1, "z": 2}]}}, {"answer": "x"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    # Whatever the schema admits, the parser reads back as exactly that call.
    call = parse_tool_calls('{"name":"get_weather","arguments":{"city":"Oslo"}}').calls[0]
    assert (call.name, call.arguments) == ("get_weather", {"city": "Oslo"})
