"""Shared fixtures. Two live servers, each started once per test session and reused if a healthy
one already answers on its port:

- ``live_server``: the default model, for the tests whose outcome depends on the model's quality
  (the agent finds the answer, calls the right tool);
- ``small_server``: SmolLM2-135M, for the plumbing tests (streams, usage, the prefix cache, resume,
  the CLI's wiring), where any model will do and a small one decodes several times faster.

Both start at once on first use (each takes about a minute on a CPU), and only those that the
selected tests need. ``HARNESS_TEST_BASE_URL`` points the tests at a running server instead;
``HARNESS_TEST_SMALL_BASE_URL`` does so for the plumbing tests, which otherwise use the same one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from harness import server
from harness.client import AsyncClient, Client


@dataclass(frozen=True)
class ServerSpec:
    model: str
    port: int
    base_url: str | None  # a running server to use instead of starting one

    def start(self) -> server.ServerInfo:
        if self.base_url:
            return server.ServerInfo(base_url=self.base_url, port=0, model="", pid=None, log=None, reused=True)
        info, _ = server.start(self.model, self.port)
        return info


def server_specs() -> dict[str, ServerSpec]:
    external = os.environ.get("HARNESS_TEST_BASE_URL")
    return {
        "live_server": ServerSpec(os.environ.get("HARNESS_TEST_MODEL", "qwen2.5-coder-0.5b"),
                                  int(os.environ.get("HARNESS_TEST_PORT", "8011")), external),
        "small_server": ServerSpec(os.environ.get("HARNESS_TEST_SMALL_MODEL", "smollm2"),
                                   int(os.environ.get("HARNESS_TEST_SMALL_PORT", "8012")),
                                   os.environ.get("HARNESS_TEST_SMALL_BASE_URL") or external),
    }


class Servers:
    """Starts every server the selected tests use at once, on the first request for any of them."""

    def __init__(self, needed: set[str]) -> None:
        self.specs = server_specs()
        self.pool = ThreadPoolExecutor(max_workers=len(self.specs))
        self.needed = needed & self.specs.keys()
        self.futures: dict[str, Future[server.ServerInfo]] = {}

    def get(self, name: str) -> server.ServerInfo:
        for other in sorted(self.needed | {name}):
            if other not in self.futures:
                self.futures[other] = self.pool.submit(self.specs[other].start)
        return self.futures[name].result()

    def stop(self) -> None:
        """Stop the servers this session started (not the ones it reused)."""
        for future in self.futures.values():
            if future.exception() is None and not future.result().reused:
                server.stop(future.result().port)
        self.pool.shutdown()


@pytest.fixture(scope="session")
def _servers(request: pytest.FixtureRequest) -> Iterator[Servers]:
    servers = Servers({name for item in request.session.items for name in getattr(item, "fixturenames", ())})
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def live_server(_servers: Servers) -> server.ServerInfo:
    return _servers.get("live_server")


@pytest.fixture(scope="session")
def small_server(_servers: Servers) -> server.ServerInfo:
    return _servers.get("small_server")


@pytest.fixture
def client(live_server: server.ServerInfo) -> Iterator[Client]:
    with Client(base_url=live_server.base_url) as c:
        yield c


@pytest.fixture
def small_client(small_server: server.ServerInfo) -> Iterator[Client]:
    with Client(base_url=small_server.base_url) as c:
        yield c


@pytest.fixture
def small_async_client(small_server: server.ServerInfo) -> AsyncClient:
    return AsyncClient(base_url=small_server.base_url)
