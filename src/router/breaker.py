"""Circuit breaking per deployment: consecutive failures open it for a cooldown, then one probe.

The state lives in a `BreakerStore` (in memory by default; `RedisBreakerStore` shares it between
replicas). Records change only through `update(deployment, change)`, a pure function applied
atomically by the store, so every backend keeps the same rules.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from router.errors import ConfigError

__all__ = [
    "BreakerRecord",
    "BreakerState",
    "BreakerStore",
    "CircuitBreaker",
    "MemoryBreakerStore",
    "RedisBreakerStore",
    "store_for_ledger",
]

Change = Callable[["BreakerRecord"], "BreakerRecord"]

log = logging.getLogger("router")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # skipped until the cooldown ends
    HALF_OPEN = "half-open"  # the cooldown ended: one probe call decides


@dataclass(frozen=True, slots=True)
class BreakerRecord:
    """A deployment's breaker. Times are wall-clock seconds, so that replicas can share them."""

    failures: int = 0  # consecutive
    open_until: float = 0.0  # 0: never opened since the last success
    probe_until: float = 0.0  # a half-open probe is in flight until then
    last_error: str = ""

    def state(self, now: float) -> BreakerState:
        if not self.open_until:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now < self.open_until else BreakerState.HALF_OPEN

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> BreakerRecord:
        return cls(**json.loads(raw)) if raw else cls()


@runtime_checkable
class BreakerStore(Protocol):
    """Where breaker records live. `update` must apply `change` atomically (read-modify-write)."""

    def get_many(self, deployments: Iterable[str]) -> dict[str, BreakerRecord]:
        """The records of `deployments` (a default record for any never seen)."""
        ...

    def update(self, deployment: str, change: Change) -> BreakerRecord:
        """Replace the record with `change(record)` atomically and return the new record."""
        ...


_CLEAN = BreakerRecord()


def _reset(_: BreakerRecord) -> BreakerRecord:
    return _CLEAN


class MemoryBreakerStore:
    """Breaker records in this process, guarded by a lock."""

    def __init__(self) -> None:
        self._records: dict[str, BreakerRecord] = {}
        self._lock = threading.Lock()

    def get_many(self, deployments: Iterable[str]) -> dict[str, BreakerRecord]:
        if not self._records:  # every deployment healthy: the common case, no lock needed
            return dict.fromkeys(deployments, _CLEAN)
        with self._lock:
            return {d: self._records.get(d, _CLEAN) for d in deployments}

    def update(self, deployment: str, change: Change) -> BreakerRecord:
        if deployment not in self._records and change is _reset:
            return _CLEAN  # the common case: a success on a healthy deployment
        with self._lock:
            new = change(self._records.get(deployment, BreakerRecord()))
            if new == BreakerRecord():
                self._records.pop(deployment, None)
            else:
                self._records[deployment] = new
            return new


class RedisBreakerStore:
    """Breaker records in Redis (`pip install router[redis]`), shared by every replica.

    `client` is a sync `redis.Redis`; updates use WATCH/MULTI, so concurrent replicas never lose
    a failure or claim the same probe twice. Records expire `ttl` seconds after their last change.
    The breaker only advises: while Redis is unreachable every circuit reads as closed and changes
    are dropped (with a warning), rather than failing the calls it is there to protect.
    """

    def __init__(self, client: Any, *, prefix: str = "router:breaker:", ttl: float = 86_400) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ConfigError(
                "the Redis breaker store needs the redis package: pip install 'router[redis]'"
            ) from exc
        self._redis = redis
        self._client = client
        self._prefix = prefix
        self._ttl = max(1, int(ttl))

    def _key(self, deployment: str) -> str:
        return self._prefix + deployment

    def get_many(self, deployments: Iterable[str]) -> dict[str, BreakerRecord]:
        ids = list(deployments)
        if not ids:
            return {}
        try:
            raw = self._client.mget([self._key(d) for d in ids])
        except self._redis.RedisError as exc:
            log.warning("breaker records unreadable, every circuit taken as closed: %s", exc)
            return dict.fromkeys(ids, _CLEAN)
        return {d: BreakerRecord.from_json(r) for d, r in zip(ids, raw, strict=True)}

    def update(self, deployment: str, change: Change) -> BreakerRecord:
        try:
            return self._update(self._key(deployment), change)
        except self._redis.RedisError as exc:
            log.warning("breaker record of %s not updated: %s", deployment, exc)
            return change(_CLEAN)

    def _update(self, key: str, change: Change) -> BreakerRecord:
        if change is _reset:  # every success: one round trip, atomic on its own
            self._client.delete(key)
            return _CLEAN
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    old = BreakerRecord.from_json(pipe.get(key))
                    new = change(old)
                    if new == old:
                        pipe.unwatch()
                        return new
                    pipe.multi()
                    if new == BreakerRecord():
                        pipe.delete(key)
                    else:
                        pipe.set(key, new.to_json(), ex=self._ttl)
                    pipe.execute()
                    return new
                except self._redis.WatchError:
                    continue  # another replica changed it first: read again


def store_for_ledger(ledger: object) -> BreakerStore | None:
    """Where breaker records go by default: with a Redis ledger, in the same Redis (under its
    prefix), so that replicas sharing the ledger agree on circuits too; else `None` (in memory)."""
    from router.ledger.redis import RedisLedger

    if isinstance(ledger, RedisLedger):
        return RedisBreakerStore(ledger.client, prefix=f"{ledger.prefix}:breaker:")
    return None


class CircuitBreaker:
    """Opens a deployment's circuit after `failures` consecutive failures for `cooldown` seconds;
    then lets one probe call through (half-open): success closes it, failure opens it again.

    `clock` is wall time (`time.time`) so that records mean the same on every replica.
    """

    def __init__(
        self,
        *,
        failures: int = 5,
        cooldown: float = 30.0,
        store: BreakerStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise ConfigError(f"must be a whole number, at least 1, got {failures!r}",
                              path="breaker.failures")
        if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) \
                or not 0 < cooldown < math.inf:  # also refuses NaN
            raise ConfigError(f"must be more than 0 seconds, got {cooldown!r}",
                              path="breaker.cooldown")
        self.failures = failures
        self.cooldown = cooldown
        self.store: BreakerStore = store if store is not None else MemoryBreakerStore()
        self.clock = clock

    def states(self, deployments: Iterable[str]) -> dict[str, BreakerState]:
        now = self.clock()
        return {d: r.state(now) for d, r in self.store.get_many(deployments).items()}

    def unavailable(self, deployments: Iterable[str]) -> dict[str, str]:
        """Deployments to leave out of a decision now, each with the reason (for `decide`)."""
        now = self.clock()
        out: dict[str, str] = {}
        for dep, record in self.store.get_many(deployments).items():
            if record is _CLEAN:
                continue
            reason = self._blocked(record, now)
            if reason:
                out[dep] = reason
        return out

    def acquire(self, deployment: str) -> str | None:
        """Ask to call `deployment` now: `None` to go ahead, or why it is skipped.

        A half-open deployment lets exactly one caller through (the probe) until the probe ends
        or `cooldown` passes.
        """
        record = self.store.get_many([deployment])[deployment]
        if not record.open_until:  # closed (never opened since the last success): go ahead
            return None
        now = self.clock()
        if record.state(now) is BreakerState.CLOSED:
            return None
        reason: list[str] = []

        def claim(current: BreakerRecord) -> BreakerRecord:
            blocked = self._blocked(current, now)
            reason[:] = [blocked] if blocked else []
            if blocked or current.state(now) is BreakerState.CLOSED:
                return current
            return dataclasses.replace(current, probe_until=now + self.cooldown)

        self.store.update(deployment, claim)
        return reason[0] if reason else None

    def record_success(self, deployment: str) -> None:
        self.store.update(deployment, _reset)

    def release(self, deployment: str) -> None:
        """End a probe that proved nothing either way (the caller left before any answer, or the
        request itself was at fault): the next request may probe at once."""
        now = self.clock()

        def free(current: BreakerRecord) -> BreakerRecord:
            if current.state(now) is BreakerState.HALF_OPEN and current.probe_until > now:
                return dataclasses.replace(current, probe_until=0.0)
            return current

        self.store.update(deployment, free)

    def record_failure(self, deployment: str, error: BaseException) -> BreakerRecord:
        now = self.clock()
        summary = f"{type(error).__name__}: {error}"[:200]

        def fail(current: BreakerRecord) -> BreakerRecord:
            count = current.failures + 1
            state = current.state(now)
            if state is BreakerState.OPEN:
                return dataclasses.replace(current, failures=count, last_error=summary)
            if state is BreakerState.HALF_OPEN or count >= self.failures:
                return BreakerRecord(count, now + self.cooldown, 0.0, summary)
            return dataclasses.replace(current, failures=count, last_error=summary)

        return self.store.update(deployment, fail)

    def _blocked(self, record: BreakerRecord, now: float) -> str | None:
        state = record.state(now)
        if state is BreakerState.OPEN:
            return (
                f"circuit open after {record.failures} consecutive failure"
                f"{'s' if record.failures > 1 else ''} (last: {record.last_error}); "
                f"probed again in {record.open_until - now:.1f}s"
            )
        if state is BreakerState.HALF_OPEN and now < record.probe_until:
            return "circuit half-open: another request is probing it"
        return None
