"""Crash: a worker killed with SIGKILL while its calls are in flight (or while it hammers the
ledger). The ledger stays consistent, and the dead worker's reservations expire after their TTL."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import warnings
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from tests.ledger.conftest import ledger_url
from tests.ledger.helpers import BYTES, canned, config

from router import BudgetExceeded, Router
from router.ledger import Ledger, Limit, open_ledger
from router.ledger.sqlite import SQLiteLedger

pytestmark = pytest.mark.slow

TTL = 2.0
# The worker's router runs on the real clock: the counter of this month's global budget.
COUNTER = f"global/month|*|{dt.datetime.now(dt.UTC):%Y-%m}"
HANG = "hang " * 20

ROUTER_WORKER = """
import sys, threading, time, warnings
import httpx
from router import Router
from tests.ledger.helpers import BYTES, canned, config

def handler(request):
    if b"hang" in request.content:
        time.sleep(600)
    return canned(request)

warnings.simplefilter("ignore")
budgets = [{"scope": "global", "limit": sys.argv[2], "window": "month"}]
router = Router(config(budgets, ledger=sys.argv[1], reservation_ttl=$TTL, models=BYTES,
                       timeouts={"total": $TTL / 2, "attempt": $TTL / 2}),
                transport=httpx.MockTransport(handler), env={})
for _ in range(5):
    router.complete("hello there", models=["gpt-4o-mini"], max_tokens=20)
for _ in range(3):
    threading.Thread(target=router.complete, args=($HANG,),
                     kwargs={"models": ["gpt-4o-mini"], "max_tokens": 20}).start()
print("started", flush=True)
time.sleep(600)
""".replace("$TTL", str(TTL)).replace("$HANG", repr(HANG))

LEDGER_WORKER = """
import sys
from decimal import Decimal
from router.ledger import Limit, open_ledger
ledger = open_ledger(sys.argv[1])
limit = Limit("hammer", Decimal("1000"), ("hammer|*|total",))
print("started", flush=True)
while True:
    res = ledger.reserve([limit], Decimal("0.001"), ttl=$TTL)
    ledger.settle(res, Decimal("0.000999"))
""".replace("$TTL", str(TTL))


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=Path(__file__).parents[2])
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "started", f"worker did not start: {line!r}"
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    if proc.stdout is not None:
        proc.stdout.close()


def reserved(ledger: Ledger, counter: str) -> Decimal:
    return ledger.balances([counter])[counter].reserved


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    redis = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return ledger_url(request.param, tmp_path, redis)


def test_a_killed_workers_reservations_expire(url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = Router(config([], models=BYTES), env={}, transport=httpx.MockTransport(canned))
    hang = probe.route(HANG, models=["gpt-4o-mini"], max_tokens=20).chosen.worst_case_cost
    fast = probe.complete("hello there", models=["gpt-4o-mini"], max_tokens=20).cost
    # room for the five quick calls and the three that hang, not for a fourth
    limit = 5 * fast + 3 * hang + hang / 2
    worker = spawn(ROUTER_WORKER, url, str(limit))
    ledger = open_ledger(url)
    try:
        deadline = time.monotonic() + 20
        while reserved(ledger, COUNTER) < 3 * hang:
            assert time.monotonic() < deadline, "the worker's calls never got in flight"
            time.sleep(0.02)
    finally:
        kill(worker)
    before = ledger.balances([COUNTER])[COUNTER]
    entries = list(ledger.entries())
    assert len(entries) == 5
    assert before.spent == sum((e.cost for e in entries), Decimal(0))
    assert before.reserved == 3 * hang
    if isinstance(ledger, SQLiteLedger):
        assert ledger.check() == "ok"
    # The dead worker still holds its room until the TTL passes...
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        after = Router(config([{"scope": "global", "limit": str(limit), "window": "month"}],
                              ledger=url, models=BYTES), env={})
    with pytest.raises(BudgetExceeded, match="'global/month' has"):
        after.route(HANG, models=["gpt-4o-mini"], max_tokens=20)
    assert after.ledger.balances([COUNTER])[COUNTER].reserved == 3 * hang
    time.sleep(TTL + 0.2)
    # ...then it is free again, and what was settled stays settled.
    assert after.ledger.balances([COUNTER])[COUNTER] == before.__class__(before.spent, Decimal(0))
    assert after.route(HANG, models=["gpt-4o-mini"], max_tokens=20).model == "gpt-4o-mini"
    assert after.ledger.expire() >= 0
    after.close()
    ledger.close()


def test_a_worker_killed_mid_write_leaves_a_consistent_ledger(url: str) -> None:
    worker = spawn(LEDGER_WORKER, url)
    time.sleep(0.5)
    kill(worker)
    ledger = open_ledger(url)
    if isinstance(ledger, SQLiteLedger):
        assert ledger.check() == "ok"
    balance = ledger.balances(["hammer|*|total"])["hammer|*|total"]
    entries = list(ledger.entries())
    assert entries, "the worker wrote nothing before it was killed"
    assert balance.spent == Decimal("0.000999") * len(entries)  # every settlement whole
    assert balance.reserved in (Decimal(0), Decimal("0.001"))  # at most the one in flight
    time.sleep(TTL + 0.2)
    assert reserved(ledger, "hammer|*|total") == 0
    limit = Limit("hammer", Decimal("1000"), ("hammer|*|total",))
    assert ledger.settle(ledger.reserve([limit], Decimal("0.001"), ttl=5), Decimal("0.001"))
    ledger.close()
