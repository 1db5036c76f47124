"""The in-process ledger (the default): exact and safe across threads and asyncio tasks of one process.

It forgets everything when the process exits; use SQLite or Redis for budgets that must persist or
be shared between processes.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from router.ledger.base import (
    NO_LABELS,
    Balance,
    BlockingLedger,
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

__all__ = ["MemoryLedger"]

_TOMBSTONES = 100_000  # expired reservations remembered, so a late settlement is still recorded


@dataclass(slots=True)
class _Held:
    amount: int
    books: tuple[str, ...]
    expires_at: float
    ttl: float


class MemoryLedger(BlockingLedger):
    """Counters and reservations in dicts behind one lock; the last `max_entries` entries are kept
    for `entries()` (counters stay exact however many there were)."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_entries: int = 100_000):
        self.url = "memory" if max_entries == 100_000 else f"memory://?max_entries={max_entries}"
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: dict[str, int] = {}
        self._held: dict[str, int] = {}
        self._live: dict[str, _Held] = {}
        self._expired: OrderedDict[str, _Held] = OrderedDict()
        self._deadlines: list[tuple[float, str]] = []
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._prefix, self._ids = os.urandom(6).hex() + "-", itertools.count(1)  # unique in-process

    def __repr__(self) -> str:
        return f"MemoryLedger({len(self._live)} live reservations)"

    def reserve(self, limits: Sequence[Limit], amount: Decimal, *, ttl: float,
                labels: Labels = NO_LABELS) -> Reservation:
        units, ttl, limits = check_amount(amount, field="amount"), check_ttl(ttl), tuple(limits)
        rid = f"{self._prefix}{next(self._ids)}"
        books = tuple(dict.fromkeys(limit.book for limit in limits))
        with self._lock:
            now = self._clock()
            self._sweep(now)
            self._check(limits, units)
            for book in books:
                self._held[book] = self._held.get(book, 0) + units
            held = self._live[rid] = _Held(units, books, now + ttl, ttl)
            self._schedule(held.expires_at, rid)
        return Reservation(rid, from_units(units), limits, held.expires_at, labels)

    def extend(self, reservation: Reservation, extra: Decimal) -> Reservation:
        units = check_amount(extra, field="extra")
        with self._lock:
            now = self._clock()
            self._sweep(now)
            held = self._live.get(reservation.id)
            if held is None:
                raise not_live(reservation)
            self._check(reservation.limits, units)
            for book in held.books:
                self._held[book] = self._held.get(book, 0) + units
            held.amount += units
            held.expires_at = now + held.ttl
            self._schedule(held.expires_at, reservation.id)
            amount, expires_at = held.amount, held.expires_at
        return Reservation(reservation.id, from_units(amount), reservation.limits, expires_at,
                           reservation.labels)

    def settle(self, reservation: Reservation, cost: Decimal, *, outcome: Outcome = Outcome.OK,
               model: str | None = None, deployment: str | None = None) -> bool:
        units = check_amount(cost, field="cost")
        with self._lock:
            now = self._clock()
            self._sweep(now)
            held = self._close(reservation.id)
            if held is None:
                return False
            for book in held.books:
                self._spent[book] = self._spent.get(book, 0) + units
            labels = reservation.labels
            self._entries.append(Entry(
                at=now, reservation=reservation.id, cost=from_units(units), outcome=outcome,
                model=model, deployment=deployment, user=labels.user, team=labels.team,
                tags=labels.tags, budgets=tuple(limit.name for limit in reservation.limits),
            ))
        return True

    def record(self, cost: Decimal, *, outcome: Outcome = Outcome.OK, model: str | None = None,
               deployment: str | None = None, labels: Labels = NO_LABELS) -> bool:
        """Write the entry of a call no budget applies to: what `settle` writes for a reservation
        of no limits, without making one (nothing to hold, so nothing to reserve first)."""
        units = check_amount(cost, field="cost")
        rid = f"{self._prefix}{next(self._ids)}"
        with self._lock:
            now = self._clock()
            self._sweep(now)
            self._entries.append(Entry(
                at=now, reservation=rid, cost=from_units(units), outcome=outcome, model=model,
                deployment=deployment, user=labels.user, team=labels.team, tags=labels.tags,
            ))
        return True

    def release(self, reservation: Reservation) -> bool:
        with self._lock:
            self._sweep(self._clock())
            return self._close(reservation.id) is not None

    def balances(self, counters: Iterable[str]) -> dict[str, Balance]:
        with self._lock:
            self._sweep(self._clock())
            return {c: self._balance(c) for c in counters}

    def scan(self, prefix: str) -> dict[str, Balance]:
        with self._lock:
            self._sweep(self._clock())
            keys = {k for k in self._spent if k.startswith(prefix)}
            keys.update(k for k in self._held if k.startswith(prefix))
            return {k: self._balance(k) for k in sorted(keys)}

    def entries(self, *, since: float | None = None, until: float | None = None) -> Iterator[Entry]:
        with self._lock:
            snapshot = list(self._entries)
        return (e for e in snapshot
                if (since is None or e.at >= since) and (until is None or e.at < until))

    def expire(self) -> int:
        with self._lock:
            return self._sweep(self._clock())

    # -- under the lock ---------------------------------------------------------------------

    def _balance(self, counter: str) -> Balance:
        return Balance(from_units(self._spent.get(counter, 0)),
                       from_units(self._held.get(counter, 0)))

    def _check(self, limits: Sequence[Limit], units: int) -> None:
        for limit in limits:
            spent = sum(self._spent.get(c, 0) for c in limit.counters)
            held = sum(self._held.get(c, 0) for c in limit.counters)
            if spent + held + units > limit.units:
                raise refused(limit, from_units(units), from_units(spent), from_units(held))

    def _close(self, rid: str) -> _Held | None:
        """Forget a live (or expired) reservation and free what it held."""
        held = self._live.pop(rid, None)
        if held is None:
            return self._expired.pop(rid, None)
        self._unhold(held)
        return held

    def _unhold(self, held: _Held) -> None:
        for book in held.books:
            left = self._held.get(book, 0) - held.amount
            if left:
                self._held[book] = left
            else:
                self._held.pop(book, None)

    def _schedule(self, deadline: float, rid: str) -> None:
        heapq.heappush(self._deadlines, (deadline, rid))
        # Settled reservations leave their deadline behind; rebuild before those pile up.
        if len(self._deadlines) > 2 * len(self._live) + 1024:
            self._deadlines = [(h.expires_at, r) for r, h in self._live.items()]
            heapq.heapify(self._deadlines)

    def _sweep(self, now: float) -> int:
        expired = 0
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, rid = heapq.heappop(self._deadlines)
            held = self._live.get(rid)
            if held is None or held.expires_at != deadline:
                continue  # settled, released, or extended since
            del self._live[rid]
            self._unhold(held)
            self._expired[rid] = held
            if len(self._expired) > _TOMBSTONES:
                self._expired.popitem(last=False)
            expired += 1
        return expired

