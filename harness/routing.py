"""More than one server: each session is pinned to one by rendezvous hashing of its id, so its
prefix stays warm there, and moves only while that server is down.

Rendezvous (highest-random-weight) hashing ranks the servers per session; removing a server moves
only the sessions that were on it, and adding one takes an even share from the others.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from harness.client import AsyncClient
from harness.errors import ServerUnreachable


def rank_servers(urls: list[str], key: str) -> list[str]:
    """The servers in this session's order of preference (stable across processes)."""
    return sorted(urls, key=lambda url: hashlib.sha256(f"{url}\n{key}".encode()).digest(), reverse=True)


class ServerPool:
    """One client per server; ``client_for(key)`` is the session's server, or the next healthy one."""

    def __init__(self, urls: list[str], make_client: Callable[[str], AsyncClient] = AsyncClient,
                 recheck_s: float = 10.0) -> None:
        if not urls:
            raise ValueError("a server pool needs at least one base URL")
        self.urls = list(dict.fromkeys(u.rstrip("/") for u in urls))
        self.clients = {u: make_client(u) for u in self.urls}
        self.recheck_s = recheck_s
        self._down_until: dict[str, float] = {}

    async def client_for(self, key: str) -> AsyncClient:
        tried = []
        for url in rank_servers(self.urls, key):
            if self._down_until.get(url, 0.0) > time.monotonic():
                continue
            if await self.clients[url].health():
                return self.clients[url]
            self._down_until[url] = time.monotonic() + self.recheck_s
            tried.append(url)
        raise ServerUnreachable(f"none of the servers answers ({', '.join(tried or self.urls)})",
                                hint="start them, or check the --base-url list")

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
