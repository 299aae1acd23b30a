"""Tools: typed Python functions the model can call, and the built-in ones."""

from tools.builtin import builtin_tools
from tools.tool import Tool, canonical_json, tool
from tools.toolset import Approve, ToolResult, ToolSet, allow_all, deny_all
from tools.workspace import PathEscape, Workspace

__all__ = ["Approve", "PathEscape", "Tool", "ToolResult", "ToolSet", "Workspace", "allow_all", "builtin_tools",
           "canonical_json", "deny_all", "tool"]
