"""What only the memory ledger has to watch: staying small in a long-running process."""

from __future__ import annotations

from decimal import Decimal

from router.ledger import Limit, MemoryLedger, open_ledger

LIMIT = Limit("g", Decimal(1000), ("g|*|total",))


def test_settled_reservations_leave_nothing_behind() -> None:
    ledger = MemoryLedger()
    for _ in range(5000):
        ledger.settle(ledger.reserve([LIMIT], Decimal("0.01"), ttl=900), Decimal("0.01"))
    assert len(ledger._deadlines) <= 1024 + 1  # rebuilt, not one deadline per call
    assert ledger.balances([LIMIT.book])[LIMIT.book].spent == Decimal(50)


def test_only_the_last_entries_are_kept_but_counters_stay_exact() -> None:
    ledger = open_ledger("memory://?max_entries=10")
    for _ in range(25):
        ledger.settle(ledger.reserve([LIMIT], Decimal("0.01"), ttl=900), Decimal("0.01"))
    assert len(list(ledger.entries())) == 10
    assert ledger.balances([LIMIT.book])[LIMIT.book].spent == Decimal("0.25")
