"""Ledger fixtures: a controllable clock, a private redis-server on 127.0.0.1, and `make_ledger`,
parametrized over every backend so that one test module is the contract for all of them.

Redis: `ROUTER_TEST_REDIS_URL` (127.0.0.1 only) names a running server; otherwise a private
`redis-server` is started on a free port. Tests that need Redis skip only when the binary is absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from router.ledger import Ledger, MemoryLedger
from router.ledger.sqlite import SQLiteLedger

BACKENDS = ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = 1_795_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis on 127.0.0.1 (never any other address)."""
    given = os.environ.get("ROUTER_TEST_REDIS_URL")
    if given:
        host = urlsplit(given).hostname
        assert host in ("127.0.0.1", "localhost"), "the test suite talks to a local Redis only"
        yield given
        return
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _ping(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on 127.0.0.1:{port}")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ledger_url(kind: str, tmp_path: Path, redis: str | None) -> str:
    """A URL for a fresh ledger of `kind` (a unique Redis prefix keeps tests apart)."""
    if kind == "memory":
        return "memory"
    if kind == "sqlite":
        return f"sqlite://{tmp_path / 'ledger.db'}"  # tmp_path is absolute: sqlite:///tmp/...
    assert redis is not None
    return f"{redis}?prefix=t{uuid.uuid4().hex[:12]}"


MakeLedger = Callable[..., Ledger]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    redis = request.getfixturevalue("redis_url") if backend == "redis" else None
    return ledger_url(backend, tmp_path, redis)


@pytest.fixture
def make_ledger(backend: str, store_url: str, clock: Clock) -> Iterator[MakeLedger]:
    """`make_ledger()` opens a handle on this test's store: for SQLite and Redis each call is a new
    connection to the same data (as another process would have); memory has only one."""
    made: list[Ledger] = []
    memory: list[MemoryLedger] = []

    def make(*, clock: Callable[[], float] = clock) -> Ledger:
        if backend == "memory":
            if not memory:
                memory.append(MemoryLedger(clock=clock))
            return memory[0]
        if backend == "sqlite":
            ledger: Ledger = SQLiteLedger(urlsplit(store_url).path, clock=clock)
        else:
            from router.ledger.redis import RedisLedger

            ledger = RedisLedger(store_url, clock=clock)
        made.append(ledger)
        return ledger

    yield make
    for ledger in made + list(memory):
        ledger.close()


@pytest.fixture
def ledger(make_ledger: MakeLedger) -> Ledger:
    return make_ledger()
