"""Run one command so that nothing it starts outlives it: ``python subreaper.py [--nice N] ARGV...``.

This file is run by path (standard library only). It makes itself a child subreaper (Linux
``prctl(PR_SET_CHILD_SUBREAPER)``), so every process the command starts stays its descendant
even after ``setsid`` or a double fork: orphans reparent to it, not to init. When the command
exits, or when this process gets SIGTERM/SIGINT/SIGHUP (the caller's timeout), it kills every
descendant and reaps them, then exits with the command's status. Where prctl is missing (not
Linux) it still kills what it can find by parent id. ``--nice N`` lowers the priority of the
command and everything it starts by N before it runs (inherited, so a child cannot escape it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
MAX_SWEEPS = 200  # a fork bomb cannot keep the sweep going forever


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """Every live or zombie descendant of ``root``, read from /proc (parents before children)."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # The command name is in parentheses and may hold anything: the fields follow the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def reap() -> None:
    """Collect every exited child (orphans reparented here become ours to wait for)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sweep() -> None:
    """Kill and reap every descendant, again and again until none is left."""
    me = os.getpid()
    for _ in range(MAX_SWEEPS):
        pids = descendants(me)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reap()
        time.sleep(0.01)  # let the killed die and their orphans reparent here


def lower_priority(increment: str) -> None:
    """Lower this process's priority, and its session's: with autogroup scheduling (most Linux
    desktops and servers) a process in a session of its own, as this one is, competes as a group
    with every other session, whatever its nice value, until the group's own nice is set too."""
    try:
        niceness = os.nice(int(increment))
    except (ValueError, OSError):
        return  # a priority we cannot lower to is no reason not to run the command
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(niceness))
    except OSError:
        pass  # no autogroups here (or not Linux): the nice value alone decides


def main(argv: list[str]) -> int:
    if argv[:1] == ["--nice"] and len(argv) >= 2:
        lower_priority(argv[1])
        argv = argv[2:]
    if not argv:
        print("usage: subreaper.py [--nice N] COMMAND [ARGS...]", file=sys.stderr)
        return 2
    become_subreaper()

    def on_signal(signum: int, _frame: object) -> None:
        sweep()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        child = subprocess.Popen(argv)
    except OSError as exc:
        print(f"cannot run {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    code = child.wait()
    sweep()  # what the command left running in the background ends with it
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
