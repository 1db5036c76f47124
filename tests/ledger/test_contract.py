"""The ledger contract: every backend (memory, SQLite, Redis) passes this very module."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import pytest
from tests.ledger.conftest import Clock, MakeLedger

from router.errors import BudgetExceeded, InvalidRequestError, LedgerError
from router.ledger import Balance, Labels, Ledger, Limit, Outcome

D = Decimal
DAY = Limit("user/day:alice", D("1.00"), ("user/day|alice|2026-11-25",))
MONTH = Limit("global/month", D("10"), ("global/month|*|2026-11",))


def held(ledger: Ledger, limit: Limit) -> Balance:
    return ledger.balances([limit.book])[limit.book]


def test_every_backend_is_a_ledger(ledger: Ledger) -> None:
    assert isinstance(ledger, Ledger)
    assert ledger.url


def test_a_reservation_holds_its_amount_in_every_limit(ledger: Ledger) -> None:
    res = ledger.reserve([DAY, MONTH], D("0.25"), ttl=60)
    assert res.amount == D("0.25")
    assert res.limits == (DAY, MONTH)
    assert held(ledger, DAY) == Balance(D(0), D("0.25"))
    assert held(ledger, MONTH) == Balance(D(0), D("0.25"))


def test_a_reservation_that_does_not_fit_one_limit_is_made_in_none(ledger: Ledger) -> None:
    ledger.reserve([DAY], D("0.90"), ttl=60)
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve([MONTH, DAY], D("0.20"), ttl=60)
    err = caught.value
    assert err.budget == "user/day:alice"
    assert err.limit == D("1.00")
    assert err.remaining == D("0.10")
    assert err.cheapest_cost == D("0.20")
    assert "user/day:alice" in str(err)
    assert "$0.1 left" in str(err)
    assert held(ledger, MONTH) == Balance()  # all or none


def test_the_limit_is_reachable_exactly_and_not_one_nano_dollar_more(ledger: Ledger) -> None:
    ledger.reserve([DAY], D("0.999999999"), ttl=60)
    with pytest.raises(BudgetExceeded):
        ledger.reserve([DAY], D("0.000000002"), ttl=60)
    ledger.reserve([DAY], D("0.000000001"), ttl=60)
    assert held(ledger, DAY).reserved == D("1.00")


def test_amounts_round_up_and_limits_down_to_whole_nano_dollars(ledger: Ledger) -> None:
    res = ledger.reserve([Limit("odd", D("0.0000000019"), ("odd|*|total",))], D("0.00000000001"),
                         ttl=60)
    assert res.amount == D("0.000000001")
    with pytest.raises(BudgetExceeded):  # the limit counts as 1 nano-dollar, already held
        ledger.reserve([Limit("odd", D("0.0000000019"), ("odd|*|total",))], D("0.0000000001"),
                       ttl=60)


def test_settling_books_the_cost_frees_the_rest_and_writes_one_entry(ledger: Ledger,
                                                                     clock: Clock) -> None:
    labels = Labels(user="alice", team="search", tags=("summarise", "beta"))
    res = ledger.reserve([DAY, MONTH], D("0.25"), ttl=60, labels=labels)
    clock.advance(1)
    assert ledger.settle(res, D("0.0625"), model="gpt-4o-mini", deployment="gpt-4o-mini@openai")
    assert held(ledger, DAY) == Balance(D("0.0625"), D(0))
    assert held(ledger, MONTH) == Balance(D("0.0625"), D(0))
    [entry] = list(ledger.entries())
    assert entry.reservation == res.id
    assert entry.cost == D("0.0625")
    assert entry.outcome is Outcome.OK
    assert (entry.model, entry.deployment) == ("gpt-4o-mini", "gpt-4o-mini@openai")
    assert (entry.user, entry.team, entry.tags) == ("alice", "search", ("summarise", "beta"))
    assert entry.budgets == ("user/day:alice", "global/month")
    assert entry.at == pytest.approx(clock.now)


def test_a_reservation_is_settled_once(ledger: Ledger) -> None:
    res = ledger.reserve([DAY], D("0.5"), ttl=60)
    assert ledger.settle(res, D("0.1"))
    assert not ledger.settle(res, D("0.1"))
    assert not ledger.release(res)
    assert held(ledger, DAY) == Balance(D("0.1"), D(0))
    assert len(list(ledger.entries())) == 1


def test_release_frees_everything_and_records_nothing(ledger: Ledger) -> None:
    res = ledger.reserve([DAY, MONTH], D("0.5"), ttl=60)
    assert ledger.release(res)
    assert not ledger.release(res)
    assert not ledger.settle(res, D("0.5"))
    assert held(ledger, DAY) == Balance()
    assert list(ledger.entries()) == []


def test_a_settlement_above_the_reservation_is_recorded_as_spent(ledger: Ledger) -> None:
    # The provider billed more than the worst case: the ledger records the truth.
    res = ledger.reserve([DAY], D("0.1"), ttl=60)
    assert ledger.settle(res, D("0.3"), outcome=Outcome.FAILED)
    assert held(ledger, DAY) == Balance(D("0.3"), D(0))
    assert [e.outcome for e in ledger.entries()] == [Outcome.FAILED]


def test_extend_holds_more_atomically_or_raises(ledger: Ledger) -> None:
    res = ledger.reserve([DAY, MONTH], D("0.5"), ttl=60)
    res = ledger.extend(res, D("0.25"))
    assert res.amount == D("0.75")
    assert held(ledger, DAY).reserved == D("0.75")
    with pytest.raises(BudgetExceeded) as caught:
        ledger.extend(res, D("0.5"))
    assert caught.value.budget == "user/day:alice"
    assert held(ledger, DAY).reserved == D("0.75")
    assert held(ledger, MONTH).reserved == D("0.75")
    assert ledger.settle(res, D("0.7"))
    assert held(ledger, MONTH) == Balance(D("0.7"), D(0))


def test_extend_after_settlement_is_an_error(ledger: Ledger) -> None:
    res = ledger.reserve([DAY], D("0.1"), ttl=60)
    ledger.release(res)
    with pytest.raises(LedgerError, match="no longer live"):
        ledger.extend(res, D("0.1"))


def test_reservations_expire_after_their_ttl(ledger: Ledger, clock: Clock) -> None:
    res = ledger.reserve([DAY], D("0.6"), ttl=30)
    assert res.expires_at == pytest.approx(clock.now + 30)
    clock.advance(29)
    with pytest.raises(BudgetExceeded):
        ledger.reserve([DAY], D("0.6"), ttl=30)
    clock.advance(1)
    assert held(ledger, DAY) == Balance()
    ledger.reserve([DAY], D("0.6"), ttl=30)


def test_expire_sweeps_and_counts(ledger: Ledger, clock: Clock) -> None:
    for _ in range(3):
        ledger.reserve([DAY], D("0.1"), ttl=10)
    ledger.reserve([DAY], D("0.1"), ttl=100)
    clock.advance(10)
    assert ledger.expire() == 3
    assert ledger.expire() == 0
    assert held(ledger, DAY).reserved == D("0.1")


def test_extend_renews_the_ttl(ledger: Ledger, clock: Clock) -> None:
    res = ledger.reserve([DAY], D("0.1"), ttl=30)
    clock.advance(20)
    res = ledger.extend(res, D("0.1"))
    assert res.expires_at == pytest.approx(clock.now + 30)
    clock.advance(20)
    assert held(ledger, DAY).reserved == D("0.2")


def test_a_late_settlement_is_still_recorded(ledger: Ledger, clock: Clock) -> None:
    """The process was slow, not dead: its spend is real, even if it now exceeds the limit."""
    res = ledger.reserve([DAY], D("0.6"), ttl=5)
    clock.advance(6)
    other = ledger.reserve([DAY], D("0.9"), ttl=60)
    assert ledger.settle(res, D("0.5"))
    assert held(ledger, DAY) == Balance(D("0.5"), D("0.9"))
    assert not ledger.settle(res, D("0.5"))
    assert ledger.release(other)


def test_an_expired_reservation_can_be_released_once(ledger: Ledger, clock: Clock) -> None:
    res = ledger.reserve([DAY], D("0.6"), ttl=5)
    clock.advance(6)
    assert ledger.release(res)
    assert not ledger.settle(res, D("0.1"))
    assert held(ledger, DAY) == Balance()


def test_a_rolling_limit_sums_its_counters_and_books_to_the_first(ledger: Ledger) -> None:
    old = Limit("rolling", D("1"), ("r|*|r99",))
    ledger.settle(ledger.reserve([old], D("0.7"), ttl=60), D("0.7"))
    now = Limit("rolling", D("1"), ("r|*|r100", "r|*|r99"))
    with pytest.raises(BudgetExceeded):
        ledger.reserve([now], D("0.4"), ttl=60)
    ledger.settle(ledger.reserve([now], D("0.3"), ttl=60), D("0.3"))
    assert ledger.balances(["r|*|r100", "r|*|r99"]) == {
        "r|*|r100": Balance(D("0.3"), D(0)), "r|*|r99": Balance(D("0.7"), D(0))}


def test_a_reservation_without_limits_still_records_its_spend(ledger: Ledger) -> None:
    res = ledger.reserve([], D("0.5"), ttl=60)
    assert ledger.settle(res, D("0.2"), model="m", deployment="d")
    assert [(e.cost, e.budgets) for e in ledger.entries()] == [(D("0.2"), ())]


@pytest.mark.parametrize("amount", [D("-0.1"), D("NaN"), D("Infinity"), 0.5])
def test_bad_amounts_are_refused(ledger: Ledger, amount: object) -> None:
    with pytest.raises(InvalidRequestError, match="amount"):
        ledger.reserve([DAY], amount, ttl=60)  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", [0, -1, float("inf"), float("nan")])
def test_bad_ttls_are_refused(ledger: Ledger, ttl: float) -> None:
    with pytest.raises(InvalidRequestError, match="ttl"):
        ledger.reserve([DAY], D("0.1"), ttl=ttl)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="counter"):
        Limit("x", D("1"), ())
    with pytest.raises(InvalidRequestError, match="counter"):
        Limit("x", D("1"), ("a", "a"))
    with pytest.raises(InvalidRequestError, match=">= 0"):
        Limit("x", D("-1"), ("a",))


def test_entries_are_filtered_by_time_and_ordered(ledger: Ledger, clock: Clock) -> None:
    start = clock.now
    for cost in ("0.1", "0.2", "0.3"):
        ledger.settle(ledger.reserve([DAY], D(cost), ttl=60), D(cost))
        clock.advance(10)
    assert [e.cost for e in ledger.entries()] == [D("0.1"), D("0.2"), D("0.3")]
    assert [e.cost for e in ledger.entries(since=start + 5)] == [D("0.2"), D("0.3")]
    assert [e.cost for e in ledger.entries(since=start + 5, until=start + 20)] == [D("0.2")]


def test_scan_finds_counters_by_prefix(ledger: Ledger) -> None:
    for user in ("alice", "bob"):
        limit = Limit(f"user/day:{user}", D(1), (f"user/day|{user}|2026-11-25",))
        ledger.settle(ledger.reserve([limit], D("0.1"), ttl=60), D("0.1"))
    ledger.reserve([Limit("held", D(1), ("user/day|carol|2026-11-25",))], D("0.2"), ttl=60)
    ledger.reserve([MONTH], D("0.1"), ttl=60)
    found = ledger.scan("user/day|")
    assert found == {
        "user/day|alice|2026-11-25": Balance(D("0.1"), D(0)),
        "user/day|bob|2026-11-25": Balance(D("0.1"), D(0)),
        "user/day|carol|2026-11-25": Balance(D(0), D("0.2")),
    }
    assert ledger.scan("nothing|") == {}


def test_handles_on_one_store_share_it(make_ledger: MakeLedger) -> None:
    first, second = make_ledger(), make_ledger()
    res = first.reserve([DAY], D("0.75"), ttl=60)
    with pytest.raises(BudgetExceeded):
        second.reserve([DAY], D("0.5"), ttl=60)
    assert second.settle(res, D("0.5"))
    assert not first.settle(res, D("0.5"))
    assert held(first, DAY) == Balance(D("0.5"), D(0))


async def test_the_async_twins_match(ledger: Ledger) -> None:
    res = await ledger.areserve([DAY], D("0.5"), ttl=60, labels=Labels(user="alice"))
    res = await ledger.aextend(res, D("0.25"))
    with pytest.raises(BudgetExceeded):
        await ledger.areserve([DAY], D("0.5"), ttl=60)
    assert (await ledger.abalances([DAY.book]))[DAY.book] == Balance(D(0), D("0.75"))
    assert await ledger.asettle(res, D("0.5"), model="m")
    assert not await ledger.asettle(res, D("0.5"))
    other = await ledger.areserve([DAY], D("0.1"), ttl=60)
    assert await ledger.arelease(other)
    assert not await ledger.arelease(other)
    assert await ledger.ascan("user/day|") == {DAY.book: Balance(D("0.5"), D(0))}
    [entry] = list(ledger.entries())
    assert (entry.cost, entry.user, entry.model) == (D("0.5"), "alice", "m")
    await ledger.aclose()


async def test_a_cancelled_call_is_cancelled(ledger: Ledger) -> None:
    """`task.cancel()` is honoured (redis-py with a socket timeout used to swallow it)."""
    for i in range(60):
        task = asyncio.ensure_future(ledger.abalances([DAY.book]))
        await asyncio.sleep(0.00003 * (i % 12))
        if task.cancel():
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            await task


async def test_concurrent_tasks_never_overbook(ledger: Ledger) -> None:
    limit = Limit("tight", D("1"), ("tight|*|total",))

    async def one() -> bool:
        try:
            res = await ledger.areserve([limit], D("0.03"), ttl=60)
        except BudgetExceeded:
            return False
        await asyncio.sleep(0)
        await ledger.asettle(res, D("0.03"))
        return True

    results = await asyncio.gather(*(one() for _ in range(64)))
    assert sum(results) == 33
    assert held(ledger, limit) == Balance(D("0.99"), D(0))


def test_concurrent_threads_never_overbook(make_ledger: MakeLedger) -> None:
    limit = Limit("tight", D("1"), ("tight|*|total",))
    wins: list[int] = []

    def worker() -> None:
        ledger = make_ledger()
        for _ in range(10):
            try:
                res = ledger.reserve([limit], D("0.01"), ttl=60)
            except BudgetExceeded:
                continue
            ledger.settle(res, D("0.01"))
            wins.append(1)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 100
    assert held(make_ledger(), limit) == Balance(D("1"), D(0))
