"""Confinement of file access to one root directory."""

from __future__ import annotations

import os
from pathlib import Path


class PathEscape(ValueError):
    """A path that would leave the workspace."""


class Workspace:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"workspace {self.root} is not a directory")

    def resolve(self, path: str) -> Path:
        """The real path for ``path`` (relative to the root), refusing anything outside it.

        Refuses '..' components outright (even ones that would come back inside), absolute paths
        outside the root, and symlinks anywhere along the way that point outside.
        """
        if "\x00" in path:
            raise PathEscape("the path contains a NUL byte")
        candidate = Path(path)
        if ".." in candidate.parts:
            raise PathEscape(f"{path!r} uses '..'; paths must stay inside the workspace {self.root}")
        full = candidate if candidate.is_absolute() else self.root / candidate
        real = full.resolve()  # follows every symlink along the way
        if real != self.root and self.root not in real.parents:
            raise PathEscape(f"{path!r} is outside the workspace {self.root}")
        return real

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path != self.root else "."
