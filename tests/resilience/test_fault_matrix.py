"""Every fault of `cases.CASES`, through each adapter, sync and async, plain and streaming, against
the fake provider on 127.0.0.1: the outcome, who served it, and what was billed."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from tests.resilience.cases import CASES, OK, RAISES, STREAM, Case, markdown
from tests.resilience.conftest import run, served_by

from router import FinishReason, Router, StreamError
from router.decision import SKIPPED
from router.testing import FakeProviderServer, NoFinishReason

PARAMS = [
    pytest.param(case, mode, id=f"{re.sub(r'[^a-z0-9]+', '-', case.name.lower()).strip('-')}-{mode}")
    for case in CASES
    for mode in case.modes
]


@pytest.mark.parametrize(("case", "mode"), PARAMS)
def test_fault(case: Case, mode: str, router: Router, fake_provider: FakeProviderServer) -> None:
    fake_provider.script(*case.faults)
    out = run(router, mode)
    assert tuple(served_by(fake_provider)) == case.served
    assert fake_provider.pending() == 0
    if case.expect == RAISES:
        assert out.reply is None
        assert type(out.error) is case.error, out.error
        decision = out.error.decision
        assert decision is not None
        attempts = [a for a in decision.attempts if a.outcome != SKIPPED]
        assert len(attempts) == len(case.served)
        assert str(decision).count("  attempt ") == len(attempts)
        if isinstance(out.error, StreamError):
            assert out.error.partial_text == out.shown != ""
            assert out.error.truncated is isinstance(case.faults[0], NoFinishReason)
            assert out.error.cost is not None
            assert out.error.cost > 0
            assert attempts[-1].cost == out.error.cost  # billed once, for what was received
        else:
            assert all(a.cost == 0 for a in attempts)
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
    assert all(a.cost == 0 for a in attempts[:-1])  # failed attempts received no tokens
    assert sum((a.cost for a in attempts), Decimal(0)) == reply.cost > 0  # nothing billed twice
    if case.wait is not None:
        assert attempts[1].wait == pytest.approx(case.wait)
    if mode in STREAM:
        assert out.shown == reply.text


def test_the_docs_show_this_matrix() -> None:
    docs = Path(__file__).parents[2] / "docs" / "resilience.md"
    assert markdown() in docs.read_text("utf-8"), "regenerate the table with tests.resilience.cases"
