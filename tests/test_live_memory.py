"""Prefix discipline on the real server: each prompt extends the last, across a resume too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


pytestmark = pytest.mark.live


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
    # Append-only: every prompt of the episode, the resumed process's too, starts with the one before
    # and its reply, token for token (checked with the server's own /tokenize).
    extends = [t["extends_previous"] for t in report["turns"]]
    assert extends[0] is None and len(extends) >= 4 and all(extends[1:]) and report["append_only"]
