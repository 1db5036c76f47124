"""A call's hold across attempts: a fallback to another model is held in, refused by and booked to
that model's own budget; a settlement the ledger refuses is kept and retried before the next call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.ledger.helpers import NOW, MovingClock, config

from router import LedgerError, Router, ServerError
from router.ledger import Balance, Limit, MemoryLedger, Outcome
from router.ledger.hold import _Op
from router.mock import mock_transport

D = Decimal
DAY = NOW.strftime("%Y-%m-%d")
MINI, BIG = f"model=gpt-4o-mini/day|gpt-4o-mini|{DAY}", f"model=gpt-4o/day|gpt-4o|{DAY}"
PAIR = ["gpt-4o-mini", "gpt-4o"]


class MiniDown:
    """The built-in mock, but gpt-4o-mini answers 500; `during` runs while a request is served."""

    def __init__(self) -> None:
        self.inner = mock_transport()
        self.served: list[str] = []
        self.during: Any = None

    def _answer(self, request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        self.served.append(model)
        if self.during is not None:
            self.during(model)
        if model == "gpt-4o-mini":
            return httpx.Response(500, json={"error": {"message": "down", "type": "server_error"}})
        return self.inner.handle_request(request)

    def transport(self) -> httpx.MockTransport:
        async def answer(request: httpx.Request) -> httpx.Response:
            return self._answer(request)

        transport = httpx.MockTransport(answer)
        transport.handle_request = self._answer  # type: ignore[method-assign]
        return transport


def per_model(big: str, mini: str = "1") -> list[dict[str, Any]]:
    return [{"scope": "model", "match": "gpt-4o", "limit": big, "window": "day"},
            {"scope": "model", "match": "gpt-4o-mini", "limit": mini, "window": "day"}]


@pytest.fixture
def provider() -> MiniDown:
    return MiniDown()


@pytest.fixture
def make(provider: MiniDown) -> Iterator[Any]:
    made: list[Router] = []

    def build(budgets: list[dict[str, Any]], *, ledger: Any = None, **extra: Any) -> Router:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            router = Router(config(budgets, **extra), transport=provider.transport(),
                            clock=MovingClock(), env={}, ledger=ledger)
        made.append(router)
        return router

    yield build
    for router in made:
        router.close()


def balances(router: Router) -> dict[str, Balance]:
    return router.ledger.balances([MINI, BIG])


def test_a_fallback_to_another_model_is_held_in_and_booked_to_that_models_budget(
        make: Any, provider: MiniDown) -> None:
    router = make(per_model("1"))
    big = router.route("Explain tides.", models=["gpt-4o"], max_tokens=200).chosen
    seen: list[dict[str, Balance]] = []
    provider.during = lambda model: seen.append(balances(router))
    reply = router.complete("Explain tides.", models=PAIR, max_tokens=200)
    assert provider.served == ["gpt-4o-mini", "gpt-4o"]
    assert reply.model == "gpt-4o"
    # while gpt-4o answered, its own budget held its worst case and mini's held nothing
    assert seen[1] == {MINI: Balance(), BIG: Balance(D(0), big.worst_case_cost)}
    assert balances(router) == {MINI: Balance(), BIG: Balance(reply.cost, D(0))}
    [entry] = router.ledger.entries()
    assert (entry.model, entry.outcome, entry.cost) == ("gpt-4o", Outcome.OK, reply.cost)
    assert entry.budgets == ("model=gpt-4o/day",)


async def test_the_async_shell_moves_the_hold_the_same_way(make: Any, provider: MiniDown) -> None:
    router = make(per_model("1"))
    reply = await router.acomplete("Explain tides.", models=PAIR, max_tokens=200)
    assert reply.model == "gpt-4o"
    assert balances(router) == {MINI: Balance(), BIG: Balance(reply.cost, D(0))}
    await router.aclose()


def test_a_fallback_is_refused_by_its_own_models_budget(make: Any, provider: MiniDown) -> None:
    router = make(per_model("0.003"))  # room for one gpt-4o worst case (~$0.002) at the start
    big = router.route("Explain tides.", models=PAIR, max_tokens=200).candidates[1]
    assert big.model == "gpt-4o"

    def another_process_takes_gpt4os_room(model: str) -> None:
        if model == "gpt-4o-mini":
            router.ledger.reserve([Limit("model=gpt-4o/day", D("0.003"), (BIG,))], D("0.002"),
                                  ttl=60)

    provider.during = another_process_takes_gpt4os_room
    with pytest.raises(ServerError) as caught:
        router.complete("Explain tides.", models=PAIR, max_tokens=200)
    assert provider.served == ["gpt-4o-mini"]  # gpt-4o was never sent
    [skipped] = [a for a in caught.value.decision.attempts if a.outcome == "skipped"]
    assert skipped.model == "gpt-4o"
    assert "'model=gpt-4o/day' has $0.001 left" in (skipped.error or "")
    assert balances(router) == {MINI: Balance(), BIG: Balance(D(0), D("0.002"))}


def test_many_fallbacks_never_take_a_model_past_its_budget(make: Any, provider: MiniDown) -> None:
    limit = D("0.0021")
    router = make(per_model(str(limit)))
    paid = D(0)
    for _ in range(40):
        with contextlib.suppress(ServerError):
            paid += router.complete("Explain tides.", models=PAIR, max_tokens=200).cost
    assert D(0) < paid <= limit
    assert balances(router)[BIG] == Balance(paid, D(0))
    assert balances(router)[MINI] == Balance()


class Flaky(MemoryLedger):
    """A memory ledger that raises `LedgerError` on every operation while `down`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.down = False

    def __getattribute__(self, name: str) -> Any:
        if name in ("reserve", "extend", "settle", "release", "balances") and object.__getattribute__(
                self, "down"):
            def refuse(*args: Any, **kwargs: Any) -> Any:
                raise LedgerError("the ledger is unreachable (test)")
            return refuse
        return object.__getattribute__(self, name)


GLOBAL = "global|*|total"


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open"])
def test_a_settlement_the_ledger_refused_is_kept_and_recorded_before_the_next_call(
        make: Any, provider: MiniDown, policy: str) -> None:
    ledger = Flaky()
    router = make([{"scope": "global", "limit": "1"}], ledger=ledger, on_ledger_error=policy)
    provider.during = lambda model: setattr(ledger, "down", True)  # down while the call runs
    first = router.complete("Explain tides.", models=["gpt-4o"], max_tokens=50)
    assert router._budgets.pending == 1
    provider.during = None
    paid = [first.cost]
    if policy == "fail_closed":  # no call starts while spend is unrecorded
        with pytest.raises(LedgerError, match="could not record 1 settlement"):
            router.complete("Explain tides.", models=["gpt-4o"], max_tokens=50)
        assert provider.served == ["gpt-4o"]
    else:  # the call goes ahead unbudgeted, and its spend is booked once the ledger is back
        paid.append(router.complete("Explain tides.", models=["gpt-4o"], max_tokens=50).cost)
        assert router._budgets.pending == 2
    ledger.down = False
    paid.append(router.complete("Explain tides.", models=["gpt-4o"], max_tokens=50).cost)
    assert router._budgets.pending == 0
    recorded = ledger.balances([GLOBAL])[GLOBAL]
    assert recorded.reserved == 0
    assert recorded.spent == sum(paid)
    assert [e.cost for e in ledger.entries()] == paid


def test_close_retries_what_is_pending_and_says_what_is_lost(
        make: Any, provider: MiniDown, caplog: pytest.LogCaptureFixture) -> None:
    ledger = Flaky()
    router = make([{"scope": "global", "limit": "1"}], ledger=ledger)
    provider.during = lambda model: setattr(ledger, "down", True)
    router.complete("Explain tides.", models=["gpt-4o"], max_tokens=50)
    router.close()
    assert "1 settlement(s) the ledger at memory never recorded" in caplog.text
    ledger.down = False
    provider.during = None
    router.complete("Explain tides.", models=["gpt-4o"], max_tokens=50)
    router.close()
    assert router._budgets.pending == 0
    assert len(list(ledger.entries())) == 2


class Slow(MemoryLedger):
    """A memory ledger whose async operations take a while, as SQLite's and Redis's do."""

    runs_inline = False

    async def _offload(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.05)
        return fn(*args, **kwargs)


async def test_a_settlement_whose_caller_is_cancelled_still_lands(make: Any) -> None:
    ledger = Slow()
    router = make([{"scope": "global", "limit": "1"}], ledger=ledger)
    guard = router._budgets
    limit = Limit("global", D(1), (GLOBAL,))
    res = ledger.reserve([limit], D("0.5"), ttl=60)

    def settle() -> Any:
        yield _Op("settle", (res, D("0.1")), {"outcome": Outcome.FAILED})

    task = asyncio.ensure_future(guard._adrive(settle()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert ledger.balances([GLOBAL])[GLOBAL] == Balance(D("0.1"), D(0))


async def test_a_kept_settlement_survives_a_cancelled_flush(make: Any, provider: MiniDown) -> None:
    ledger = Flaky()
    router = make([{"scope": "global", "limit": "1"}], ledger=ledger)
    provider.during = lambda model: setattr(ledger, "down", True)
    first = await router.acomplete("Explain tides.", models=["gpt-4o"], max_tokens=50)
    assert router._budgets.pending == 1
    provider.during, ledger.down = None, False
    # the ledger is back, but slow: the next call is cancelled while the kept settlement lands
    ledger.runs_inline = False  # type: ignore[misc]
    ledger._offload = Slow._offload.__get__(ledger)  # type: ignore[method-assign]
    task = asyncio.ensure_future(router.acomplete("Explain tides.", models=["gpt-4o"],
                                                  max_tokens=50))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert router._budgets.pending == 0
    assert ledger.balances([GLOBAL])[GLOBAL] == Balance(first.cost, D(0))


class MiniGarbles(MiniDown):
    """gpt-4o-mini answers 200 with tool-call arguments that are not JSON: billed, then the call
    falls back to gpt-4o."""

    def _answer(self, request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        self.served.append(model)
        if model != "gpt-4o-mini":
            return self.inner.handle_request(request)
        return httpx.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None, "tool_calls": [{
                    "id": "c1", "type": "function",
                    "function": {"name": "lookup", "arguments": '{"query": "tid'}}]}}],
            "usage": {"prompt_tokens": 60, "completion_tokens": 20, "total_tokens": 80}})


TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"query": {"type": "string"}}}}}]


@pytest.mark.parametrize("budgets", [[{"scope": "global", "limit": "1"}], []])
def test_each_deployment_a_call_spent_on_gets_its_own_entry(budgets: list[dict[str, Any]]) -> None:
    provider = MiniGarbles()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router(config(budgets), transport=provider.transport(), clock=MovingClock(),
                        env={})
    reply = router.complete("Look up tides.", models=PAIR, tools=TOOLS, max_tokens=50)
    assert provider.served == ["gpt-4o-mini", "gpt-4o"]
    garbled, answered = reply.decision.attempts
    assert garbled.cost > 0  # the provider billed the unusable answer
    entries = [(e.model, e.deployment, e.outcome, e.cost) for e in router.ledger.entries()]
    assert entries == [("gpt-4o-mini", "gpt-4o-mini@openai", Outcome.FAILED, garbled.cost),
                       ("gpt-4o", "gpt-4o@openai", Outcome.OK, answered.cost)]
    report = router.spend()
    assert {(r.model, r.cost) for r in report.by_model} == {
        ("gpt-4o-mini", garbled.cost), ("gpt-4o", answered.cost)}
    router.close()


class MiniPaid(MiniDown):
    """gpt-4o-mini answers an unusable, billed answer (1,000 input tokens: $0.00015)."""

    def _answer(self, request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        if model != "gpt-4o-mini":
            return super()._answer(request)
        self.served.append(model)
        return httpx.Response(200, json={
            "id": "x", "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                                    "message": {"content": 5}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 0}})


@pytest.mark.parametrize("policy", ["fail_closed", "fail_open"])
def test_a_fallbacks_settlement_the_ledger_refused_is_booked_once(policy: str) -> None:
    # The audit's case: the move to the fallback settled mini's spend; when the ledger refused
    # (or the caller was cancelled meanwhile) the call's close booked the same spend again.
    ledger = Flaky()
    settles = 0
    real_settle = ledger.settle

    def settle(*args: Any, **kwargs: Any) -> Any:
        nonlocal settles
        settles += 1
        if settles == 1:  # the move's settlement of mini's spend
            raise LedgerError("the ledger is unreachable (test)")
        return real_settle(*args, **kwargs)

    ledger.settle = settle  # type: ignore[method-assign]
    provider = MiniPaid()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router(config([{"scope": "global", "limit": "1", "window": "day"}],
                               on_ledger_error=policy), transport=provider.transport(),
                        clock=MovingClock(), env={}, ledger=ledger)
    try:
        router.complete("Explain tides.", models=PAIR, max_tokens=50)
    except LedgerError:
        assert policy == "fail_closed"
    router._budgets.flush()
    mini = [(e.cost, e.outcome) for e in ledger.entries() if e.model == "gpt-4o-mini"]
    assert mini == [(D("0.00015"), Outcome.FAILED)]
    total = ledger.balances([f"global/day|*|{DAY}"])[f"global/day|*|{DAY}"]
    assert total.reserved == 0
    assert total.spent == sum((e.cost for e in ledger.entries()), D(0))
    router.close()
