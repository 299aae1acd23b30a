"""How the distribution installs: tools/ and memory/ as harness.tools and harness.memory only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_no_top_level_tools_or_memory_package(tmp_path):
    # Run outside the checkout, so only what is installed can be found.
    code = ("import importlib.util as u, harness.tools, harness.memory; "
            "print(u.find_spec('tools'), u.find_spec('memory'), harness.memory.MemoryStore.__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "None", "MemoryStore"]


@pytest.mark.parametrize("folder,own", [("memory", "harness.memory"), ("tools", "harness.tools")])
def test_library_folders_import_nothing_from_the_rest_of_harness(folder, own):
    for path in sorted((ROOT / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                assert not (name.startswith("harness") and not name.startswith(own)), f"{path.name} imports {name}"


def test_store_error_does_not_shadow_the_builtin():
    import harness.memory as memory
    assert not hasattr(memory, "MemoryError")
    assert issubclass(memory.DatabaseCorrupt, memory.StoreError)
