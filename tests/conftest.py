"""Shared fixtures. Two live servers, each started once per test session and reused if a healthy
one already answers on its port:

- ``live_server``: the default model, for the tests whose outcome depends on the model's quality
  (the agent finds the answer, calls the right tool);
- ``small_server``: SmolLM2-135M, for the plumbing tests (streams, usage, the prefix cache, resume,
  the CLI's wiring), where any model will do and a small one decodes several times faster.

Both start as soon as the tests are collected (each takes about a minute on a CPU), and only those
that the selected tests need; the live tests run last, so the servers boot while the unit tests run.
Under pytest-xdist (``make test`` runs ``-n 3 --dist loadgroup``) the unit tests stay together on one
worker, in order, and the live tests run on the others as they free up, several requests in flight at
once: the server batches their decoding. Each server is started by one worker (a lock file) and reused
by the others, and stopped by the controller once every worker is done.
``HARNESS_TEST_BASE_URL`` points the tests at a running server instead;
``HARNESS_TEST_SMALL_BASE_URL`` does so for the plumbing tests, which otherwise use the same one.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import server
from harness.client import AsyncClient, Client


@dataclass(frozen=True)
class ServerSpec:
    model: str
    port: int
    base_url: str | None  # a running server to use instead of starting one

    def start(self, on_tick: Callable[[float], None] | None = None) -> server.ServerInfo:
        if self.base_url:
            return server.ServerInfo(base_url=self.base_url, port=0, model="", pid=None, log=None, reused=True)
        # One xdist worker starts the server; the others wait here, then find it healthy and reuse it.
        with open(Path(tempfile.gettempdir()) / f"harness-tests-{self.port}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_tick is not None:
                    on_tick(0.0)  # launched by another worker: nothing for this one to wait for
                fcntl.flock(lock, fcntl.LOCK_EX)
            info, _ = server.start(self.model, self.port, on_tick=on_tick)
            if not info.reused:  # this session's to stop: not a server someone else started meanwhile
                started_file(self.port).write_text(os.environ.get(SESSION, ""))
        return info


SESSION = "HARNESS_TEST_SESSION"  # set by the controller, inherited by the xdist workers


def started_file(port: int) -> Path:
    """Names the test session that started the server on ``port``."""
    return Path(tempfile.gettempdir()) / f"harness-tests-{port}.session"


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
    """Starts every server the selected tests use at once: when collection ends, or on the first request
    for any of them."""

    def __init__(self, needed: set[str]) -> None:
        self.specs = server_specs()
        self.pool = ThreadPoolExecutor(max_workers=len(self.specs))
        self.needed = needed & self.specs.keys()
        self.futures: dict[str, Future[server.ServerInfo]] = {}

    def get(self, name: str) -> server.ServerInfo:
        self.start(self.needed | {name})
        return self.futures[name].result()

    def start(self, names: set[str]) -> None:
        """Start ``names`` in the background; return once each has launched its process (or is done).
        The launch reads the environment (HARNESS_HOME, the cache), which a unit test may patch."""
        launched = []
        for name in sorted(names - self.futures.keys()):
            event = threading.Event()
            self.futures[name] = self.pool.submit(self.specs[name].start, lambda _elapsed, e=event: e.set())
            launched.append((event, self.futures[name]))
        for event, future in launched:
            while not (event.is_set() or future.done()):
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the servers this session started (not the ones it reused)."""
        for future in self.futures.values():
            if future.exception() is None and not future.result().reused:
                server.stop(future.result().port)
        self.pool.shutdown()


_early: Servers | None = None


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if not _is_worker(config):
        os.environ[SESSION] = uuid.uuid4().hex


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Live tests last (otherwise in order): the servers boot while the unit tests run. On a 2-core
    # AVX2 machine their start took 127 s of a 13.5-minute suite, all of it waited for.
    items.sort(key=lambda item: item.get_closest_marker("live") is not None)
    for item in items:  # one xdist group: the unit tests run in order on one worker, as without xdist
        if item.get_closest_marker("live") is None:
            item.add_marker(pytest.mark.xdist_group("unit"))


def pytest_collection_finish(session: pytest.Session) -> None:
    global _early
    if session.config.option.collectonly:
        return
    _early = Servers({name for item in session.items for name in getattr(item, "fixturenames", ())})
    _early.start(_early.needed)


@pytest.fixture(scope="session")
def _servers() -> Servers:
    assert _early is not None, "made when collection ends"
    return _early


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _is_worker(session.config):
        return  # another worker may still use the servers: the controller stops them
    if _early is not None:  # stopped here even if no test asked for them (all skipped, or interrupted)
        _early.stop()
        return
    # The xdist controller: what its workers started. Not a server that was starting when this session began
    # (its port still free then): seen, a unit-test run stopped `harness serve` and another session's servers.
    for spec in server_specs().values():
        marker = started_file(spec.port)
        if not spec.base_url and marker.is_file() and marker.read_text() == os.environ.get(SESSION):
            server.stop(spec.port)
            marker.unlink(missing_ok=True)


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
