"""An agent from ``Settings``: the one way the CLI (`harness run`, `harness chat`), the REPL's
/new and /resume, and scripts turn settings into a client, a store, tools, skills and MCP servers.

    from harness.build import build_agent
    from harness.config import Settings

    with build_agent(Settings.load(model="qwen2.5-coder-0.5b", tools="all")) as agent:
        print(agent.run("What is in README.md?").text)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from harness.config import Settings
from harness.errors import HarnessError
from harness.memory_tools import MEMORY_TOOLS, READ_ONLY_MEMORY_TOOLS

if TYPE_CHECKING:
    from harness.agent import Agent
    from harness.mcp import MCPServer, MCPServerSettings
    from harness.memory import MemoryStore
    from harness.skill_trust import ProjectSkills

AskTrust = Callable[["ProjectSkills"], bool]

READ_ONLY_TOOLS = ("read_file", "list_dir", "search_files", "now", *READ_ONLY_MEMORY_TOOLS)


def build_agent(settings: Settings, *, session: str | None = None, no_memory: bool = False,
                ask_trust: AskTrust | None = None, mcp_names: tuple[str, ...] = (),
                no_mcp: bool = False) -> "Agent":
    """The agent ``settings`` describe. ``ask_trust(project) -> bool`` asks the user whether to trust
    the project's own skills and .mcp.json; without it (``harness run``, scripts) untrusted ones are
    skipped with a warning. Approval is ``allow_all`` with ``settings.yes``, else ``deny_all`` (which the
    REPL replaces with asking the person at the terminal)."""
    from harness.agent import Agent
    from harness.client import AsyncClient
    from harness.skills import default_skill_paths, load_skills
    from harness.tools import Workspace, allow_all, builtin_tools, deny_all

    try:
        ws = Workspace(settings.workspace)
    except NotADirectoryError as exc:
        raise HarnessError(str(exc), hint="pass an existing directory with --workspace") from exc
    if settings.yes:
        warn("--yes approves every write, shell command and code run without asking")
    available = builtin_tools(ws)
    # Fewer tools by default: every extra tool is a chance for a small model to pick the wrong one.
    wanted = chosen_tools(settings.tools, [t.name for t in available] + list(MEMORY_TOOLS))
    # MCP tools come on top of --tools: choosing a server (--mcp) is choosing its tools.
    mcp_tools = [t for server in start_mcp_servers(settings, mcp_names, no_mcp, ask_trust) for t in server.tools()]
    skills_dirs = tuple(settings.skills)
    skills = load_skills(default_skill_paths(list(skills_dirs), project=project_skills_allowed(skills_dirs,
                                                                                               ask_trust)))
    client = AsyncClient(settings.base_url, settings.model, settings.api_key, settings.timeout_s)
    store = None if no_memory else open_store(settings)
    try:
        return Agent(tools=[t for t in available if t.name in wanted] + mcp_tools, client=client, skills=skills,
                     memory=store, session=session,
                     memory_tool_names=[n for n in MEMORY_TOOLS if n in wanted], constrained=settings.constrained,
                     approve=allow_all if settings.yes else deny_all, max_steps=settings.max_steps, workspace=ws)
    except BaseException:  # e.g. /resume with an unknown session: nothing is left open behind the error
        if store is not None:
            store.close()
        raise


def open_store(settings: Settings) -> "MemoryStore":
    """The memory database the settings name (its errors as HarnessError, for the CLI's message)."""
    from harness.memory import MemoryStore, StoreError

    try:
        return MemoryStore(settings.memory_path())
    except StoreError as exc:
        raise HarnessError(exc.message, exc.hint) from exc


def warn(text: str) -> None:
    click.secho(f"warning: {text}", fg="yellow", err=True)


def printable(text: str) -> str:
    """Text from a file someone else wrote, with what a terminal would act on (escape sequences,
    carriage returns, bidi overrides) shown as Python escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def chosen_tools(tool_set: str, available: list[str]) -> set[str]:
    """The tool names ``--tools`` asks for: read, all, or a comma list (unknown names are an error)."""
    wanted = set(available) if tool_set == "all" else set(READ_ONLY_TOOLS) if tool_set == "read" else \
        {n.strip() for n in tool_set.split(",") if n.strip()}
    unknown = wanted - set(available)
    if unknown:
        raise HarnessError(f"unknown tools: {', '.join(sorted(unknown))}",
                           hint=f"choose from: {', '.join(available)}")
    return wanted


def project_skills_allowed(skills_dirs: tuple[str, ...], ask_trust: AskTrust | None = None) -> bool:
    """Whether ./.harness/skills may enter the prompt: trusted before, or trusted now when asked."""
    from harness.skill_trust import is_trusted, project_skills, shown_names, trust
    from harness.skills import default_skill_paths, resolved_path

    project = project_skills()
    if project is None:
        return False
    named = {resolved_path(p.expanduser()) for p, _ in default_skill_paths(list(skills_dirs), project=False)}
    if project.folder in named:  # named with --skills or HARNESS_SKILLS, or it is ~/.harness/skills itself
        return False
    if is_trusted(project):
        return True
    if ask_trust is not None and ask_trust(project):
        try:
            trust(project)
        except OSError as exc:
            warn(f"could not remember the trust ({exc.strerror or exc}); you will be asked again")
        return True
    warn(f"skipped the untrusted project skills in {printable(str(project.folder))} ({shown_names(project)}); "
         "to use them, trust the folder: harness skills trust")
    return False


_MCP_STARTED: dict[str, "MCPServer"] = {}  # one process per server per CLI run: /new rebuilds only the agent


def started_mcp_servers() -> list["MCPServer"]:
    return list(_MCP_STARTED.values())


def configured_mcp_servers(settings: Settings, ask_trust: AskTrust | None = None) -> dict[str, "MCPServerSettings"]:
    """``[mcp_servers.*]`` from the settings, then ./.mcp.json's servers if the user trusts that file
    (it runs commands: trusted like project skills, by its path and a hash of its bytes)."""
    from harness.mcp import MCPError, project_servers
    from harness.skill_trust import ProjectSkills, is_trusted, trust

    servers = dict(settings.mcp_servers)
    try:
        project = project_servers()
    except MCPError as exc:
        warn(f"{exc}; its servers are skipped")
        return servers
    if project is None:
        return servers
    key = ProjectSkills(folder=project.path, names=tuple(sorted(project.servers)), digest=project.digest)
    if not is_trusted(key):
        if ask_trust is None or not ask_trust(key):
            warn(f"skipped the untrusted MCP servers of {printable(str(project.path))} "
                 f"({', '.join(printable(n) for n in sorted(project.servers))}); to use them, trust the "
                 "file: harness mcp trust")
            return servers
        try:
            trust(key)
        except OSError as exc:
            warn(f"could not remember the trust ({exc.strerror or exc})")
    # The user's own configuration wins over a project's server of the same name.
    return {**project.servers, **servers}


def start_mcp_servers(settings: Settings, mcp_names: tuple[str, ...] = (), no_mcp: bool = False,
                      ask_trust: AskTrust | None = None) -> list["MCPServer"]:
    """The MCP servers an agent gets (started once per run); a failed one is a warning with its stderr tail."""
    from harness.mcp import MCPServer

    if no_mcp:
        return []
    configured = configured_mcp_servers(settings, ask_trust)
    unknown = sorted(set(mcp_names) - set(configured))
    if unknown:
        raise HarnessError(f"unknown MCP servers: {', '.join(unknown)}",
                           hint=f"configured: {', '.join(sorted(configured)) or 'none'} "
                                "([mcp_servers.NAME] in config.toml, or ./.mcp.json)")
    started = []
    for name in sorted(mcp_names or configured):
        if name not in _MCP_STARTED:
            server = _MCP_STARTED[name] = MCPServer(name, configured[name]).start()
            if server.status != "running":
                warn(str(server.error))
        started.append(_MCP_STARTED[name])
    return started
