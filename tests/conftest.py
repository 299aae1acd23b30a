"""Shared fixtures. The live server is started once per test session (about 1 minute with the
default model) and reused if a healthy one already answers on the port."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness import server
from harness.client import AsyncClient, Client


@pytest.fixture(scope="session")
def live_server() -> Iterator[server.ServerInfo]:
    if os.environ.get("HARNESS_TEST_BASE_URL"):
        url = os.environ["HARNESS_TEST_BASE_URL"]
        yield server.ServerInfo(base_url=url, port=0, model="", pid=None, log=None, reused=True)
        return
    port = int(os.environ.get("HARNESS_TEST_PORT", "8011"))
    model = os.environ.get("HARNESS_TEST_MODEL", "qwen2.5-coder-0.5b")
    info, _ = server.start(model, port)
    yield info
    if not info.reused:
        server.stop(port)


@pytest.fixture
def client(live_server: server.ServerInfo) -> Iterator[Client]:
    with Client(base_url=live_server.base_url) as c:
        yield c


@pytest.fixture
def async_client(live_server: server.ServerInfo) -> AsyncClient:
    return AsyncClient(base_url=live_server.base_url)
