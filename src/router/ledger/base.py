"""The spend ledger's interface and the data it speaks: limits, reservations, balances, entries.

Every backend (memory, SQLite, Redis) keeps integer nano-USD (1e-9 USD): reservations and costs
are rounded up to the next nano-dollar, limits down, so rounding can never let spend past a limit.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol, runtime_checkable

from router.errors import BudgetExceeded, InvalidRequestError, LedgerError
from router.money import MONEY, format_usd

__all__ = [
    "MAX_USD",
    "NO_LABELS",
    "UNITS_PER_USD",
    "Balance",
    "BlockingLedger",
    "Entry",
    "Labels",
    "Ledger",
    "Limit",
    "Outcome",
    "Reservation",
    "check_amount",
    "check_ttl",
    "from_units",
    "not_live",
    "refused",
    "to_units",
]

UNITS_PER_USD = 10**9  # nano-USD: every per-token cost of the catalog is a whole number of them
_UNIT = Decimal(1) / UNITS_PER_USD
# Lua numbers are doubles: Redis scripts compare amounts exactly only below 2**53 units (~$9M).
MAX_UNITS = 2**53 - 1


def to_units(amount: Decimal, *, up: bool = True) -> int:
    """`amount` USD in nano-USD, rounded up (costs, reservations) or down (limits)."""
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    return int(amount.quantize(_UNIT, rounding=rounding, context=MONEY).scaleb(9, context=MONEY))


def from_units(units: int) -> Decimal:
    """Nano-USD back to exact `Decimal` USD."""
    return MONEY.divide(Decimal(units), UNITS_PER_USD)  # exact, and without trailing zeros


MAX_USD = from_units(MAX_UNITS)  # the most one budget or ledger entry can hold: ~$9 million


def check_amount(amount: Decimal, *, field: str) -> int:
    """Validate a USD amount handed to the ledger and return it in units."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise InvalidRequestError(f"expected a finite Decimal >= 0, got {amount!r}", field=field)
    if amount > MAX_USD or (units := to_units(amount)) > MAX_UNITS:
        raise InvalidRequestError(f"{format_usd(amount)} is more than one ledger entry can hold",
                                  field=field)
    return units


class Outcome(enum.StrEnum):
    """How the call behind a settlement ended."""

    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Limit:
    """One budget in one window, as the ledger sees it.

    Spend plus live reservations summed over `counters` may not exceed `limit`. A reservation holds
    on, and its settlement books to, `counters[0]`; a rolling window lists its older slots after it.
    """

    name: str
    limit: Decimal
    counters: tuple[str, ...]
    units: int = field(init=False, repr=False, compare=False)  # the limit in nano-USD, down

    def __post_init__(self) -> None:
        counters = self.counters
        if not counters or len(set(counters)) < len(counters) or any(
            not c or "\n" in c for c in counters
        ):
            raise InvalidRequestError(
                "needs one or more distinct, non-empty counter keys without newlines",
                field=f"limit {self.name!r}",
            )
        if not isinstance(self.limit, Decimal) or not self.limit.is_finite() or self.limit < 0:
            raise InvalidRequestError(f"expected a Decimal >= 0, got {self.limit!r}",
                                      field=f"limit {self.name!r}")
        object.__setattr__(self, "units", to_units(self.limit, up=False))

    @property
    def book(self) -> str:
        return self.counters[0]


@dataclass(frozen=True, slots=True)
class Labels:
    """Who a reservation is for, copied into its entry for spend reports."""

    user: str | None = None
    team: str | None = None
    tags: tuple[str, ...] = ()


NO_LABELS = Labels()


@dataclass(frozen=True, slots=True)
class Reservation:
    """Money held in every one of `limits` until settled, released or past `expires_at`."""

    id: str
    amount: Decimal
    limits: tuple[Limit, ...]
    expires_at: float  # epoch seconds, by the ledger's clock
    labels: Labels = field(default_factory=Labels)

    @property
    def books(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(limit.book for limit in self.limits))


@dataclass(frozen=True, slots=True)
class Balance:
    """A counter's settled spend and what live reservations hold on it."""

    spent: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Entry:
    """One settled call: the line a finance export shows."""

    at: float  # epoch seconds of the settlement
    reservation: str
    cost: Decimal
    outcome: Outcome
    model: str | None = None
    deployment: str | None = None
    user: str | None = None
    team: str | None = None
    tags: tuple[str, ...] = ()
    budgets: tuple[str, ...] = ()  # names of the limits the cost was booked to


def refused(limit: Limit, amount: Decimal, spent: Decimal, reserved: Decimal) -> BudgetExceeded:
    """The error a ledger raises when `amount` does not fit `limit`."""
    left = max(limit.limit - spent - reserved, Decimal(0))
    return BudgetExceeded(
        f"budget {limit.name!r} has {format_usd(left)} left of {format_usd(limit.limit)} "
        f"({format_usd(spent)} spent, {format_usd(reserved)} reserved by calls in flight); "
        f"this call needs up to {format_usd(amount)}",
        budget=limit.name, limit=limit.limit, remaining=left, cheapest_cost=amount,
    )


def not_live(reservation: Reservation) -> LedgerError:
    """The error of `extend()` on a reservation that is gone."""
    return LedgerError(
        f"reservation {reservation.id} is no longer live (settled, released, or expired after its "
        "TTL); reserve again instead of extending it"
    )


@runtime_checkable
class Ledger(Protocol):
    """Where shared budgets live. Every method is atomic: a reservation is made in all its limits
    or in none, and a settlement is recorded exactly once.

    A settlement or release of a reservation that was already settled or released is a no-op that
    returns False. A reservation not settled within its TTL expires (its process is presumed dead);
    settling it afterwards still records the cost, which may then exceed a limit.
    """

    url: str

    def reserve(self, limits: Sequence[Limit], amount: Decimal, *, ttl: float,
                labels: Labels = ...) -> Reservation:
        """Hold `amount` in every limit, or raise `BudgetExceeded` naming the first that lacks room."""

    def extend(self, reservation: Reservation, extra: Decimal) -> Reservation:
        """Hold `extra` more (and renew the TTL), atomically in every limit, or raise."""

    def settle(self, reservation: Reservation, cost: Decimal, *, outcome: Outcome = ...,
               model: str | None = None, deployment: str | None = None) -> bool:
        """Book `cost`, free the rest and write one entry; False if already settled or released."""

    def release(self, reservation: Reservation) -> bool:
        """Free the reservation without booking anything; False if already closed."""

    def balances(self, counters: Iterable[str]) -> dict[str, Balance]:
        """Spent and reserved per counter (expired reservations no longer count)."""

    def scan(self, prefix: str) -> dict[str, Balance]:
        """Every counter whose key starts with `prefix`."""

    def entries(self, *, since: float | None = None, until: float | None = None) -> Iterator[Entry]:
        """Settled entries with `since <= at < until`, oldest first."""

    def expire(self) -> int:
        """Expire reservations past their TTL now; return how many."""

    def close(self) -> None: ...

    async def areserve(self, limits: Sequence[Limit], amount: Decimal, *, ttl: float,
                       labels: Labels = ...) -> Reservation: ...

    async def aextend(self, reservation: Reservation, extra: Decimal) -> Reservation: ...

    async def asettle(self, reservation: Reservation, cost: Decimal, *, outcome: Outcome = ...,
                      model: str | None = None, deployment: str | None = None) -> bool: ...

    async def arelease(self, reservation: Reservation) -> bool: ...

    async def abalances(self, counters: Iterable[str]) -> dict[str, Balance]: ...

    async def ascan(self, prefix: str) -> dict[str, Balance]: ...

    async def aclose(self) -> None: ...


class BlockingLedger:
    """Base of ledgers whose I/O blocks briefly (memory, SQLite): the async twins run the sync
    methods through `_offload`, which a subclass may point at a worker thread."""

    url: str = ""
    #: True when the async twins run the sync methods on the caller's thread without awaiting
    #: anything: the guard then calls the sync methods directly (no task, no shield), which
    #: saves several event-loop turns per request.
    runs_inline: bool = True

    async def _offload(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def areserve(self, limits: Sequence[Limit], amount: Decimal, *, ttl: float,
                       labels: Labels = NO_LABELS) -> Reservation:
        result: Reservation = await self._offload(self.reserve, limits, amount, ttl=ttl,
                                                  labels=labels)
        return result

    async def aextend(self, reservation: Reservation, extra: Decimal) -> Reservation:
        result: Reservation = await self._offload(self.extend, reservation, extra)
        return result

    async def asettle(self, reservation: Reservation, cost: Decimal, *,
                      outcome: Outcome = Outcome.OK, model: str | None = None,
                      deployment: str | None = None) -> bool:
        return bool(await self._offload(self.settle, reservation, cost, outcome=outcome,
                                        model=model, deployment=deployment))

    async def arelease(self, reservation: Reservation) -> bool:
        return bool(await self._offload(self.release, reservation))

    async def abalances(self, counters: Iterable[str]) -> dict[str, Balance]:
        result: dict[str, Balance] = await self._offload(self.balances, list(counters))
        return result

    async def ascan(self, prefix: str) -> dict[str, Balance]:
        result: dict[str, Balance] = await self._offload(self.scan, prefix)
        return result

    async def aclose(self) -> None:
        await self._offload(self.close)

    # The sync methods every subclass provides (declared for the type checker).
    def reserve(self, limits: Sequence[Limit], amount: Decimal, *, ttl: float,
                labels: Labels = NO_LABELS) -> Reservation:
        raise NotImplementedError

    def extend(self, reservation: Reservation, extra: Decimal) -> Reservation:
        raise NotImplementedError

    def settle(self, reservation: Reservation, cost: Decimal, *, outcome: Outcome = Outcome.OK,
               model: str | None = None, deployment: str | None = None) -> bool:
        raise NotImplementedError

    def release(self, reservation: Reservation) -> bool:
        raise NotImplementedError

    def balances(self, counters: Iterable[str]) -> dict[str, Balance]:
        raise NotImplementedError

    def scan(self, prefix: str) -> dict[str, Balance]:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


def check_ttl(ttl: float) -> float:
    if not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise InvalidRequestError(f"must be a number of seconds > 0, got {ttl!r}", field="ttl")
    return float(ttl)
