"""The Redis ledger keeps time by the Redis server's clock: machines whose clocks disagree agree on
when a reservation has expired, and entries are stamped by one clock."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest
from tests.ledger.test_contract import DAY

from router.ledger import Balance

pytestmark = pytest.mark.redis


def test_a_machine_whose_clock_runs_fast_does_not_expire_anothers_reservation(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("redis")
    from router.ledger.redis import RedisLedger

    url = f"{redis_url}?prefix=t{uuid.uuid4().hex[:12]}"
    here, there = RedisLedger(url), RedisLedger(url)
    try:
        mine = here.reserve([DAY], Decimal("0.6"), ttl=900)
        assert mine.expires_at == pytest.approx(time.time() + 900, abs=5)
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 960)  # 16 minutes fast
        theirs = there.reserve([DAY], Decimal("0.3"), ttl=900)
        assert there.balances([DAY.book])[DAY.book] == Balance(Decimal(0), Decimal("0.9"))
        monkeypatch.undo()
        assert here.settle(mine, Decimal("0.5"))
        assert there.settle(theirs, Decimal("0.3"))
        assert here.balances([DAY.book])[DAY.book] == Balance(Decimal("0.8"), Decimal(0))
        stamps = [e.at for e in here.entries()]
        assert all(abs(at - time.time()) < 5 for at in stamps)  # the server's time, not +960
    finally:
        here.close()
        there.close()
