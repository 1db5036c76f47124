"""Every fault of `cases.CASES`, through each adapter and HTTP stack, sync and async, plain and
streaming, against the fake provider on 127.0.0.1: the outcome, who served it, and the money: the
ledger of a shared budget against what the server served."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from tests.resilience.billing import served_bill
from tests.resilience.cases import CASES, OK, RAISES, STREAM, Case, markdown
from tests.resilience.conftest import MATRIX_TIMEOUTS, run, served_by

from router import FinishReason, Router, StreamError
from router.decision import SKIPPED, Decision
from router.testing import FakeProviderServer, NoFinishReason, Ok

PARAMS = [
    pytest.param(case, mode, id=f"{re.sub(r'[^a-z0-9]+', '-', case.name.lower()).strip('-')}-{mode}")
    for case in CASES
    for mode in case.modes
]


@pytest.mark.parametrize(("case", "mode"), PARAMS)
def test_fault(case: Case, mode: str, router: Router, fake_provider: FakeProviderServer) -> None:
    fake_provider.script(*case.faults)
    out = run(router, mode)
    decision = out.reply.decision if out.reply is not None else out.error and out.error.decision
    assert tuple(served_by(fake_provider)) == case.served, f"{out.error!r}\n{decision}"
    assert fake_provider.pending() == 0
    assert decision is not None
    check_the_money(router, fake_provider, case, decision)
    if case.expect == RAISES:
        assert out.reply is None
        assert type(out.error) is case.error, out.error
        attempts = [a for a in decision.attempts if a.outcome != SKIPPED]
        assert len(attempts) == len(case.served)
        assert str(decision).count("  attempt ") == len(attempts)
        if isinstance(out.error, StreamError):
            assert out.error.partial_text == out.shown != ""
            assert out.error.truncated is isinstance(case.faults[0], NoFinishReason)
            assert out.error.cost is not None
            assert out.error.cost > 0
            assert attempts[-1].cost == out.error.cost  # billed once, for what was received
        return
    reply = out.reply
    assert reply is not None, out.error
    attempts = list(reply.decision.attempts)
    assert [a.deployment for a in attempts] == list(case.served)
    assert reply.deployment == case.served[-1]
    assert attempts[-1].outcome == "ok"
    if case.expect == OK:
        assert reply.finish_reason is FinishReason.OTHER
    else:
        assert case.error is not None
        assert attempts[0].outcome == case.error.__name__
    if case.wait is not None:
        assert attempts[1].wait == pytest.approx(case.wait)
    if mode in STREAM:
        assert out.shown == reply.text


def check_the_money(router: Router, server: FakeProviderServer, case: Case,
                    decision: Decision) -> None:
    """The ledger against what the server served: each request billed once, at what it sent
    (worked out from its log, see `billing`), failed ones at nothing unless tokens arrived, and
    nothing left reserved."""
    faults = list(case.faults) + [Ok()] * len(server.requests)
    model = decision.candidates[0].model
    bills = [
        served_bill(request, fault, model=model, flavor=request.flavor,
                    attempt_timeout=MATRIX_TIMEOUTS["attempt"],
                    estimated_input=decision.candidates[0].input_tokens)
        for request, fault in zip(server.requests, faults, strict=False)
    ]
    made = [a for a in decision.attempts if a.outcome != SKIPPED]
    assert [a.cost for a in made] == bills  # one attempt per request, billed as it was served
    assert all(bill == 0 for bill, a in zip(bills, made, strict=True)
               if a.outcome != "ok" and not case.billed)
    entries = list(router.ledger.entries())
    assert sum((e.cost for e in entries), Decimal(0)) == sum(bills, Decimal(0))
    assert len(entries) == (1 if sum(bills) else 0)  # settled once, or released
    assert all(balance.reserved == 0 for balance in router.ledger.scan("").values())


def test_the_docs_show_this_matrix() -> None:
    docs = Path(__file__).parents[2] / "docs" / "resilience.md"
    assert markdown() in docs.read_text("utf-8"), "regenerate the table with tests.resilience.cases"
