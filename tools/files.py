"""File tools, confined to a workspace: read, write, edit, list, search."""

from __future__ import annotations

import fnmatch
import os
import re

from tools.tool import Tool, tool
from tools.workspace import Workspace

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache"}


def file_tools(ws: Workspace) -> list[Tool]:
    @tool
    def read_file(path: str, start_line: int = 1, max_lines: int = 400) -> str:
        """Read a text file in the workspace, with line numbers.

        Args:
            path: file path relative to the workspace root
            start_line: first line to show (1-based)
            max_lines: how many lines to show at most
        """
        target = ws.resolve(path)
        if not target.is_file():
            raise FileNotFoundError(f"{path} is not a file")
        with target.open(encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        chunk = lines[max(start_line, 1) - 1: max(start_line, 1) - 1 + max_lines]
        numbered = "\n".join(f"{i:>5}  {line}" for i, line in enumerate(chunk, start=max(start_line, 1)))
        more = len(lines) - (max(start_line, 1) - 1 + len(chunk))
        return numbered + (f"\n[{more} more lines; read on with start_line]" if more > 0 else "")

    @tool(needs_approval=True)
    def write_file(path: str, content: str) -> str:
        """Create or overwrite a text file in the workspace.

        Args:
            path: file path relative to the workspace root
            content: the whole new content of the file
        """
        target = ws.resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return f"wrote {len(content.encode())} bytes to {ws.relative(target)}"

    @tool(needs_approval=True)
    def edit_file(path: str, old: str, new: str) -> str:
        """Replace one exact occurrence of a piece of text in a file.

        Args:
            path: file path relative to the workspace root
            old: the exact text to replace; it must occur exactly once
            new: the replacement text
        """
        target = ws.resolve(path)
        text = target.read_text(encoding="utf-8")
        count = text.count(old)
        if count != 1:
            raise ValueError(f"the text to replace occurs {count} times in {path}; it must occur exactly once")
        target.write_text(text.replace(old, new, 1), encoding="utf-8")
        return f"edited {ws.relative(target)}"

    @tool
    def list_dir(path: str = ".") -> str:
        """List a directory in the workspace (directories end with '/').

        Args:
            path: directory relative to the workspace root
        """
        target = ws.resolve(path)
        entries = sorted(target.iterdir(), key=lambda p: (not p.is_dir(), p.name))
        return "\n".join(p.name + ("/" if p.is_dir() else "") for p in entries) or "(empty)"

    @tool
    def search_files(pattern: str = "*", text: str | None = None, path: str = ".", max_results: int = 100) -> str:
        """Find files by glob pattern, optionally only those containing a text or regex.

        Args:
            pattern: glob matched against file names, e.g. '*.py'
            text: a regular expression to search for inside the files (case-insensitive)
            path: directory to search, relative to the workspace root
            max_results: stop after this many matches
        """
        root = ws.resolve(path)
        regex = re.compile(text, re.IGNORECASE) if text else None
        hits: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                if not fnmatch.fnmatch(name, pattern):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, ws.root)
                if regex is None:
                    hits.append(rel)
                else:
                    try:
                        with open(full, encoding="utf-8", errors="ignore") as f:
                            for n, line in enumerate(f, 1):
                                if regex.search(line):
                                    hits.append(f"{rel}:{n}: {line.strip()[:200]}")
                                    if len(hits) >= max_results:
                                        break
                    except OSError:
                        continue
                if len(hits) >= max_results:
                    return "\n".join(hits) + f"\n[stopped at {max_results} results]"
        return "\n".join(hits) or "no matches"

    return [read_file, write_file, edit_file, list_dir, search_files]
