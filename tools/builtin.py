"""The built-in tools, bound to a workspace."""

from __future__ import annotations

import datetime as dt
import os

from harness.tools.files import file_tools
from harness.tools.process import process_tools
from harness.tools.tool import Tool, tool
from harness.tools.workspace import Workspace


@tool
def now() -> str:
    """The current local date and time (ISO 8601, with the UTC offset)."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def builtin_tools(workspace: str | os.PathLike[str] | Workspace = ".") -> list[Tool]:
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    return [*file_tools(ws), *process_tools(ws), now]
