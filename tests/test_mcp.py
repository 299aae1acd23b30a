"""MCP servers as tools: the real mcp-server-time and mcp-server-git over stdio, and a scripted
MCPServer script for the failure cases (a slow tool, a tool that errors, a server that dies)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from harness.agent import Agent
from harness.client import AsyncClient
from harness.mcp import MCPError, MCPServer, MCPServerSettings, project_servers, render_result, tool_name
from harness.techniques import Techniques
from scripted import Reply, ScriptedServer
from harness.tools import ToolSet, allow_all, deny_all

pytestmark = pytest.mark.timeout(120)

SCRIPTED = textwrap.dedent('''
    import os, sys, time
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    app = MCPServer("scripted")

    @app.tool()
    def echo(text: str) -> str:
        """Say it back."""
        return text

    @app.tool()
    def slow(seconds: float) -> str:
        """Sleep, then say so."""
        time.sleep(seconds)
        return "slept"

    @app.tool()
    def fail(why: str) -> str:
        """Always fails (ToolError: the SDK hides other exceptions' messages)."""
        raise ToolError(why)

    @app.tool()
    def die() -> str:
        """Ends the server's process."""
        print("dying on purpose", file=sys.stderr, flush=True)
        os._exit(7)

    if sys.argv[1:2] == ["http"]:
        app.run("streamable-http", port=int(sys.argv[2]))
    else:
        app.run()
''')


@pytest.fixture(scope="module")
def scripted_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mcp") / "scripted_server.py"
    path.write_text(SCRIPTED)
    return path


@pytest.fixture
def scripted(scripted_path: Path) -> Iterator[MCPServer]:
    with MCPServer.stdio("scripted", sys.executable, [str(scripted_path)], timeout_s=5) as server:
        yield server


@pytest.fixture(scope="module")
def time_server() -> Iterator[MCPServer]:
    with MCPServer.stdio("time", sys.executable, ["-m", "mcp_server_time"]) as server:
        yield server


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MCPServer]:
    repo = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    with MCPServer.stdio("git", sys.executable, ["-m", "mcp_server_git", "--repository", str(repo)]) as server:
        yield server


def run(server: MCPServer, name: str, arguments: dict, approve=allow_all):  # type: ignore[no-untyped-def]
    return ToolSet(server.tools()).run_sync(name, arguments, approve)


# -- real servers -----------------------------------------------------------------------------

def test_time_server_tools_are_prefixed_sorted_and_keep_their_schemas(time_server: MCPServer) -> None:
    tools = time_server.tools()
    assert [(t.name, t.parameters["required"]) for t in tools] == [
        ("time__convert_time", ["source_timezone", "time", "target_timezone"]),
        ("time__get_current_time", ["timezone"]),
    ]


def test_time_server_call_returns_its_text(time_server: MCPServer) -> None:
    result = run(time_server, "time__get_current_time", {"timezone": "Asia/Tokyo"})
    assert (result.ok, json.loads(result.output)["timezone"]) == (True, "Asia/Tokyo")


def test_a_tool_error_is_an_error_result(time_server: MCPServer) -> None:
    result = run(time_server, "time__get_current_time", {"timezone": "Nowhere/Atlantis"})
    assert (result.ok, "Invalid timezone" in result.output) == (False, True)


def test_arguments_are_validated_against_the_servers_schema(time_server: MCPServer) -> None:
    result = run(time_server, "time__get_current_time", {})
    assert (result.ok, "timezone" in result.output) == (False, True)


def test_git_server_lists_and_runs_its_tools(git_server: MCPServer) -> None:
    names = [t.name for t in git_server.tools()]
    assert "git__git_status" in names and names == sorted(names)
    result = run(git_server, "git__git_status", {"repo_path": str(git_server.settings.args[-1])})
    assert (result.ok, "branch" in result.output.lower()) == (True, True)


def test_streamable_http_server_lists_and_runs_its_tools(scripted_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(scripted_path), "http", str(port)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # up to 10 s for the server to listen
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        with MCPServer.http("web", f"http://127.0.0.1:{port}/mcp", headers={"X-Test": "1"}) as server:
            assert run(server, "web__echo", {"text": "over http"}).output == "over http"
    finally:
        process.kill()
        process.wait()


# -- approval ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("trust", "approve", "ok"), [
    (False, deny_all, False),  # untrusted: asks, and a denial is a result for the model
    (False, allow_all, True),
    (True, deny_all, True),  # trusted: runs without asking
])
def test_approval_per_server(scripted_path: Path, trust: bool, approve, ok: bool) -> None:  # type: ignore[no-untyped-def]
    with MCPServer.stdio("s", sys.executable, [str(scripted_path)], trust=trust) as server:
        assert run(server, "s__echo", {"text": "hi"}, approve).ok is ok


# -- failures (scripted server) -----------------------------------------------------------------

def test_scripted_error_is_an_error_result_with_the_servers_message(scripted: MCPServer) -> None:
    result = run(scripted, "scripted__fail", {"why": "no disk"})
    assert (result.ok, "no disk" in result.output) == (False, True)


def test_a_call_past_its_timeout_is_an_error_result(scripted: MCPServer) -> None:
    scripted.settings.timeout_s = 1
    [slow] = [t for t in scripted.tools() if t.name == "scripted__slow"]
    result = ToolSet([slow]).run_sync(slow.name, {"seconds": 5}, allow_all)
    assert (result.ok, "1 s" in result.output) == (False, True)


def test_a_server_that_fails_to_start_reports_its_stderr_tail() -> None:
    code = "import sys; print('missing API key FOO', file=sys.stderr); sys.exit(3)"
    server = MCPServer.stdio("broken", sys.executable, ["-c", code]).start()
    assert (server.status, "missing API key FOO" in server.error, server.tools()) == ("failed", True, [])


def test_a_server_that_never_answers_fails_its_start_and_leaves_no_process() -> None:
    server = MCPServer.stdio("mute", sys.executable, ["-c", "import time; time.sleep(60)"]).start(timeout_s=1)
    left = [c for c in psutil.Process().children(recursive=True) if "time.sleep(60)" in " ".join(c.cmdline())]
    assert (server.status, "within 1 s" in server.error, left) == ("failed", True, [])


def test_a_missing_program_is_a_failed_server_not_an_exception() -> None:
    server = MCPServer.stdio("gone", "/no/such/program").start()
    assert (server.status, "No such file" in server.error) == ("failed", True)


def test_entering_a_server_that_fails_raises_its_error() -> None:
    with pytest.raises(MCPError, match="did not start"), MCPServer.stdio("x", "/no/such/program"):
        pass


def test_a_server_that_dies_mid_session_gives_clear_errors_and_its_tools_disappear(scripted: MCPServer) -> None:
    tools = ToolSet(scripted.tools())
    died = tools.run_sync("scripted__die", {}, allow_all)
    after = tools.run_sync("scripted__echo", {"text": "hi"}, allow_all)
    assert (died.ok, after.ok, "'scripted'" in after.output, "unavailable" in after.output,
            scripted.status, scripted.tools()) == (False, False, True, True, "failed", [])


def test_a_killed_server_process_is_reported(scripted: MCPServer) -> None:
    for child in psutil.Process().children(recursive=True):
        if any("scripted_server.py" in part for part in child.cmdline()):
            child.kill()
    result = run(scripted, "scripted__echo", {"text": "hi"})
    assert (result.ok, scripted.status) == (False, "failed")


def test_the_agent_goes_on_after_the_server_dies(scripted: MCPServer) -> None:
    call = '<tool_call>{"name": "scripted__die", "arguments": {}}</tool_call>'
    model = ScriptedServer([Reply(call), Reply("The tool is gone.")])
    agent = Agent(tools=scripted.tools(), client=model.client(), constrained=False, techniques=Techniques.none(),
                  approve=allow_all)
    result = agent.run("Use the die tool.")
    assert (result.ok, result.text, result.turns[0].results[0].ok) == (True, "The tool is gone.", False)


# -- names, results, configuration ------------------------------------------------------------

@pytest.mark.parametrize(("server", "tool", "expected"), [
    ("time", "get_current_time", "time__get_current_time"),
    ("my server", "do.it", "my_server__do_it_"),  # sanitised, then a hash suffix keeps it distinct
    ("9lives", "x", "_9lives__x_"),
    ("s", "t" * 100, "s__" + "t" * 52 + "_"),
])
def test_tool_names_are_valid_and_deterministic(server: str, tool: str, expected: str) -> None:
    name = tool_name(server, tool)
    assert name.startswith(expected) and len(name) <= 64 and name == tool_name(server, tool)


def test_names_that_sanitise_alike_stay_distinct() -> None:
    assert tool_name("a", "b.c") != tool_name("a", "b/c")


def test_images_are_rendered_as_a_note() -> None:
    from mcp.types import CallToolResult, ImageContent, TextContent

    result = CallToolResult(content=[TextContent(type="text", text="a chart:"),
                                     ImageContent(type="image", data="A" * 16000, mime_type="image/png")])
    assert render_result(result) == "a chart:\n[image/png, 12 kB]"


@pytest.mark.parametrize(("entry", "error"), [
    ({}, "either command"),
    ({"command": "x", "url": "http://h"}, "either command"),
    ({"command": "x", "timeout_s": 0}, "greater than 0"),
    ({"command": "x", "comand": "y"}, "Extra inputs"),
])
def test_bad_server_settings_are_named(entry: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        MCPServerSettings.model_validate(entry)


def test_config_file_servers_are_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.config import Settings
    from harness.errors import ConfigError

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text('[mcp_servers.t]\nargs = ["-m"]\n')
    with pytest.raises(ConfigError, match=r"mcp_servers\.t .*either command"):
        Settings.load()


def test_project_file_servers_never_trust_themselves(tmp_path: Path) -> None:
    (tmp_path / ".mcp.json").write_text(json.dumps(
        {"mcpServers": {"t": {"type": "stdio", "command": "x", "args": ["-y"], "trust": True}}}))
    project = project_servers(tmp_path)
    assert project is not None and (project.servers["t"].args, project.servers["t"].trust) == (["-y"], False)


def test_a_broken_project_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".mcp.json").write_text('{"servers": {}}')
    with pytest.raises(MCPError, match="mcpServers"):
        project_servers(tmp_path)


def test_cli_skips_an_untrusted_project_file_then_uses_it_once_trusted(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import build, cli

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".mcp.json").write_text(json.dumps(
        {"mcpServers": {"time": {"command": sys.executable, "args": ["-m", "mcp_server_time"]}}}))
    runner = CliRunner()
    before = json.loads(runner.invoke(cli.main, ["mcp", "list", "--json"]).output.splitlines()[-1])
    assert runner.invoke(cli.main, ["mcp", "trust"]).exit_code == 0
    build._MCP_STARTED.clear()
    after = json.loads(runner.invoke(cli.main, ["mcp", "list", "--json"]).output)
    build._MCP_STARTED.clear()
    assert (before, [(s["name"], s["status"], len(s["tools"])) for s in after]) == ([], [("time", "running", 2)])


def test_cli_unknown_mcp_name_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import cli

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.main, ["run", "--mcp", "nope", "--base-url", "http://127.0.0.1:9", "hi"])
    assert (result.exit_code, "unknown MCP servers: nope" in result.output) == (1, True)


# -- REPL -------------------------------------------------------------------------------------

def repl_output(command: str, servers: list[MCPServer]) -> str:
    from rich.console import Console

    from harness.repl import Repl

    console = Console(file=io.StringIO(), record=True, width=120, color_system=None)
    tools = [t for s in servers for t in s.tools()]
    repl = Repl(lambda session: Agent(client=AsyncClient("http://127.0.0.1:9"), tools=tools), console=console,
                mcp_servers=lambda: servers)
    repl.command(command)
    return console.export_text()


def test_repl_tools_lists_mcp_tools_as_asking_first(time_server: MCPServer) -> None:
    assert "time__get_current_time" in repl_output("/tools", [time_server])


def test_repl_mcp_shows_each_servers_status_and_stderr() -> None:
    code = "import sys; print('[bold]token expired', file=sys.stderr); sys.exit(1)"
    broken = MCPServer.stdio("broken", sys.executable, ["-c", code]).start()
    text = repl_output("/mcp", [broken])
    assert ("broken" in text, "failed" in text, "[bold]token expired" in text) == (True, True, True)


@pytest.mark.parametrize(("folder", "says"), [
    ("/p/.mcp.json", "starts MCP servers"),
    ("/p/.harness/skills", "brings its own skills"),
])
def test_trust_question_says_what_is_trusted(folder: str, says: str) -> None:
    from harness.repl import trust_question
    from harness.skill_trust import ProjectSkills

    assert says in trust_question(ProjectSkills(folder=Path(folder), names=("a",), digest="0")).plain


# -- live -------------------------------------------------------------------------------------

@pytest.mark.live
@pytest.mark.timeout(600)  # its setup may wait for the server to boot (tests run concurrently: see conftest)
def test_live_agent_calls_the_time_server(live_server, time_server: MCPServer) -> None:  # type: ignore[no-untyped-def]
    agent = Agent(client=AsyncClient(live_server.base_url), tools=time_server.tools(), approve=allow_all, max_steps=4)
    result = agent.run("What is the current time in the Europe/Paris timezone? Use the tool.")
    agent.close()
    calls = [(c.name, r.ok) for t in result.turns for c, r in zip(t.calls, t.results)]
    assert ("time__get_current_time", True) in calls
