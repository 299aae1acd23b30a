"""Many agents at once in one process against one server (vLLM batches them). Run a server
first (`harness serve --wait`), then:

    .venv/bin/python examples/many_agents.py notes/*.txt

Each file is read by its own agent with a read-only file tool, concurrently; the agents share
one system prompt, so its cached blocks serve them all.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from harness import Agent
from harness.tools import ToolSet, Workspace, builtin_tools


async def summarise(path: Path) -> str:
    workspace = Workspace(path.parent)
    read_only = ToolSet(t for t in builtin_tools(workspace) if t.name == "read_file")
    async with Agent(tools=read_only) as agent:
        result = await agent.arun(f"Read {path.name} and summarise it in one sentence.")
    return f"{path.name}: {result.text if result.ok else '(' + result.stop_reason + ')'}"


async def main(paths: list[Path]) -> None:
    started = time.perf_counter()
    for line in await asyncio.gather(*(summarise(p) for p in paths)):
        print(line)
    print(f"[{len(paths)} agents in {time.perf_counter() - started:.1f} s]")


if __name__ == "__main__":
    files = [Path(p).resolve() for p in sys.argv[1:]]
    if not files:
        sys.exit("usage: many_agents.py FILE...")
    asyncio.run(main(files))
