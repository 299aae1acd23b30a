"""Confinement of file access to one root directory.

Paths are resolved and opened in one walk, component by component, each opened relative to
the directory descriptor before it with ``O_NOFOLLOW``. The kernel never follows a symlink for
us: a symlink met anywhere is read and resolved inside the root, or refused. So a directory
swapped for a symlink between a check and an open cannot carry a read or write outside; there
is no separate check to race.

Limits, by nature of a path-based confinement:
- A hard link inside the root to a file outside it looks like any other file. Reads through it
  cannot be told apart; writes are refused for any file with more than one link.
- A directory that is *moved* out of the root while a walk holds its descriptor is still used
  for that one operation.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

MAX_SYMLINKS = 40  # as the kernel's own limit: a loop of links ends in a clear error
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not block; it is refused after fstat
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class PathEscape(ValueError):
    """A path that would leave the workspace."""


class NotRegularFile(OSError):
    """A path that names a device, FIFO or socket (or a directory where a file was wanted)."""


class Workspace:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"workspace {self.root} is not a directory")

    # --- names ----------------------------------------------------------------------------------

    def _parts(self, path: str) -> list[str]:
        """The path's components below the root, refusing NUL, '..' and absolute paths outside."""
        if "\x00" in path:
            raise PathEscape("the path contains a NUL byte")
        candidate = PurePosixPath(path)
        if ".." in candidate.parts:
            raise PathEscape(f"{path!r} uses '..'; paths must stay inside the workspace {self.root}")
        if candidate.is_absolute():
            try:
                candidate = candidate.relative_to(self.root)
            except ValueError:
                raise PathEscape(f"{path!r} is outside the workspace {self.root}") from None
        return [p for p in candidate.parts if p not in ("", ".")]

    def _follow(self, path: str, done: list[str], link: str, rest: list[str]) -> list[str]:
        """The components after replacing ``done[-1]`` (a symlink to ``link``) by its target."""
        target = PurePosixPath(link)
        parts = done[:-1]
        if target.is_absolute():
            try:
                target = target.relative_to(self.root)
            except ValueError:
                raise PathEscape(f"{path!r} leads through a symlink to {link}, outside the workspace "
                                 f"{self.root}") from None
            parts = []
        for part in target.parts:
            if part == "..":
                if not parts:
                    raise PathEscape(f"{path!r} leads through a symlink ({link}) out of the workspace {self.root}")
                parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        return parts + rest

    # --- the walk -------------------------------------------------------------------------------

    def _walk(self, path: str, *, create_dirs: bool = False) -> tuple[int, str | None, list[str]]:
        """(descriptor of the parent directory, final name or None for the root, components).

        Every directory on the way is opened with O_NOFOLLOW relative to the one before it; a
        symlink is resolved here, inside the root, and the walk starts again from the root.
        The caller owns the returned descriptor. The final component is not opened.
        """
        parts = self._parts(path)
        for _ in range(MAX_SYMLINKS + 1):
            fd = os.open(self.root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
            try:
                for i, name in enumerate(parts[:-1]):
                    next_fd = self._open_dir_at(fd, name, create_dirs)
                    os.close(fd)
                    fd = next_fd
            except _Symlink as link:
                os.close(fd)
                parts = self._follow(path, parts[:i + 1], link.target, parts[i + 1:])
                continue
            except BaseException:
                os.close(fd)
                raise
            return fd, (parts[-1] if parts else None), parts
        raise PathEscape(f"{path!r}: too many levels of symbolic links")

    @staticmethod
    def _open_dir_at(fd: int, name: str, create: bool) -> int:
        try:
            return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, dir_fd=fd)
            except FileExistsError:
                pass  # made meanwhile: the open below checks what it is
            return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                link = _readlink_at(fd, name)
                if link is not None:
                    raise _Symlink(link) from None
            raise

    def _open(self, path: str, flags: int, *, want_dir: bool, create_dirs: bool = False,
              mode: int = 0o666) -> tuple[int, list[str]]:
        """Open ``path`` inside the root; the final component too is opened with O_NOFOLLOW."""
        original = path
        try:
            return self._open_once(original, flags, want_dir=want_dir, create_dirs=create_dirs, mode=mode)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, f"{original!r} does not exist in the workspace "
                                    "(list_dir shows what is there)") from None
        except NotADirectoryError:
            raise NotADirectoryError(errno.ENOTDIR, f"{original!r} (or a folder on its way) is a file, "
                                     "not a directory") from None

    def _open_once(self, original: str, flags: int, *, want_dir: bool, create_dirs: bool,
                   mode: int) -> tuple[int, list[str]]:
        path = original
        for _ in range(MAX_SYMLINKS + 1):
            parent, name, parts = self._walk(path, create_dirs=create_dirs)
            try:
                if name is None:  # the root itself
                    if not want_dir:
                        raise NotRegularFile(errno.EISDIR, f"{original!r} is the workspace root, not a file")
                    return os.dup(parent), parts
                try:
                    extra = _DIRECTORY if want_dir else _NONBLOCK
                    return os.open(name, flags | extra | _NOFOLLOW | _CLOEXEC, mode, dir_fd=parent), parts
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise
                    link = _readlink_at(parent, name)
                    if link is None:
                        raise
                    path = "/".join(self._follow(original, parts, link, [])) or "."
            finally:
                os.close(parent)
        raise PathEscape(f"{original!r}: too many levels of symbolic links")

    # --- the API the tools use ----------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """The real path for ``path`` (relative to the root), refusing anything outside it.

        Refuses '..' components outright (even ones that would come back inside), absolute paths
        outside the root, and symlinks anywhere along the way that point outside. The answer is
        a name for messages: open files with ``open_file`` / ``open_dir``, which leave no window
        between the check and the open.
        """
        for _ in range(MAX_SYMLINKS + 1):
            parent, name, parts = self._walk(path)
            link = _readlink_at(parent, name) if name is not None else None
            os.close(parent)
            if link is None:
                return self.root.joinpath(*parts)
            path = "/".join(self._follow(path, parts, link, [])) or "."
        raise PathEscape(f"{path!r}: too many levels of symbolic links")

    def open_dir(self, path: str, *, create: bool = False) -> tuple[int, str]:
        """(descriptor, path relative to the root) of a directory inside the root."""
        fd, parts = self._open(path, os.O_RDONLY, want_dir=True, create_dirs=create)
        return fd, "/".join(parts) or "."

    def open_file(self, path: str, *, write: bool = False, create: bool = False) -> tuple[int, str]:
        """(descriptor, path relative to the root) of a regular file inside the root.

        Reads refuse anything but a regular file (a FIFO, a device). Writes (``write=True``,
        read-write) also refuse a file with more than one hard link: it may be a link to a file
        outside the workspace, which a path check cannot see. ``create`` makes the file and its
        missing parent folders.
        """
        flags = (os.O_RDWR | (os.O_CREAT if create else 0)) if write else os.O_RDONLY
        fd, parts = self._open(path, flags, want_dir=False, create_dirs=create)
        rel = "/".join(parts)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
                raise NotRegularFile(errno.EINVAL, f"{path!r} is {kind}")
            if write and info.st_nlink > 1:
                raise PathEscape(f"{path!r} has {info.st_nlink} hard links; it may be a link to a file outside "
                                 "the workspace, so it is not written (write a new file instead)")
            if _NONBLOCK:
                os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd, rel

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path != self.root else "."


class _Symlink(Exception):
    def __init__(self, target: str) -> None:
        self.target = target


def _readlink_at(fd: int, name: str) -> str | None:
    """The target of the symlink ``name`` in directory ``fd``, or None when it is not one."""
    try:
        return os.readlink(name, dir_fd=fd)
    except OSError:
        return None
