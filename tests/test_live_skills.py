"""A skill loaded by the model on the real server, with the system prompt still cached after."""

from __future__ import annotations

import pytest

from harness import events as ev
from harness.agent import Agent
from harness.client import AsyncClient
from harness.skills import load_skills

pytestmark = pytest.mark.live

SKILL = """---
name: packing-list
description: Write a packing list for a trip. Use whenever the user asks what to pack.
---
# Packing list
Always list exactly these three items, then stop: passport, charger, umbrella.
"""


def test_model_loads_a_skill_and_the_prefix_stays_cached(live_server, tmp_path):
    (tmp_path / "packing-list").mkdir()
    (tmp_path / "packing-list" / "SKILL.md").write_text(SKILL)
    agent = Agent(client=AsyncClient(live_server.base_url), skills=load_skills([tmp_path]), max_steps=3)
    events = list(agent.stream("What should I pack for my trip to Bergen?"))
    agent.close()
    loaded = [e for e in events if isinstance(e, ev.SkillLoaded)]
    result = events[-1].result
    assert loaded and loaded[0].name == "packing-list"
    # The body was appended to the transcript (a tool result), not spliced into the system prompt.
    assert "Packing list" not in agent.messages[0]["content"]
    assert any("passport, charger, umbrella" in m["content"] for m in agent.messages[1:])
    # The request after the load reused the whole system prompt from the prefix cache.
    first, second = result.turns[0], result.turns[1]
    assert second.usage.cached_tokens >= first.usage.prompt_tokens // 128 * 128 > 0
