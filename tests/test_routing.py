"""Several servers: sessions pinned by a stable hash, moved only while their server is down."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from harness.agent import Agent
from harness.client import AsyncClient
from harness.routing import ServerPool, rank_servers

URLS = ["http://a.test", "http://b.test", "http://c.test"]


def test_ranking_is_stable_and_spreads_sessions():
    keys = [f"session-{i}" for i in range(600)]
    first = {k: rank_servers(URLS, k)[0] for k in keys}
    assert first == {k: rank_servers(list(reversed(URLS)), k)[0] for k in keys}  # order of the list is irrelevant
    counts = Counter(first.values())
    assert all(150 < n < 250 for n in counts.values()), counts


def test_removing_a_server_moves_only_its_sessions():
    keys = [f"s{i}" for i in range(300)]
    before = {k: rank_servers(URLS, k)[0] for k in keys}
    after = {k: rank_servers(URLS[:2], k)[0] for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert moved and all(before[k] == "http://c.test" for k in moved)


def pool_with(down: set[str], seen: list[str], recheck_s: float = 10.0) -> ServerPool:
    """Three mock servers; those in ``down`` (read at each request) refuse connections."""
    def make(url: str) -> AsyncClient:
        async def handler(request: httpx.Request) -> httpx.Response:
            if url in down:
                raise httpx.ConnectError("refused", request=request)
            seen.append(url)
            if request.url.path == "/health":
                return httpx.Response(200)
            if request.url.path == "/v1/models":
                return httpx.Response(200, json={"data": [{"id": "m"}]})
            body = (b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
                    b"data: [DONE]\n\n")
            return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
        return AsyncClient(base_url=url, model="m", transport=httpx.MockTransport(handler))
    return ServerPool(URLS, make, recheck_s=recheck_s)


def test_session_fails_over_only_while_its_server_is_down():
    key = "my-session"
    preferred = rank_servers(URLS, key)
    down = {preferred[0]}
    pool = pool_with(down=down, seen=[], recheck_s=0.0)  # a down server is asked again at once
    servers = [asyncio.run(pool.client_for(key)).base_url]
    down.clear()  # its server is back
    servers.append(asyncio.run(pool.client_for(key)).base_url)
    assert servers == [preferred[1], preferred[0]]


def test_a_down_server_is_not_asked_again_until_its_recheck_time():
    key = "my-session"
    preferred = rank_servers(URLS, key)
    down = {preferred[0]}
    pool = pool_with(down=down, seen=[], recheck_s=3600.0)
    asyncio.run(pool.client_for(key))
    down.clear()
    assert asyncio.run(pool.client_for(key)).base_url == preferred[1]


def test_agent_with_a_list_of_base_urls_talks_to_its_pinned_server():
    seen: list[str] = []
    agent = Agent(client=pool_with(down=set(), seen=seen), constrained=False)
    result = agent.run("hello")
    assert result.text == "hi"
    pinned = rank_servers(URLS, agent.session_id)[0]
    assert set(seen) == {pinned}
