"""Print a compact tree of a folder with file sizes, skipping caches and virtual environments."""

import os
import sys

SKIP = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".hypothesis"}
MAX_ENTRIES = 200


def human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def main(root: str) -> None:
    shown = 0
    root = os.path.abspath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP)
        depth = os.path.relpath(dirpath, root).count(os.sep) + (dirpath != root)
        print("  " * depth + (os.path.basename(dirpath) or dirpath) + "/")
        for name in sorted(filenames):
            size = os.path.getsize(os.path.join(dirpath, name))
            print("  " * (depth + 1) + f"{name}  ({human(size)})")
            shown += 1
            if shown >= MAX_ENTRIES:
                print(f"... stopped after {MAX_ENTRIES} files")
                return


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
