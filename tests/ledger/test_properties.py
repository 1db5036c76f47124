"""Property test: random sequences of reserve / extend / settle / release / time passing / expire,
on every backend, against a model of what the ledger must hold.

After every step the ledger's spent and reserved equal the model's, to the nano-dollar; no limit
ever has more spent plus reserved than its limit (unless a reservation expired before its late
settlement, which the ledger records as spent by design); and when the run ends, releasing what is
left and letting the rest expire leaves nothing reserved.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from tests.ledger.conftest import BACKENDS, Clock

from router.errors import BudgetExceeded, LedgerError
from router.ledger import Ledger, Limit, MemoryLedger, Reservation, from_units
from router.ledger.sqlite import SQLiteLedger

LIMITS = (
    Limit("day", Decimal("1"), ("day|*|2026-11-25",)),
    Limit("user", Decimal("0.5"), ("user|alice|2026-11-25",)),
    Limit("rolling", Decimal("0.8"), ("roll|*|r101", "roll|*|r100")),  # books to r101
)
COUNTERS = sorted({c for limit in LIMITS for c in limit.counters})
RUNS = {"memory": 100, "sqlite": 40, "redis": 40}

units = st.one_of(st.integers(0, 600) .map(lambda n: n * 1_000_000),  # round amounts...
                  st.integers(0, 600_000_000))  # ...and odd nano-dollar ones


@dataclass
class Held:
    amount: int  # nano-USD
    books: tuple[str, ...]
    expires_at: float
    ttl: float


class LedgerMachine(RuleBasedStateMachine):
    make: Any = None  # set per backend: () -> (ledger, clock)

    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.ledger, self.clock = type(self).make()
        self.spent = dict.fromkeys(COUNTERS, 0)
        self.live: dict[str, Held] = {}
        self.expired: dict[str, Held] = {}
        self.late: set[str] = set()  # counters where a late settlement may exceed a limit

    # -- the model ----------------------------------------------------------------------------

    def _sweep(self) -> int:
        gone = [rid for rid, h in self.live.items() if h.expires_at <= self.clock.now]
        for rid in gone:
            self.expired[rid] = self.live.pop(rid)
        return len(gone)

    def _held(self, counter: str) -> int:
        return sum(h.amount for h in self.live.values() if counter in h.books)

    def _fits(self, limits: tuple[Limit, ...], amount: int) -> bool:
        return all(
            sum(self.spent[c] + self._held(c) for c in limit.counters) + amount
            <= int(limit.limit * 10**9)
            for limit in limits
        )

    # -- rules ----------------------------------------------------------------------------------

    @rule(target=reservations,
          chosen=st.lists(st.sampled_from(LIMITS), min_size=0, max_size=3, unique=True),
          amount=units, ttl=st.sampled_from([5.0, 50.0]))
    def reserve(self, chosen: list[Limit], amount: int, ttl: float) -> Reservation | None:
        limits = tuple(chosen)
        self._sweep()
        fits = self._fits(limits, amount)
        try:
            res = self.ledger.reserve(limits, from_units(amount), ttl=ttl)
        except BudgetExceeded:
            assert not fits, "refused a reservation that fits"
            return None
        assert fits, "accepted a reservation that does not fit"
        books = tuple(dict.fromkeys(limit.book for limit in limits))
        self.live[res.id] = Held(amount, books, self.clock.now + ttl, ttl)
        return res

    @rule(target=reservations, res=consumes(reservations), extra=units)
    def extend(self, res: Reservation | None, extra: int) -> Reservation | None:
        if res is None:
            return None
        self._sweep()
        held = self.live.get(res.id)
        try:
            new = self.ledger.extend(res, from_units(extra))
        except LedgerError:
            assert held is None
            return res
        except BudgetExceeded:
            assert held is not None
            assert not self._fits(res.limits, extra)
            return res
        assert held is not None
        assert self._fits(res.limits, extra)
        held.amount += extra
        held.expires_at = self.clock.now + held.ttl
        assert new.amount == from_units(held.amount)
        return new

    @rule(res=reservations, share=st.fractions(0, 1))
    def settle(self, res: Reservation | None, share: Any) -> None:
        if res is None:
            return
        self._sweep()
        held = self.live.pop(res.id, None)
        late = held is None and res.id in self.expired
        if late:
            held = self.expired.pop(res.id)
        cost = int(int(res.amount * 10**9) * share)
        recorded = self.ledger.settle(res, from_units(cost))
        assert recorded == (held is not None)
        if held is not None:
            for book in held.books:
                self.spent[book] += cost
                if late:
                    self.late.add(book)

    @rule(res=reservations)
    def release(self, res: Reservation | None) -> None:
        if res is None:
            return
        self._sweep()
        was = self.live.pop(res.id, None) or self.expired.pop(res.id, None)
        assert self.ledger.release(res) == (was is not None)

    @rule(seconds=st.sampled_from([0.5, 4.0, 10.0, 60.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def expire(self) -> None:
        # How many it reports depends on whether a read already swept (memory and Redis sweep on
        # reads, SQLite reads filter): only the balances afterwards are the contract.
        assert self.ledger.expire() >= 0
        self._sweep()

    # -- what must always hold ----------------------------------------------------------------

    @invariant()
    def balances_match_the_model(self) -> None:
        self._sweep()
        balances = self.ledger.balances(COUNTERS)
        for counter in COUNTERS:
            assert balances[counter].spent == from_units(self.spent[counter]), counter
            assert balances[counter].reserved == from_units(self._held(counter)), counter

    @invariant()
    def no_limit_is_exceeded(self) -> None:
        balances = self.ledger.balances(COUNTERS)
        for limit in LIMITS:
            if self.late & set(limit.counters):
                continue
            used = sum(balances[c].spent + balances[c].reserved for c in limit.counters)
            assert used <= limit.limit, limit.name

    def teardown(self) -> None:
        try:
            for rid in list(self.live)[::2]:  # release half by hand, let the rest expire
                limits = tuple(limit for limit in LIMITS if limit.book in self.live[rid].books)
                assert self.ledger.release(Reservation(rid, Decimal(0), limits, 0.0))
            self.clock.advance(1000)
            balances = self.ledger.balances(COUNTERS)
            assert all(b.reserved == 0 for b in balances.values()), "a reservation leaked"
        finally:
            self.ledger.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_reserve_settle_release_expire_sequences(backend: str, tmp_path: Path,
                                                 request: pytest.FixtureRequest) -> None:
    redis = request.getfixturevalue("redis_url") if backend == "redis" else None

    def make() -> tuple[Ledger, Clock]:
        clock = Clock()
        if backend == "memory":
            return MemoryLedger(clock=clock), clock
        if backend == "sqlite":
            return SQLiteLedger(tmp_path / f"{uuid.uuid4().hex}.db", clock=clock), clock
        from router.ledger.redis import RedisLedger

        return RedisLedger(f"{redis}?prefix=p{uuid.uuid4().hex[:12]}", clock=clock), clock

    machine = type(f"LedgerMachine_{backend}", (LedgerMachine,), {"make": staticmethod(make)})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=RUNS[backend], stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    ))
