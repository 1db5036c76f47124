"""Ledger throughput and overhead, per backend, printed side by side.

    python bench/ledger.py [--pairs 2000] [--redis redis://127.0.0.1:6390/0]

Columns: reserve+settle pairs per second from one client (sync), from 64 asyncio tasks, from 8
threads, from 4 processes (SQLite, Redis); then what the ledger adds to one `Router.complete()`
(a global and a per-user budget, against a canned in-process transport; the baseline is the same
router with a ledger that records nothing), median of 5 rounds.
Without --redis a private redis-server is started on 127.0.0.1 when one is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from router import Router
from router.ledger import BlockingLedger, Labels, Ledger, Limit, Outcome, Reservation, open_ledger

LIMITS = (Limit("global/month", Decimal("1000000"), ("global/month|*|2026-11",)),
          Limit("user/day:alice", Decimal("1000000"), ("user/day|alice|2026-11-25",)))
COST, WORST = Decimal("0.000123"), Decimal("0.000456")
ROUNDS = 5


def pairs_sync(url: str, n: int) -> None:
    ledger = open_ledger(url)
    for _ in range(n):
        ledger.settle(ledger.reserve(LIMITS, WORST, ttl=60), COST)
    ledger.close()


async def pairs_async(url: str, n: int, tasks: int) -> None:
    ledger = open_ledger(url)
    left = [n]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            res = await ledger.areserve(LIMITS, WORST, ttl=60)
            await ledger.asettle(res, COST)

    await asyncio.gather(*(worker() for _ in range(tasks)))
    await ledger.aclose()
    ledger.close()


def pairs_threads(url: str, n: int, threads: int) -> None:
    ledger = open_ledger(url)

    def worker() -> None:
        for _ in range(n // threads):
            ledger.settle(ledger.reserve(LIMITS, WORST, ttl=60), COST)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ledger.close()


def pairs_processes(url: str, n: int, processes: int) -> None:
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=pairs_sync, args=(url, n // processes)) for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def rate(run: Callable[[], None], n: int) -> float:
    """Median pairs per second over a few rounds (after one warm-up round)."""
    run()
    times = []
    for _ in range(3):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return n / statistics.median(times)


class NullLedger(BlockingLedger):
    """Records nothing: the baseline for what a real ledger adds to a call."""

    url = "null"

    def reserve(self, limits: Any, amount: Decimal, *, ttl: float,
                labels: Labels = Labels()) -> Reservation:  # noqa: B008
        return Reservation("null", amount, tuple(limits), 0.0, labels)

    def settle(self, reservation: Reservation, cost: Decimal, *, outcome: Outcome = Outcome.OK,
               model: str | None = None, deployment: str | None = None) -> bool:
        return True

    def release(self, reservation: Reservation) -> bool:
        return True

    def balances(self, counters: Any) -> dict[str, Any]:
        return {}


def canned(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={
        "id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})


def router_for(url: str, budgets: bool, ledger: Ledger | None = None) -> Router:
    config: dict[str, Any] = {
        "deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": "sk-bench"}],
        "models": {"gpt-4o-mini": {"tokenizer": "bytes"}},
        "ledger": url,
        "budgets": [{"scope": "global", "limit": "1000000", "window": "month"},
                    {"scope": "user", "limit": "1000000", "window": "day"}] if budgets else [],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(config, transport=httpx.MockTransport(canned), env={}, ledger=ledger)


def timed(router: Router, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        router.complete("hi", user="alice", max_tokens=16)
    return (time.perf_counter() - started) / n


def overhead(url: str, n: int) -> tuple[float, float, float]:
    """Seconds per sequential `complete()` without a ledger and with this one, and the median of
    their difference; each round times both back to back, so that load drifts cancel out."""
    bare = router_for("memory", budgets=True, ledger=NullLedger())
    guarded = router_for(url, budgets=True)
    timed(bare, 50), timed(guarded, 50)
    rounds = [(timed(bare, n), timed(guarded, n)) for _ in range(ROUNDS)]
    bare.close(), guarded.close()
    return (statistics.median(b for b, _ in rounds), statistics.median(g for _, g in rounds),
            statistics.median(g - b for b, g in rounds))


@contextmanager
def private_redis() -> Iterator[str | None]:
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", folder],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=300, help="complete() calls per round")
    parser.add_argument("--redis", help="a Redis on 127.0.0.1 to use instead of a private one")
    args = parser.parse_args()
    n = args.pairs
    with tempfile.TemporaryDirectory() as folder, private_redis() as own:
        redis = args.redis or own
        urls = {"memory": "memory", "sqlite": f"sqlite://{Path(folder) / 'bench.db'}"}
        if redis:
            urls["redis"] = f"{redis}?prefix=bench{uuid.uuid4().hex[:8]}"
        rows: dict[str, list[str]] = {}
        for name, url in urls.items():
            shared = url != "memory"
            rows[name] = [
                f"{rate(lambda u=url: pairs_sync(u, n), n):,.0f}",
                f"{rate(lambda u=url: asyncio.run(pairs_async(u, n, 64)), n):,.0f}",
                f"{rate(lambda u=url: pairs_threads(u, n, 8), n):,.0f}",
                f"{rate(lambda u=url: pairs_processes(u, n, 4), n):,.0f}" if shared else "-",
            ]
            bare, guarded, added = overhead(url, args.calls)
            rows[name] += [f"{bare * 1e6:,.0f}", f"{guarded * 1e6:,.0f}", f"{added * 1e6:+,.0f}"]
    head = ["pairs/s 1 client", "64 tasks", "8 threads", "4 processes", "no ledger us",
            "complete() us", "overhead us"]
    print(f"reserve+settle, 2 limits per reservation, {n} pairs per run "
          f"(python {sys.version.split()[0]})")
    print(f"{'backend':<8}" + "".join(f"{h:>18}" for h in head))
    for name, cells in rows.items():
        print(f"{name:<8}" + "".join(f"{c:>18}" for c in cells))
    if "redis" not in urls:
        print("redis: skipped (no redis-server installed and no --redis given)")


if __name__ == "__main__":
    main()
