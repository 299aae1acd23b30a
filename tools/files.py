"""File tools, confined to a workspace: read, write, edit, list, search.

Every file is opened through ``Workspace.open_file`` / ``open_dir`` (no window between the check
and the open, symlinks resolved inside the root or refused, regular files only), and every read
is capped, so a link to a huge or endless file cannot exhaust memory.
"""

from __future__ import annotations

import fnmatch
import os
import stat

import re2

from harness.tools.tool import Tool, tool
from harness.tools.workspace import Workspace

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache"}
MAX_READ_BYTES = 8 * 1024 * 1024  # read_file and edit_file: the first 8 MiB of a file at most
MAX_SEARCH_FILE_BYTES = 1024 * 1024  # search_files reads the first 1 MiB of each file...
MAX_SEARCH_TOTAL_BYTES = 32 * 1024 * 1024  # ...and 32 MiB in all
MAX_SEARCH_ENTRIES = 100_000  # names looked at in one search
MAX_PATTERN_CHARS = 1000
SHOWN_LINE_CHARS = 200
REGEX_SIGNS = "\\^$*+?[]{}|"  # in a literal search that found nothing, the model may have meant a regex


def read_capped(fd: int, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes from ``fd`` (closed afterwards), and whether the file had more."""
    chunks: list[bytes] = []
    left = limit + 1
    try:
        while left > 0:
            chunk = os.read(fd, min(left, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data[:limit], len(data) > limit


def write_all(fd: int, data: bytes) -> None:
    """Replace the whole content of the open file ``fd`` with ``data`` (and close it)."""
    try:
        os.ftruncate(fd, 0)
        view = memoryview(data)
        offset = 0
        while offset < len(view):
            offset += os.pwrite(fd, view[offset:], offset)
    finally:
        os.close(fd)


def line_matcher(text: str, regex: bool) -> "re2._Regexp | str":
    """What search_files looks for: a case-folded literal, or an RE2 pattern (linear time)."""
    if len(text) > MAX_PATTERN_CHARS:
        raise ValueError(f"the search text is {len(text):,} characters; the limit is {MAX_PATTERN_CHARS:,}")
    if not regex:
        return text.casefold()
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"text is not a valid regular expression ({detail}); RE2 syntax has no backreferences "
                         "or lookaround. Search for it literally with regex=false.") from None


def file_tools(ws: Workspace) -> list[Tool]:
    @tool
    def read_file(path: str, start_line: int = 1, max_lines: int = 400) -> str:
        """Read a text file in the workspace, with line numbers.

        Args:
            path: file path relative to the workspace root
            start_line: first line to show (1-based)
            max_lines: how many lines to show at most
        """
        fd, _ = ws.open_file(path)
        data, cut = read_capped(fd, MAX_READ_BYTES)
        lines = data.decode("utf-8", errors="replace").splitlines()
        first = max(start_line, 1)
        chunk = lines[first - 1: first - 1 + max(max_lines, 0)]
        numbered = "\n".join(f"{i:>5}  {line}" for i, line in enumerate(chunk, start=first))
        more = len(lines) - (first - 1 + len(chunk))
        note = f"\n[{more} more lines; read on with start_line]" if more > 0 else ""
        if cut:
            note += f"\n[only the first {MAX_READ_BYTES:,} bytes of this file were read]"
        return numbered + note

    @tool(needs_approval=True)
    def write_file(path: str, content: str) -> str:
        """Create or overwrite a text file in the workspace.

        Args:
            path: file path relative to the workspace root
            content: the whole new content of the file
        """
        data = content.encode("utf-8")
        fd, rel = ws.open_file(path, write=True, create=True)
        write_all(fd, data)
        return f"wrote {len(data)} bytes to {rel}"

    @tool(needs_approval=True)
    def edit_file(path: str, old: str, new: str) -> str:
        """Replace one exact occurrence of a piece of text in a file.

        Args:
            path: file path relative to the workspace root
            old: the exact text to replace; it must occur exactly once
            new: the replacement text
        """
        fd, rel = ws.open_file(path, write=True)
        dup = os.dup(fd)
        try:
            data, cut = read_capped(fd, MAX_READ_BYTES)
            if cut:
                raise ValueError(f"{path} is larger than {MAX_READ_BYTES:,} bytes; it is too large to edit here")
            text = data.decode("utf-8")
            count = text.count(old)
            if count != 1:
                raise ValueError(f"the text to replace occurs {count} times in {path}; it must occur exactly once")
        except BaseException:
            os.close(dup)
            raise
        write_all(dup, text.replace(old, new, 1).encode("utf-8"))
        return f"edited {rel}"

    @tool
    def list_dir(path: str = ".") -> str:
        """List a directory in the workspace (directories end with '/', symlinks show their target).

        Args:
            path: directory relative to the workspace root
        """
        fd, _ = ws.open_dir(path)
        try:
            shown: list[tuple[bool, str]] = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        # Named, never followed: its target is only text here.
                        shown.append((True, f"{entry.name} -> {os.readlink(entry.name, dir_fd=fd)}"))
                    else:
                        is_dir = entry.is_dir(follow_symlinks=False)
                        shown.append((not is_dir, entry.name + ("/" if is_dir else "")))
        finally:
            os.close(fd)
        return "\n".join(name for _, name in sorted(shown)) or "(empty)"

    @tool
    def search_files(pattern: str = "*", text: str | None = None, path: str = ".", max_results: int = 100,
                     regex: bool = False) -> str:
        """Find files by glob pattern, optionally only those containing a text.

        Symlinks are never followed (their targets inside the workspace are found under their own
        names); only the first MiB of each file is searched.

        Args:
            pattern: glob matched against file names, e.g. '*.py'
            text: text to search for inside the files (case-insensitive)
            path: directory to search, relative to the workspace root
            max_results: stop after this many matches
            regex: treat text as a regular expression (RE2 syntax: no backreferences or lookaround)
        """
        if len(pattern) > MAX_PATTERN_CHARS:
            raise ValueError(f"the pattern is {len(pattern):,} characters; the limit is {MAX_PATTERN_CHARS:,}")
        matcher = line_matcher(text, regex) if text else None
        root_fd, root_rel = ws.open_dir(path)
        hits: list[str] = []
        notes: list[str] = []
        seen = read_total = cut_files = 0
        try:
            for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=root_fd):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
                for name in sorted(filenames):
                    seen += 1
                    if seen > MAX_SEARCH_ENTRIES:
                        notes.append(f"[stopped after looking at {MAX_SEARCH_ENTRIES:,} files; narrow path or pattern]")
                        return _report(hits, notes)
                    if not fnmatch.fnmatch(name, pattern):
                        continue
                    rel = os.path.normpath(os.path.join(root_rel, dirpath, name))
                    if matcher is None:
                        hits.append(rel)
                    else:
                        if read_total >= MAX_SEARCH_TOTAL_BYTES:
                            notes.append(f"[stopped after reading {MAX_SEARCH_TOTAL_BYTES:,} bytes; narrow path "
                                         "or pattern]")
                            return _report(hits, notes)
                        data, cut = _read_regular_at(dir_fd, name, min(MAX_SEARCH_FILE_BYTES,
                                                                       MAX_SEARCH_TOTAL_BYTES - read_total))
                        read_total += len(data)
                        cut_files += cut
                        for n, line in enumerate(data.decode("utf-8", errors="ignore").splitlines(), 1):
                            found = matcher in line.casefold() if isinstance(matcher, str) else matcher.search(line)
                            if found:
                                hits.append(f"{rel}:{n}: {line.strip()[:SHOWN_LINE_CHARS]}")
                                if len(hits) >= max_results:
                                    break
                    if len(hits) >= max_results:
                        notes.append(f"[stopped at {max_results} results]")
                        return _report(hits, notes)
        finally:
            os.close(root_fd)
        if cut_files:
            notes.append(f"[{cut_files} files are larger than {MAX_SEARCH_FILE_BYTES:,} bytes: only their start "
                         "was searched]")
        if not hits and text and not regex and any(c in text for c in REGEX_SIGNS):
            notes.append("[text is searched literally; for a regular expression pass regex=true]")
        return _report(hits, notes)

    return [read_file, write_file, edit_file, list_dir, search_files]


def _read_regular_at(dir_fd: int, name: str, limit: int) -> tuple[bytes, bool]:
    """The start of ``name`` in ``dir_fd`` if it is a regular file (never through a symlink)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError:
        return b"", False  # a symlink, unreadable, or gone meanwhile
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:  # a FIFO or device would block or never end
        os.close(fd)
        return b"", False
    try:
        return read_capped(fd, limit)
    except OSError:
        return b"", False


def _report(hits: list[str], notes: list[str]) -> str:
    return "\n".join(hits + notes) if hits else "\n".join(["no matches", *notes])
