"""Tools: typed Python functions the model can call, and the built-in ones."""

from harness.tools.builtin import builtin_tools
from harness.tools.tool import Tool, canonical_json, tool
from harness.tools.toolset import Approve, ToolResult, ToolSet, allow_all, deny_all
from harness.tools.workspace import PathEscape, Workspace

__all__ = ["Approve", "PathEscape", "Tool", "ToolResult", "ToolSet", "Workspace", "allow_all", "builtin_tools",
           "canonical_json", "deny_all", "tool"]
