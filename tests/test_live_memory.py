"""Prefix discipline on the real server: each prompt extends the last, across a resume too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.agent import Agent
from harness.memory import MemoryStore
from harness.bench import get_weather
from harness.client import AsyncClient, Client

pytestmark = pytest.mark.live


# On the default model: tried on SmolLM2, whose replies under the action grammar all ran to
# max_tokens, this conversation passed the 900 s timeout.
def test_every_prompt_extends_the_previous_prompt_plus_reply(live_server, tmp_path):
    db = str(tmp_path / "m.db")
    agent = Agent(client=AsyncClient(live_server.base_url), tools=[get_weather], memory=MemoryStore(db))
    agent.run("What's the weather in Oslo?")
    agent.run("And in Lima?")
    resumed = Agent(client=AsyncClient(live_server.base_url), tools=[get_weather], memory=MemoryStore(db),
                    session=agent.session_id)
    resumed.run("Thanks!")
    records = [(agent.messages[: t.prompt_messages], t.raw_text) for t in agent.turns]
    records += [(resumed.messages[: t.prompt_messages], t.raw_text) for t in resumed.turns]
    assert len(records) >= 4
    with Client(base_url=live_server.base_url) as client:
        for (prev, reply), (nxt, _) in zip(records, records[1:]):
            before = client.tokenize(messages=[*prev, {"role": "assistant", "content": reply}],
                                     add_generation_prompt=False)
            after = client.tokenize(messages=nxt)
            assert after[: len(before)] == before


# On the default model: SmolLM2 never answers under the action grammar, so every reply of the
# episode would run to max_tokens (223 s of a 480 s suite).
def test_bench_prefix_json_reports_near_ideal_reuse(live_server):
    out = subprocess.run([sys.executable, "-m", "harness.cli", "bench", "prefix", "--json", "--turns", "2",
                          "--sessions", "1", "--base-url", live_server.base_url],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {"turns", "cached_tokens", "ideal_tokens", "ratio", "ttft_first_s", "ttft_last_s", "ttft_ratio"} <= report.keys()
    assert any(t["phase"] == "resumed (new process)" for t in report["turns"])
    assert report["ratio"] >= 0.98
