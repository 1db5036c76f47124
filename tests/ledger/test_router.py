"""Shared budgets through the Router: reserve before the call, settle after, release on failure
and cancellation, bill abandoned streams; reject and downgrade; spend reports; ledger outages."""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import logging
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.ledger.conftest import _free_port
from tests.ledger.helpers import NOW, MovingClock, Scripted, config

from router import BudgetExceeded, ConfigError, LedgerError, Router, ServerError
from router.ledger import Balance, Limit, Outcome

D = Decimal
USER_DAY = "user/day|alice|2026-11-25"


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
def make(scripted: Scripted, clock: MovingClock) -> Iterator[Any]:
    made: list[Router] = []

    def build(budgets: list[dict[str, Any]], **extra: Any) -> Router:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            router = Router(config(budgets, **extra), transport=scripted.transport(), clock=clock,
                            env={})
        made.append(router)
        return router

    yield build
    for router in made:
        router.close()


def balance(router: Router, counter: str = USER_DAY) -> Balance:
    return router.ledger.balances([counter])[counter]


def test_the_worst_case_is_held_during_the_call_and_settled_after(make: Any,
                                                                   scripted: Scripted) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    worst = router.route("Hello there", user="alice", max_tokens=100).chosen.worst_case_cost
    seen: list[Balance] = []
    scripted.during = lambda request: seen.append(balance(router))
    reply = router.complete("Hello there", user="alice", team="search", tags=["greet"],
                            max_tokens=100)
    assert seen == [Balance(D(0), worst)]
    assert balance(router) == Balance(reply.cost, D(0))
    [entry] = list(router.ledger.entries())
    assert (entry.cost, entry.outcome, entry.model, entry.deployment) == (
        reply.cost, Outcome.OK, reply.model, reply.deployment)
    assert (entry.user, entry.team, entry.tags) == ("alice", "search", ("greet",))
    assert entry.budgets == ("user/day:alice",)


async def test_the_async_shell_holds_and_settles_the_same_way(make: Any, scripted: Scripted) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    worst = router.route("Hello there", user="alice", max_tokens=100).chosen.worst_case_cost
    seen: list[Balance] = []
    scripted.during = lambda request: seen.append(balance(router))
    reply = await router.acomplete("Hello there", user="alice", max_tokens=100)
    assert seen == [Balance(D(0), worst)]
    assert balance(router) == Balance(reply.cost, D(0))
    await router.aclose()


def test_route_reserves_nothing(make: Any) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    assert router.route("hi", user="alice").budget == D(1)
    assert balance(router) == Balance()


def test_a_call_that_does_not_fit_is_rejected_and_never_sent(make: Any,
                                                             scripted: Scripted) -> None:
    router = make([{"scope": "user", "limit": "0.000001", "window": "day"}])
    for call in (lambda: router.complete("hi " * 50, user="alice", max_tokens=100),
                 lambda: asyncio.run(router.acomplete("hi " * 50, user="alice", max_tokens=100)),
                 lambda: router.stream("hi " * 50, user="alice", max_tokens=100)):
        with pytest.raises(BudgetExceeded) as caught:
            call()
        assert caught.value.budget == "user/day:alice"
        assert caught.value.remaining == D("0.000001")
    assert scripted.calls == 0
    assert router.complete("hi", user="bob", max_tokens=5).text  # another user has room


def test_downgrade_moves_to_a_cheaper_model_reject_refuses(make: Any) -> None:
    # gpt-4o's worst case here is $0.002025 and a call costs ~$0.00008: one fits, not two
    budgets = [{"scope": "user", "limit": "0.0021", "window": "day", "on_exceed": "downgrade"}]
    router = make(budgets, routing={"strategy": "best"})
    assert router.complete("Explain tides.", user="alice", max_tokens=200).model == "gpt-4o"
    second = router.complete("Explain tides.", user="alice", max_tokens=200)
    assert second.model == "gpt-4o-mini"
    assert "gpt-4o@openai" in second.decision.excluded_deployments
    strict = make([{**budgets[0], "on_exceed": "reject", "name": "strict"}],
                  routing={"strategy": "best"})
    assert strict.complete("Explain tides.", user="alice", max_tokens=200).model == "gpt-4o"
    with pytest.raises(BudgetExceeded, match="'strict:alice' has .* gpt-4o needs up to"):
        strict.complete("Explain tides.", user="alice", max_tokens=200)


def test_a_failed_call_releases_its_reservation(make: Any, scripted: Scripted) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    scripted.fail = [500, 500, 500]  # every candidate
    with pytest.raises(ServerError):
        router.complete("hi", user="alice", max_tokens=50)
    assert scripted.calls == 3
    assert balance(router) == Balance()
    assert list(router.ledger.entries()) == []


def test_a_fallback_extends_the_hold_when_the_budget_has_room(make: Any,
                                                              scripted: Scripted) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    plan = router.route("hi", user="alice", max_tokens=50)
    first, second = plan.candidates[:2]
    assert second.worst_case_cost > first.worst_case_cost
    seen: list[Balance] = []
    scripted.during = lambda request: seen.append(balance(router))
    scripted.fail = [500]
    reply = router.complete("hi", user="alice", max_tokens=50)
    assert reply.deployment == second.deployment
    assert [b.reserved for b in seen] == [first.worst_case_cost, second.worst_case_cost]
    assert balance(router) == Balance(reply.cost, D(0))


def test_a_fallback_the_budget_cannot_cover_is_skipped(make: Any, scripted: Scripted) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    taken: list[Any] = []

    def another_process_takes_the_rest(request: httpx.Request) -> None:
        if not taken:
            left = D(1) - balance(router).reserved
            taken.append(router.ledger.reserve([Limit("user/day:alice", D(1), (USER_DAY,))],
                                               left, ttl=60))

    scripted.during = another_process_takes_the_rest
    scripted.fail = [500]
    with pytest.raises(ServerError) as caught:
        router.complete("hi", user="alice", max_tokens=50)
    assert scripted.calls == 1  # no fallback fitted what the other process left
    skipped = [a for a in caught.value.decision.attempts if a.outcome == "skipped"]
    assert len(skipped) == 2
    # the failed first attempt cost nothing, so its hold was given back: only that much is left
    assert all("'user/day:alice' has $0.00000216 left" in (a.error or "") for a in skipped)
    assert balance(router).reserved == taken[0].amount  # only the other process's hold


async def test_a_cancelled_task_releases_its_reservation(make: Any, scripted: Scripted) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    scripted.delay = 5
    task = asyncio.create_task(router.acomplete("hi", user="alice", max_tokens=50))
    while scripted.arrived == 0:  # in flight at the provider
        await asyncio.sleep(0.001)
    assert balance(router).reserved > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert balance(router) == Balance()
    await router.aclose()


async def test_a_task_cancelled_while_reserving_gives_the_reservation_back(make: Any) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    router.route("hi", user="alice", max_tokens=50)  # tokenizers loaded
    task = asyncio.create_task(router.acomplete("hi", user="alice", max_tokens=50))
    while balance(router).reserved == 0:
        await asyncio.sleep(0)
    task.cancel()  # the reservation is made; acomplete has not seen it yet
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(10):
        await asyncio.sleep(0)
    assert balance(router) == Balance()


def test_a_finished_stream_settles_at_its_cost(make: Any) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    stream = router.stream("Tell me a story about a lighthouse.", user="alice", max_tokens=50)
    assert balance(router).reserved > 0
    text = "".join(stream)
    assert text
    assert balance(router) == Balance(stream.reply.cost, D(0))


def test_an_abandoned_stream_is_billed_for_what_it_received(make: Any) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    stream = router.stream("Tell me a story about a lighthouse.", user="alice", max_tokens=50)
    deltas = iter(stream)
    next(deltas)
    deltas.close()  # GeneratorExit at the yield
    cost = stream.decision.spent
    assert cost > 0  # the input and the tokens received: the provider billed them
    assert balance(router) == Balance(cost, D(0))
    [entry] = list(router.ledger.entries())
    assert (entry.cost, entry.outcome) == (cost, Outcome.CANCELLED)


def test_a_stream_dropped_unread_releases(make: Any) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    stream = router.stream("Tell me a story.", user="alice", max_tokens=50)
    assert balance(router).reserved > 0
    del stream
    gc.collect()
    assert balance(router) == Balance()


async def test_an_abandoned_async_stream_is_billed_for_what_it_received(make: Any) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    stream = router.astream("Tell me a story about a lighthouse.", user="alice", max_tokens=50)
    deltas = stream.__aiter__()
    await deltas.__anext__()
    await deltas.aclose()  # type: ignore[attr-defined]
    cost = stream.decision.spent
    assert cost > 0
    assert balance(router) == Balance(cost, D(0))
    done = router.astream("Tell me a story.", user="alice", max_tokens=50)
    assert "".join([d async for d in done])
    assert balance(router) == Balance(cost + done.reply.cost, D(0))
    await router.aclose()


def test_a_reservation_outlives_no_ttl(make: Any, scripted: Scripted, clock: MovingClock) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}], reservation_ttl=5,
                  timeouts={"total": 4})
    seen: list[Balance] = []

    def stall(request: httpx.Request) -> None:
        clock.advance(6)  # the process "hangs" past the TTL
        seen.append(balance(router))

    scripted.during = stall
    reply = router.complete("hi", user="alice", max_tokens=50)
    assert seen == [Balance()]
    assert balance(router) == Balance(reply.cost, D(0))  # the late settlement still counts


def test_cover_extends_the_hold_for_a_fallback(make: Any) -> None:
    router = make([{"scope": "user", "limit": "0.01", "window": "day"}])
    routing = router._routing("hi", None, None, None, {"user": "alice", "max_tokens": 50})
    _decision, hold = router._budgets.reserve(routing)
    held = balance(router).reserved
    hold.cover(held / 2)  # already covered: nothing changes
    assert balance(router).reserved == held
    hold.cover(D("0.006"))
    assert balance(router).reserved == D("0.006")
    with pytest.raises(BudgetExceeded, match="user/day:alice"):
        hold.cover(D("0.02"))
    hold.close(None)
    assert balance(router) == Balance()


def test_a_shared_sqlite_file_is_one_budget_for_two_routers(make: Any, tmp_path: Path) -> None:
    budgets = [{"scope": "global", "limit": "0.00001", "window": "month"}]
    url = f"sqlite://{tmp_path / 'spend.db'}"
    first, second = make(budgets, ledger=url), make(budgets, ledger=url)
    spent = D(0)
    with pytest.raises(BudgetExceeded):  # noqa: PT012 - alternate until the shared budget is gone
        for i in range(1000):
            spent += (first if i % 2 else second).complete("hi", max_tokens=20).cost
    counter = "global/month|*|2026-11"
    assert first.ledger.balances([counter])[counter] == Balance(spent, D(0))
    assert spent <= D("0.00001")


def test_an_unreachable_ledger_fails_closed_by_default(make: Any, scripted: Scripted) -> None:
    pytest.importorskip("redis")
    router = make([{"scope": "user", "limit": "1", "window": "day"}],
                  ledger=f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.raises(LedgerError, match="redis ledger at"):
        router.complete("hi", user="alice")
    assert scripted.calls == 0


def test_fail_open_goes_ahead_with_a_warning(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("redis")
    router = make([{"scope": "user", "limit": "1", "window": "day"}],
                  ledger=f"redis://127.0.0.1:{_free_port()}/0", on_ledger_error="fail_open")
    with caplog.at_level(logging.WARNING, logger="router"):
        reply = router.complete("hi", user="alice", max_tokens=20)
    assert reply.text
    assert "on_ledger_error: fail_open" in caplog.text


@pytest.mark.parametrize(("extra", "message"), [
    ({"budgets": [{"scope": "tenant", "limit": "1"}]}, r"budgets\[0\]\.scope: Input should be"),
    ({"budgets": [{"scope": "user", "limit": "-2"}]}, r"budgets\[0\]\.limit: '-2' is not a USD amount"),
    ({"budgets": [{"scope": "user", "limit": "2", "window": "year"}]}, r"budgets\[0\]\.window"),
    ({"ledger": "mongodb://x"}, "ledger: unknown ledger 'mongodb://x'"),
    ({"on_ledger_error": "shrug"}, "on_ledger_error: Input should be 'fail_closed' or 'fail_open'"),
    ({"reservation_ttl": 0}, "reservation_ttl: Input should be greater than 0"),
    ({"budgets": [{"scope": "model", "limit": "2", "match": "gpt-5"}]},
     r"budgets\[0\].match: no model called 'gpt-5'"),
    # a reservation must outlive the call that holds it
    ({"budgets": [{"scope": "user", "limit": "2"}], "reservation_ttl": 60,
      "timeouts": {"total": 120}},
     "reservation_ttl: 60s is not longer than a call may take .timeouts.total: 120s."),
    ({"budgets": [{"scope": "user", "limit": "2"}], "timeouts": {"total": None}},
     "timeouts.total: shared budgets need calls that end"),
])
def test_bad_budget_config_is_a_config_error(extra: dict[str, Any], message: str) -> None:
    cfg = {**config([]), **extra}
    with pytest.raises(ConfigError, match=message):
        Router(cfg, env={})


def test_a_sqlite_ledger_in_a_missing_folder_is_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^ledger: cannot open .* does not exist"):
        Router(config([], ledger=f"sqlite://{tmp_path / 'missing' / 'spend.db'}"), env={})


def test_spend_reports_budgets_and_models(make: Any) -> None:
    router = make([
        {"scope": "global", "limit": "5", "window": "month"},
        {"scope": "user", "limit": "1", "window": "day"},
        {"scope": "model", "limit": "2", "match": "gpt-4o"},
    ])
    costs = [router.complete("hi", user=user, max_tokens=20).cost for user in ("alice", "bob",
                                                                                 "alice")]
    costs.append(router.complete("hi", user="bob", models=["gpt-4o"], max_tokens=20).cost)
    report = router.spend()
    rows = {b.name: b for b in report.budgets}
    assert set(rows) == {"global/month", "user/day:alice", "user/day:bob", "model=gpt-4o"}
    assert rows["global/month"].spent == sum(costs)
    assert rows["user/day:alice"].spent == costs[0] + costs[2]
    assert rows["user/day:bob"].remaining == D(1) - costs[1] - costs[3]
    assert rows["model=gpt-4o"].spent == costs[3]
    assert rows["user/day:alice"].window == "day 2026-11-25"
    assert rows["global/month"].start is not None
    assert report.total == sum(costs)
    assert {(m.model, m.calls) for m in report.by_model} == {("mistral-nemo", 3), ("gpt-4o", 1)}
    assert "user/day:alice" in str(report)
    mine = router.spend(user="alice")
    assert [b.name for b in mine.budgets] == ["global/month", "user/day:alice", "model=gpt-4o"]
    assert asyncio.run(router.aspend(user="alice")) == mine
    assert router.spend(since=NOW.replace(year=2027)).by_model == ()


def test_spend_exports_as_csv_and_jsonl(make: Any, tmp_path: Path) -> None:
    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    reply = router.complete("hi", user="alice", tags=["a b", "c,d"], max_tokens=20)
    assert reply.cost < D("0.000001")  # Decimal's str() would print it as 2.6E-7
    assert router.export_spend(tmp_path / "spend.csv") == 1
    with (tmp_path / "spend.csv").open(newline="") as fp:
        [row] = list(csv.DictReader(fp))
    assert list(row) == ["at", "reservation", "cost_usd", "outcome", "model", "deployment", "user",
                         "team", "tags", "budgets"]
    assert "E" not in row["cost_usd"]
    assert D(row["cost_usd"]) == reply.cost
    assert (row["model"], row["deployment"], row["user"], row["team"]) == (
        reply.model, reply.deployment, "alice", "")
    assert json.loads(row["tags"]) == ["a b", "c,d"]
    assert json.loads(row["budgets"]) == ["user/day:alice"]
    buffer = io.StringIO()
    assert router.export_spend(buffer, format="jsonl") == 1
    line = json.loads(buffer.getvalue())
    assert (line["cost_usd"], line["tags"], line["at"]) == (
        format(reply.cost, "f"), ["a b", "c,d"], "2026-11-25T12:00:00.000000+00:00")
    with pytest.raises(ValueError, match="format"):
        router.export_spend(tmp_path / "spend.xlsx")


def test_without_budgets_spend_is_still_recorded(make: Any) -> None:
    router = make([])
    reply = router.complete("hi", user="alice", max_tokens=20)
    report = router.spend(by=["user", "model"])
    assert report.budgets == ()
    assert report.total == reply.cost
    [group] = report.groups
    assert dict(group.key) == {"user": "alice", "model": reply.model}
    assert report.to_json()["rows"] == [{"user": "alice", "model": reply.model, "calls": 1,
                                         "cost": "0.00000026"}]  # never 2.6E-7
    assert Decimal(report.to_json()["total"]) == reply.cost
    with pytest.raises(ValueError, match="^by: unknown 'colour'"):
        router.spend(by=["colour"])


async def test_without_budgets_nothing_is_held_and_each_call_is_recorded_once(
        make: Any, scripted: Scripted) -> None:
    router = make([])
    live: list[str] = []
    scripted.during = lambda request: live.append(repr(router.ledger))
    reply = router.complete("Hello there", user="alice", team="search", tags=["greet"],
                            max_tokens=100)
    areply = await router.acomplete("Hello there", max_tokens=100)
    assert live == ["MemoryLedger(0 live reservations)"] * 2
    first, second = router.ledger.entries()
    assert (first.cost, first.outcome, first.model, first.deployment, first.budgets) == (
        reply.cost, Outcome.OK, reply.model, reply.deployment, ())
    assert (first.user, first.team, first.tags) == ("alice", "search", ("greet",))
    assert (second.cost, second.user, second.tags) == (areply.cost, None, ())
    assert first.reservation != second.reservation
    scripted.fail = [500, 500, 500]
    with pytest.raises(ServerError):
        router.complete("hi", max_tokens=50)
    assert len(list(router.ledger.entries())) == 2  # a failed call that cost nothing: no entry


def test_cached_tokens_on_an_overridden_price_never_cost_more_than_the_worst_case() -> None:
    # The audit's overspend: the override kept the catalog's cached price (0.075) above the new
    # input price (0.01), so 900 cached tokens cost 6.75x the worst case reserved for them.
    import respx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router({
            "deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": "k",
                             "base_url": "http://gpu.local:8000/v1",
                             "price": {"input": "0.01", "output": "0.01"}}],
            "budgets": [{"scope": "team", "limit": "0.00002", "window": "day"}],
        }, env={})
    body = {"id": "x", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 1,
                      "prompt_tokens_details": {"cached_tokens": 900}}}
    with respx.mock:
        respx.post("http://gpu.local:8000/v1/chat/completions").respond(json=body)
        reply = router.complete("word " * 990, team="a", max_tokens=10)
    worst = reply.decision.candidates[0].worst_case_cost
    assert reply.cost == D("0.00000901")
    assert reply.cost <= worst <= D("0.00002")
    (team,) = [b for b in router.spend().budgets if b.scope == "team"]
    assert team.spent == D("0.00000901")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"since": __import__("datetime").date(2020, 1, 1)}, "since: expected a datetime, got date"),
    ({"tags": "abc"}, "tags: must be a list of strings"),
    ({"by": "model"}, "by: must be a list of names"),
    ({"user": 7}, "user: must be a non-empty string"),
    ({"since": NOW, "until": NOW}, "until: .* is not after since"),
])
def test_bad_spend_arguments_are_invalid_request_errors(make: Any, kwargs: dict[str, Any],
                                                        message: str) -> None:
    from router import InvalidRequestError

    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    with pytest.raises(InvalidRequestError, match=message):
        router.spend(**kwargs)
    with pytest.raises(InvalidRequestError, match=message):  # the async twin checks the same
        asyncio.run(router.aspend(**kwargs))


def test_an_export_to_a_missing_folder_is_an_invalid_request_error(make: Any, tmp_path: Path) -> None:
    from router import InvalidRequestError

    router = make([{"scope": "user", "limit": "1", "window": "day"}])
    with pytest.raises(InvalidRequestError, match="target: cannot write .*No such file"):
        router.export_spend(tmp_path / "missing" / "out.csv")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open"])
async def test_more_calls_in_flight_than_redis_connections_wait_their_turn(
    redis_url: str, policy: str
) -> None:
    # The audit's case: past redis-py's 100 pooled connections, calls got "ledger unreachable"
    # from a healthy server (and under fail_open ran unbudgeted, 4.8x over the limit).
    import uuid

    from router.mock import mock_transport

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router({
            "deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": "k"}],
            "ledger": f"{redis_url}?prefix=t{uuid.uuid4().hex[:12]}",
            "budgets": [{"scope": "global", "limit": "1", "window": "day"}],
            "on_ledger_error": policy,
        }, transport=mock_transport(), env={})
    replies = await asyncio.gather(*(router.acomplete("Hello", max_tokens=5) for _ in range(300)))
    assert len(replies) == 300
    assert router._budgets.pending == 0
    assert router.spend().total == sum((r.cost for r in replies), D(0))
    await router.aclose()
    router.close()
