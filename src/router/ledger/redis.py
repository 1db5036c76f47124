"""The Redis ledger: budgets shared by processes on many machines, atomic through one Lua script.

Needs the optional `redis` client (`pip install 'router[redis]'`). Every key lives under one hash
tag (`{prefix}`), so the script's keys share a slot; amounts are integer nano-USD strings.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from router.errors import ConfigError, LedgerError
from router.ledger.base import (
    NO_LABELS,
    Balance,
    Entry,
    Labels,
    Limit,
    Outcome,
    Reservation,
    check_amount,
    check_ttl,
    from_units,
    not_live,
    refused,
)
from router.redaction import mask_url

__all__ = ["RedisLedger"]

_PAGE = 1000
_TOMBSTONE_SECONDS = 7 * 86400

# The script does every operation atomically (see its header); TOMBSTONE_SECONDS is filled in.
_LUA_FILE = "redis.lua"


@functools.cache
def _script() -> str:
    text = resources.files("router.ledger").joinpath(_LUA_FILE).read_text(encoding="utf-8")
    return text.replace("TOMBSTONE_SECONDS", str(_TOMBSTONE_SECONDS))


def _client_module() -> Any:
    try:
        import redis
    except ImportError:
        raise ConfigError(
            "a redis:// ledger needs the redis client; install it with pip install 'router[redis]'",
            path="ledger",
        ) from None
    return redis


_POOL = 64  # connections per client (per event loop for async); more callers wait their turn


class RedisLedger:
    """A ledger in Redis. Sync calls use `redis.Redis`, async calls `redis.asyncio.Redis` (one
    client per event loop). Nothing connects until the first call."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time, timeout: float = 5.0):
        """Time is the Redis server's, unless a `clock` other than `time.time` is given (tests)."""
        redis = _client_module()
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.prefix = "{" + query.pop("prefix", "router") + "}"
        self._server_url = urlunsplit(parts._replace(query=urlencode(query)))
        shown = parts.hostname or "localhost"
        # for reprs, errors and logs: no userinfo, and a password given as ?password= masked
        self.url = mask_url(urlunsplit(parts._replace(netloc=f"{shown}:{parts.port or 6379}")))
        self._clock = clock
        self._server_time = clock is time.time  # decided once: no machine clock is read later
        self._timeout = timeout
        self._options = {"decode_responses": True, "socket_connect_timeout": timeout}
        self._redis = redis
        # Blocking pools: past `_POOL` connections a caller waits for a free one (up to the
        # timeout) rather than being told the server is unreachable, which under fail_open would
        # let it spend unbudgeted.
        self._sync = redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(
            self._server_url, max_connections=_POOL, timeout=timeout, socket_timeout=timeout,
            **self._options))
        self._script = self._sync.register_script(_script())
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"RedisLedger({self.url!r}, prefix={self.prefix!r})"

    @property
    def client(self) -> Any:
        """The sync `redis.Redis` client, for the circuit breaker's records (see `router.breaker`)."""
        return self._sync

    # -- transport --------------------------------------------------------------------------

    def _run(self, args: list[str]) -> Any:
        try:
            return self._script(args=args)
        except self._redis.RedisError as exc:
            raise _ledger_error(self.url, exc) from exc

    async def _arun(self, args: list[str]) -> Any:
        # The time limit is asyncio's, not the client's socket timeout: with one, redis-py 8
        # swallows a task's cancellation now and then (the call completes as if never cancelled).
        try:
            async with asyncio.timeout(self._timeout):
                return await self._async_pair()[1](args=args)
        except TimeoutError as exc:
            raise LedgerError(f"redis ledger at {self.url}: no answer within {self._timeout}s"
                              ) from exc
        except self._redis.RedisError as exc:
            raise _ledger_error(self.url, exc) from exc

    def _async_pair(self) -> tuple[Any, Any]:
        """This event loop's async client and script (redis.asyncio clients are bound to a loop)."""
        loop = asyncio.get_running_loop()
        pair = self._async.get(loop)
        if pair is None:
            pool = self._redis.asyncio.BlockingConnectionPool.from_url(
                self._server_url, max_connections=_POOL, timeout=None, socket_timeout=None,
                **self._options)  # the wait is bounded by _arun's asyncio.timeout
            client = self._redis.asyncio.Redis.from_pool(pool)
            pair = self._async[loop] = (client, client.register_script(_script()))
        return pair

    def _args(self, op: str, *rest: str) -> list[str]:
        return [op, self.prefix, "" if self._server_time else repr(self._clock()), *rest]

    # -- reserve / extend -------------------------------------------------------------------

    def _reserve_args(self, limits: tuple[Limit, ...], amount: Decimal,
                      ttl: float) -> tuple[list[str], str, int]:
        units = check_amount(amount, field="amount")
        rid = os.urandom(16).hex()
        books = "\n".join(dict.fromkeys(limit.book for limit in limits))
        args = self._args("reserve", rid, str(units), repr(check_ttl(ttl)), books,
                          _limits_json(limits))
        return args, rid, units

    def _reserved(self, reply: Any, args: list[str], limits: tuple[Limit, ...], units: int,
                  labels: Labels) -> Reservation:
        _raise_refusal(reply, limits, units)
        return Reservation(args[3], from_units(units), limits, float(reply[1]), labels)

    def reserve(self, limits: Sequence[Limit], amount: Decimal, *, ttl: float,
                labels: Labels = NO_LABELS) -> Reservation:
        limits = tuple(limits)
        args, _, units = self._reserve_args(limits, amount, ttl)
        return self._reserved(self._run(args), args, limits, units, labels)

    async def areserve(self, limits: Sequence[Limit], amount: Decimal, *, ttl: float,
                       labels: Labels = NO_LABELS) -> Reservation:
        limits = tuple(limits)
        args, _, units = self._reserve_args(limits, amount, ttl)
        return self._reserved(await self._arun(args), args, limits, units, labels)

    def _extend_args(self, reservation: Reservation, extra: Decimal) -> tuple[list[str], int]:
        units = check_amount(extra, field="extra")
        return self._args("extend", reservation.id, str(units),
                          _limits_json(reservation.limits)), units

    def _extended(self, reply: Any, reservation: Reservation, units: int) -> Reservation:
        if reply[0] == -1:
            raise not_live(reservation)
        _raise_refusal(reply, reservation.limits, units)
        return Reservation(reservation.id, from_units(int(reply[1])), reservation.limits,
                           float(reply[2]), reservation.labels)

    def extend(self, reservation: Reservation, extra: Decimal) -> Reservation:
        args, units = self._extend_args(reservation, extra)
        return self._extended(self._run(args), reservation, units)

    async def aextend(self, reservation: Reservation, extra: Decimal) -> Reservation:
        args, units = self._extend_args(reservation, extra)
        return self._extended(await self._arun(args), reservation, units)

    # -- settle / release -------------------------------------------------------------------

    def _settle_args(self, reservation: Reservation, cost: Decimal, outcome: Outcome,
                     model: str | None, deployment: str | None) -> list[str]:
        units = check_amount(cost, field="cost")
        labels = reservation.labels
        args = self._args("settle", reservation.id, str(units))
        fields = {"outcome": str(outcome), "model": model,
                  "deployment": deployment, "user": labels.user, "team": labels.team,
                  "tags": json.dumps(list(labels.tags)),
                  "budgets": json.dumps([limit.name for limit in reservation.limits])}
        for name, value in fields.items():
            if value is not None:
                args += [name, value]
        return args

    def settle(self, reservation: Reservation, cost: Decimal, *, outcome: Outcome = Outcome.OK,
               model: str | None = None, deployment: str | None = None) -> bool:
        return bool(self._run(self._settle_args(reservation, cost, outcome, model, deployment)))

    async def asettle(self, reservation: Reservation, cost: Decimal, *,
                      outcome: Outcome = Outcome.OK, model: str | None = None,
                      deployment: str | None = None) -> bool:
        args = self._settle_args(reservation, cost, outcome, model, deployment)
        return bool(await self._arun(args))

    def release(self, reservation: Reservation) -> bool:
        return bool(self._run(self._args("release", reservation.id)))

    async def arelease(self, reservation: Reservation) -> bool:
        return bool(await self._arun(self._args("release", reservation.id)))

    # -- reading ----------------------------------------------------------------------------

    def balances(self, counters: Iterable[str]) -> dict[str, Balance]:
        keys = list(dict.fromkeys(counters))
        return _balances(keys, self._run(self._args("balances", *keys))) if keys else {}

    async def abalances(self, counters: Iterable[str]) -> dict[str, Balance]:
        keys = list(dict.fromkeys(counters))
        return _balances(keys, await self._arun(self._args("balances", *keys))) if keys else {}

    def _scan_patterns(self, prefix: str) -> list[tuple[int, str]]:
        escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix)
        return [(len(self.prefix) + 3, f"{self.prefix}:{kind}:{escaped}*") for kind in "ch"]

    def scan(self, prefix: str) -> dict[str, Balance]:
        try:
            keys = {key[cut:] for cut, pattern in self._scan_patterns(prefix)
                    for key in self._sync.scan_iter(match=pattern, count=1000)}
        except self._redis.RedisError as exc:
            raise _ledger_error(self.url, exc) from exc
        return self.balances(sorted(keys))

    async def ascan(self, prefix: str) -> dict[str, Balance]:
        client = self._async_pair()[0]
        keys: set[str] = set()
        try:
            async with asyncio.timeout(self._timeout * 10):
                for cut, pattern in self._scan_patterns(prefix):
                    keys.update([key[cut:]
                                 async for key in client.scan_iter(match=pattern, count=1000)])
        except TimeoutError as exc:
            raise LedgerError(f"redis ledger at {self.url}: scan took too long") from exc
        except self._redis.RedisError as exc:
            raise _ledger_error(self.url, exc) from exc
        return await self.abalances(sorted(keys))

    def entries(self, *, since: float | None = None, until: float | None = None) -> Iterator[Entry]:
        start = "-"
        while True:
            try:
                page = self._sync.xrange(f"{self.prefix}:log", min=start, max="+", count=_PAGE)
            except self._redis.RedisError as exc:
                raise _ledger_error(self.url, exc) from exc
            for _, fields in page:
                entry = _entry(fields)
                if (since is None or entry.at >= since) and (until is None or entry.at < until):
                    yield entry
            if len(page) < _PAGE:
                return
            start = "(" + page[-1][0]

    def expire(self) -> int:
        return int(self._run(self._args("expire")))

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        pair = self._async.pop(asyncio.get_running_loop(), None)
        if pair is not None:
            await pair[0].aclose()


def _limits_json(limits: Sequence[Limit]) -> str:
    return json.dumps([[str(limit.units), list(limit.counters)]
                       for limit in limits])


def _raise_refusal(reply: Any, limits: Sequence[Limit], units: int) -> None:
    if reply[0] == 0:
        index, spent, held = int(reply[1]), int(reply[2]), int(reply[3])
        raise refused(limits[index - 1], from_units(units), from_units(spent), from_units(held))


def _balances(keys: Sequence[str], flat: Sequence[str]) -> dict[str, Balance]:
    return {key: Balance(from_units(int(flat[2 * i])), from_units(int(flat[2 * i + 1])))
            for i, key in enumerate(keys)}


def _entry(fields: dict[str, str]) -> Entry:
    return Entry(
        at=float(fields["at"]), reservation=fields["res"], cost=from_units(int(fields["cost"])),
        outcome=Outcome(fields["outcome"]), model=fields.get("model"),
        deployment=fields.get("deployment"), user=fields.get("user"), team=fields.get("team"),
        tags=tuple(json.loads(fields.get("tags", "[]"))),
        budgets=tuple(json.loads(fields.get("budgets", "[]"))),
    )


def _ledger_error(url: str, exc: Exception) -> LedgerError:
    return LedgerError(f"redis ledger at {url}: {type(exc).__name__}: {exc} (check that the server "
                       "is up and reachable, and the `ledger` URL of the config)")
