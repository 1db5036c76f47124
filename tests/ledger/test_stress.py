"""Stress: 1,000 requests through the Router and the built-in mock against budgets a third of the
demand (and gpt-4o's own budget, which fallbacks must respect too), with random costs, provider
failures and cancellations; from 64 asyncio tasks, then 64 threads, then (SQLite and Redis)
4 processes sharing one ledger.

Afterwards, exactly: settled spend <= every limit; every success recorded once and at its cost;
nothing left reserved. `summary` lines (run with -s) give the figures.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.ledger.conftest import BACKENDS, ledger_url
from tests.ledger.helpers import Chaos, config

from router import BudgetExceeded, Router, ServerError
from router.ledger import Ledger, Outcome

REQUESTS = 1000
RETRIES = {"attempts": 2, "initial_backoff": 0, "jitter": 0}  # and fallbacks to other models
CONCURRENCY = 64
PROCESSES = 4
USERS = [f"user{i}" for i in range(8)]
MODELS = ["gpt-4o-mini", "gpt-4o", "mistral-nemo"]
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "wise", "owls", "count", "stars"]


@dataclass(frozen=True)
class Job:
    prompt: str
    max_tokens: int
    model: str | None  # None: any model, so that failures fall back to dearer ones
    user: str
    cancel: bool  # asyncio: cancel mid-flight; threads: abandon a stream after one delta


@dataclass
class Tally:
    ok: int = 0
    cost: Decimal = Decimal(0)
    refused: int = 0
    failed: int = 0
    cancelled: int = 0
    deployments: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.ok += other.ok
        self.cost += other.cost
        self.refused += other.refused
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.deployments.update(other.deployments)


def jobs(seed: int = 7) -> list[Job]:
    rng = random.Random(seed)
    return [Job(" ".join(rng.choices(WORDS, k=rng.randint(40, 120))), rng.randint(16, 64),
                rng.choice([*MODELS, None]), rng.choice(USERS), rng.random() < 0.1)
            for _ in range(REQUESTS)]


def models(job: Job) -> list[str] | None:
    return None if job.model is None else [job.model]


def router_for(url: str, budgets: list[dict[str, Any]], seed: int) -> Router:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(config(budgets, ledger=url, retries=RETRIES),
                      transport=Chaos(failure_rate=0.1, seed=seed).transport(), env={})


def demand(todo: list[Job]) -> Decimal:
    """What all the jobs would cost: the mock fills max_tokens, so about their worst cases."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = Router(config([]), env={})
    return sum((probe.route(j.prompt, models=models(j), max_tokens=j.max_tokens).chosen
                .worst_case_cost for j in todo), Decimal(0))


def budgets_for(todo: list[Job]) -> list[dict[str, Any]]:
    third = demand(todo) / 3
    return [
        {"scope": "global", "limit": str(third), "window": "month"},
        {"scope": "user", "limit": str(third / 3), "window": "day", "on_exceed": "downgrade"},
        # a model's own budget: fallbacks to gpt-4o are held in and booked to it too
        {"scope": "model", "match": "gpt-4o", "limit": str(third * 3 / 4), "window": "day"},
    ]


# -- drivers ---------------------------------------------------------------------------------


async def run_tasks(router: Router, todo: list[Job], concurrency: int, seed: int) -> Tally:
    tally, queue = Tally(), list(reversed(todo))
    rng = random.Random(seed)

    async def one(job: Job) -> None:
        call = asyncio.ensure_future(router.acomplete(job.prompt, user=job.user,
                                                      models=models(job),
                                                      max_tokens=job.max_tokens))
        if job.cancel:
            await asyncio.sleep(rng.random() * 0.002)
            call.cancel()
        try:
            reply = await call
        except BudgetExceeded:
            tally.refused += 1
        except ServerError:
            tally.failed += 1
        except asyncio.CancelledError:
            tally.cancelled += 1
        else:
            tally.ok += 1
            tally.cost += reply.cost
            tally.deployments[reply.deployment] += 1

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await asyncio.sleep(0.05)  # reservations of calls cancelled while reserving are released
    await router.aclose()
    return tally


def run_threads(router: Router, todo: list[Job]) -> Tally:
    tally = Tally()

    def one(job: Job) -> Tally:
        mine = Tally()
        try:
            if job.cancel:
                deltas = iter(router.stream(job.prompt, user=job.user, models=models(job),
                                            max_tokens=job.max_tokens))
                next(deltas, None)
                deltas.close()  # type: ignore[attr-defined]
                mine.cancelled += 1
                return mine
            reply = router.complete(job.prompt, user=job.user, models=models(job),
                                    max_tokens=job.max_tokens)
        except BudgetExceeded:
            mine.refused += 1
        except ServerError:
            mine.failed += 1
        else:
            mine.ok += 1
            mine.cost += reply.cost
            mine.deployments[reply.deployment] += 1
        return mine

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for part in pool.map(one, todo):
            tally.add(part)
    return tally


def _process(args: tuple[str, list[dict[str, Any]], list[Job], int]) -> Tally:
    url, budgets, todo, seed = args
    router = router_for(url, budgets, seed)
    try:
        return asyncio.run(run_tasks(router, todo, CONCURRENCY // PROCESSES, seed))
    finally:
        router.close()


def run_processes(url: str, budgets: list[dict[str, Any]], todo: list[Job]) -> Tally:
    tally = Tally()
    shares = [(url, budgets, todo[i::PROCESSES], 100 + i) for i in range(PROCESSES)]
    # fork: the children inherit the loaded tokenizers instead of loading them four times
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        for part in pool.map(_process, shares):
            tally.add(part)
    return tally


# -- the checks ------------------------------------------------------------------------------


def check(ledger: Ledger, budgets: list[dict[str, Any]], tally: Tally, mode: str,
          seconds: float) -> None:
    entries = list(ledger.entries())
    settled = sum((e.cost for e in entries), Decimal(0))
    limit = Decimal(budgets[0]["limit"])
    global_counter = next(iter(ledger.scan("global/month|")))
    spent = ledger.balances([global_counter])[global_counter].spent
    [(_, big)] = ledger.scan("model=gpt-4o/day|").items()
    print(f"\nsummary {mode}: {tally.ok} ok, {tally.refused} refused, {tally.failed} failed, "
          f"{tally.cancelled} cancelled in {seconds:.2f}s; settled ${settled} of limit "
          f"${limit:.9f} ({settled / limit:.1%}); gpt-4o's own budget {big.spent / Decimal(budgets[2]['limit']):.1%} "
          f"full; by deployment {dict(tally.deployments)}")
    assert tally.ok + tally.refused + tally.failed + tally.cancelled == REQUESTS
    assert tally.refused > 0, "the budget should have run out"
    assert spent == settled <= limit
    per_user = ledger.scan("user/day|")
    assert all(b.spent <= Decimal(budgets[1]["limit"]) for b in per_user.values())
    assert sum((b.spent for b in per_user.values()), Decimal(0)) == settled
    assert 0 < big.spent <= Decimal(budgets[2]["limit"])
    assert big.spent == sum((e.cost for e in entries if "model=gpt-4o/day" in e.budgets),
                            Decimal(0))
    assert all(e.model == "gpt-4o" for e in entries if "model=gpt-4o/day" in e.budgets)
    ok = [e for e in entries if e.outcome is Outcome.OK]
    assert len(ok) == tally.ok  # every success recorded, once
    assert len({e.reservation for e in entries}) == len(entries)
    assert sum((e.cost for e in ok), Decimal(0)) == tally.cost
    assert Counter(e.deployment for e in ok) == tally.deployments
    assert all(e.cost > 0 for e in entries if e.outcome is not Outcome.OK)
    leftovers = {k: b.reserved for k, b in ledger.scan("").items() if b.reserved}
    assert leftovers == {}, "reservations left behind"


@pytest.fixture(scope="module")
def todo() -> list[Job]:
    return jobs()


@pytest.fixture(scope="module")
def budgets(todo: list[Job]) -> list[dict[str, Any]]:
    return budgets_for(todo)


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    redis = request.getfixturevalue("redis_url") if backend == "redis" else None
    return ledger_url(backend, tmp_path, redis)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stress_asyncio_tasks(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
                              todo: list[Job], budgets: list[dict[str, Any]]) -> None:
    router = router_for(_url(backend, tmp_path, request), budgets, seed=1)
    started = time.perf_counter()
    tally = asyncio.run(run_tasks(router, todo, CONCURRENCY, seed=1))
    check(router.ledger, budgets, tally, f"{backend} asyncio", time.perf_counter() - started)
    router.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_stress_threads(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
                        todo: list[Job], budgets: list[dict[str, Any]]) -> None:
    router = router_for(_url(backend, tmp_path, request), budgets, seed=2)
    started = time.perf_counter()
    tally = run_threads(router, todo)
    check(router.ledger, budgets, tally, f"{backend} threads", time.perf_counter() - started)
    router.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "memory"])
def test_stress_processes(backend: str, tmp_path: Path, request: pytest.FixtureRequest,
                          todo: list[Job], budgets: list[dict[str, Any]]) -> None:
    url = _url(backend, tmp_path, request)
    import openai  # noqa: F401 - imported and tokenizers loaded once, before the fork

    observer = router_for(url, budgets, seed=3)  # creates the SQLite file
    observer.route("warm up")
    started = time.perf_counter()
    tally = run_processes(url, budgets, todo)
    check(observer.ledger, budgets, tally, f"{backend} {PROCESSES} processes",
          time.perf_counter() - started)
    observer.close()
