"""The circuit breaker: its states, and one contract for every store (memory, Redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.resilience.conftest import make_router, run

from router import (
    BreakerState,
    BreakerStore,
    CircuitBreaker,
    ConfigError,
    MemoryBreakerStore,
    RedisBreakerStore,
    ServerError,
)
from router.breaker import BreakerRecord
from router.testing import FakeProviderServer, HttpError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (skipped where none is installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    pytest.importorskip("redis")
    port = _free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def _redis_store(url: str, prefix: str) -> RedisBreakerStore:
    import redis

    client = redis.Redis.from_url(url)
    client.delete(*client.keys(prefix + "*") or ["-"])
    return RedisBreakerStore(client, prefix=prefix)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store_factory(request: pytest.FixtureRequest) -> Any:
    """Makes stores that share state with each other, as replicas would."""
    if request.param == "memory":
        shared = MemoryBreakerStore()
        return lambda: shared
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{request.node.name}:"
    fresh = [_redis_store(url, prefix)]  # the first one clears what an earlier run left

    def another() -> RedisBreakerStore:  # each replica has its own connection
        import redis

        return fresh.pop() if fresh else RedisBreakerStore(redis.Redis.from_url(url), prefix=prefix)

    return another


def test_a_store_starts_empty_and_applies_changes(store_factory: Any) -> None:
    store: BreakerStore = store_factory()
    assert isinstance(store, BreakerStore)
    assert store.get_many(["a", "b"]) == {"a": BreakerRecord(), "b": BreakerRecord()}
    new = store.update("a", lambda r: BreakerRecord(failures=r.failures + 1, last_error="x"))
    assert new.failures == 1
    assert store.get_many(["a"])["a"] == new
    assert store.update("a", lambda r: BreakerRecord()) == BreakerRecord()
    assert store.get_many(["a"])["a"] == BreakerRecord()
    assert store.get_many([]) == {}


def test_concurrent_updates_lose_nothing(store_factory: Any) -> None:
    store: BreakerStore = store_factory()

    def bump() -> None:
        for _ in range(25):
            store.update("d", lambda r: BreakerRecord(failures=r.failures + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get_many(["d"])["d"].failures == 100


def test_closed_open_half_open_closed(store_factory: Any) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown=10, store=store_factory(), clock=clock)
    error = ServerError("HTTP 503", status_code=503)
    for _ in range(2):
        breaker.record_failure("d", error)
    assert breaker.states(["d"]) == {"d": BreakerState.CLOSED}
    assert breaker.acquire("d") is None
    breaker.record_failure("d", error)
    assert breaker.states(["d"]) == {"d": BreakerState.OPEN}
    reason = breaker.unavailable(["d", "other"])
    assert list(reason) == ["d"]
    assert "circuit open after 3 consecutive failures (last: ServerError: HTTP 503)" in reason["d"]
    assert "probed again in 10.0s" in reason["d"]
    clock.now += 10
    assert breaker.states(["d"]) == {"d": BreakerState.HALF_OPEN}
    assert breaker.unavailable(["d"]) == {}  # a decision may pick it: whoever calls first probes
    assert breaker.acquire("d") is None  # the probe
    assert breaker.acquire("d") == "circuit half-open: another request is probing it"
    assert "probing" in breaker.unavailable(["d"])["d"]
    breaker.record_success("d")
    assert breaker.states(["d"]) == {"d": BreakerState.CLOSED}
    assert breaker.acquire("d") is None


def test_a_failed_probe_opens_it_again_for_a_full_cooldown(store_factory: Any) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=5, store=store_factory(), clock=clock)
    breaker.record_failure("d", ServerError("x"))
    clock.now += 5
    assert breaker.acquire("d") is None
    breaker.record_failure("d", ServerError("probe failed"))
    assert breaker.states(["d"]) == {"d": BreakerState.OPEN}
    clock.now += 4.9
    assert breaker.acquire("d") is not None
    clock.now += 0.1
    assert breaker.acquire("d") is None


def test_a_lost_probe_is_given_up_after_a_cooldown(store_factory: Any) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=5, store=store_factory(), clock=clock)
    breaker.record_failure("d", ServerError("x"))
    clock.now += 5
    assert breaker.acquire("d") is None  # ...and that caller never reports back
    clock.now += 5
    assert breaker.acquire("d") is None


def test_replicas_sharing_a_store_agree(store_factory: Any) -> None:
    clock = Clock()
    one = CircuitBreaker(failures=2, cooldown=5, store=store_factory(), clock=clock)
    two = CircuitBreaker(failures=2, cooldown=5, store=store_factory(), clock=clock)
    one.record_failure("d", ServerError("x"))
    two.record_failure("d", ServerError("x"))
    assert one.states(["d"]) == two.states(["d"]) == {"d": BreakerState.OPEN}
    clock.now += 5
    assert one.acquire("d") is None
    assert two.acquire("d") is not None  # only one replica probes


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"failures": 0}, "breaker.failures"),
    ({"cooldown": 0}, "breaker.cooldown"),
])
def test_out_of_range_settings_are_config_errors(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        CircuitBreaker(**kwargs)
    assert info.value.path == path


@pytest.mark.redis
def test_routers_on_one_redis_ledger_share_their_breakers(
    redis_url: str, fake_provider: FakeProviderServer, adapter: str
) -> None:
    """No `breaker_store` given: the Redis ledger's server keeps the records, so a failure seen
    by one replica and one seen by another add up, and both then skip the deployment."""
    ledger = f"{redis_url}?prefix=t{uuid.uuid4().hex[:12]}"
    sections: dict[str, Any] = {"ledger": ledger, "retries": {"attempts": 1},
                                "breaker": {"failures": 2, "cooldown": 30},
                                "budgets": [{"scope": "global", "limit": "10", "window": "day"}]}
    one, two = (make_router(fake_provider, adapter, **sections) for _ in range(2))
    assert isinstance(one.resilience.breaker.store, RedisBreakerStore)  # type: ignore[union-attr]
    for router in (one, two):
        fake_provider.script(HttpError(status=503))
        assert run(router, "sync").reply is not None  # the backup answered
    for router in (one, two):
        assert [c.deployment for c in router.route("Say something").candidates] == ["backup"]
    other = make_router(fake_provider, adapter, retries={"attempts": 1})  # memory ledger
    assert isinstance(other.resilience.breaker.store, MemoryBreakerStore)  # type: ignore[union-attr]
    assert other.route("Say something").deployment == "primary"
    for router in (one, two, other):
        router.close()


def test_an_unreachable_redis_leaves_every_circuit_closed() -> None:
    pytest.importorskip("redis")
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(port=_free_port(), socket_connect_timeout=0.2, socket_timeout=0.2,
                         retry=Retry(NoBackoff(), 0))
    breaker = CircuitBreaker(failures=1, cooldown=30, store=RedisBreakerStore(client))
    breaker.record_failure("a", ServerError("HTTP 500", status_code=500))  # dropped, not raised
    assert breaker.unavailable(["a"]) == {}
    assert breaker.acquire("a") is None
    breaker.record_success("a")
