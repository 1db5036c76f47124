from __future__ import annotations

import decimal
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
import respx

from router.errors import InvalidRequestError
from router.money import format_usd, parse_money, per_million

if TYPE_CHECKING:
    from router import Router

OPENAI = "https://api.openai.com/v1/chat/completions"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.002", Decimal("0.002")), (Decimal("1.5"), Decimal("1.5")), (3, Decimal(3)),
     (0.1, Decimal("0.1")), ("$2.50", Decimal("2.50")), (" 1_000 ", Decimal(1000))],
)
def test_parse_money_is_exact(value: object, expected: Decimal) -> None:
    assert parse_money(value, field="budget") == expected


@pytest.mark.parametrize("value", ["-1", -0.5, "abc", "nan", "inf", None, True, [1]])
def test_parse_money_rejects_bad_input_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidRequestError, match="^budget: "):
        parse_money(value, field="budget")


def test_zero_can_be_refused() -> None:
    with pytest.raises(InvalidRequestError, match="more than zero"):
        parse_money("0", field="limit", allow_zero=False)


def test_per_million_and_format() -> None:
    assert per_million(1_000, Decimal("0.15")) == Decimal("0.00015")
    assert format_usd(Decimal("6.2E-7")) == "$0.00000062"
    assert format_usd(Decimal(0)) == "$0"


def test_money_prints_in_plain_digits_never_in_exponent_form() -> None:
    from router.money import plain_usd

    for amount in (Decimal("3.4E-7"), Decimal("0.000000340"), Decimal(340) / 10**9):
        assert format_usd(amount) == "$0.00000034"
        assert plain_usd(amount) == "0.00000034"
        assert Decimal(plain_usd(amount)) == amount
    assert plain_usd(Decimal(0)) == "0"
    assert format_usd(Decimal("-1E-8")) == "-$0.00000001"


# -- the caller's decimal context changes nothing ------------------------------------------------

SCRIPT_CONFIG = {
    "deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": "k"}],
    "budgets": [{"scope": "global", "limit": "5"}],
}


def _router() -> Router:
    import warnings

    from tests.conftest import frozen

    from router import Router

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(SCRIPT_CONFIG, env={}, clock=frozen())


def _answer() -> dict:  # type: ignore[type-arg]
    from tests.conftest import chat_json

    return chat_json("ok", prompt_tokens=53, completion_tokens=7)


def _stream_body() -> bytes:
    from tests.conftest import chunk, sse

    return sse(chunk("o"), chunk("k", finish="stop"),
               chunk(empty=True, usage={"prompt_tokens": 53, "completion_tokens": 7}), "[DONE]")


@pytest.fixture
def coarse_context() -> Iterator[decimal.Context]:
    """A finance app's thread context: 3 digits, rounding down, every signal trapped."""
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.rounding = 3, decimal.ROUND_DOWN
        ctx.traps[decimal.Inexact] = ctx.traps[decimal.Rounded] = True
        yield ctx


def test_costs_and_worst_cases_do_not_depend_on_the_callers_decimal_context(
    coarse_context: decimal.Context,
) -> None:
    # The audit's case: prec 3 and ROUND_DOWN understated the worst case (0.000646 for
    # 0.0006462), so a budget of exactly that let the request through; prec 6 raised a raw
    # InvalidOperation from the ledger.
    with decimal.localcontext(decimal.Context()):  # the default context, for the expectation
        expected = _router().route("hello " * 50, max_tokens=20).candidates[0].worst_case_cost
    router = _router()
    assert router.route("hello " * 50, max_tokens=20).candidates[0].worst_case_cost == expected
    assert len(expected.as_tuple().digits) > 3
    with respx.mock:
        respx.post(OPENAI).respond(json=_answer())
        reply = router.complete("hello " * 50, max_tokens=20)
        respx.post(OPENAI).respond(content=_stream_body(),
                                   headers={"content-type": "text/event-stream"})
        stream = router.stream("hello " * 50, max_tokens=20)
        assert "".join(stream) == "ok"
    # 53 x $0.15/M + 7 x $0.60/M, twice (literals: arithmetic here runs in the coarse context)
    assert reply.cost == stream.reply.cost == Decimal("0.00001215")
    assert router.spend().total == Decimal("0.0000243")
    assert format_usd(Decimal("9007199.254740991")) == "$9007199.254740991"
    assert decimal.getcontext() is coarse_context  # and it is left as it was
    assert (coarse_context.prec, coarse_context.rounding) == (3, decimal.ROUND_DOWN)


async def test_the_async_paths_leave_the_callers_context_alone(coarse_context: decimal.Context) -> None:
    router = _router()
    with respx.mock:
        respx.post(OPENAI).respond(json=_answer())
        reply = await router.acomplete("hello " * 50, max_tokens=20)
        respx.post(OPENAI).respond(content=_stream_body(),
                                   headers={"content-type": "text/event-stream"})
        stream = router.astream("hello " * 50, max_tokens=20)
        async for _ in stream:
            assert decimal.getcontext().prec == 3  # between steps, the caller's own context
    assert reply.cost == stream.reply.cost == Decimal("0.00001215")
    assert decimal.getcontext() is coarse_context
    await router.aclose()


def test_a_budget_limit_beyond_what_a_ledger_counts_is_a_config_error() -> None:
    from router import ConfigError, Router

    with pytest.raises(ConfigError, match=r"budgets\[0\]\.limit: '1e30' is more than a ledger can"
                                          r" count \(at most \$9007199\.254740991\)"):
        Router({**SCRIPT_CONFIG, "budgets": [{"scope": "global", "limit": "1e30"}]}, env={})


def test_user_callbacks_run_in_the_callers_context_and_routing_in_the_routers() -> None:
    # The review's case: an on_reply hook that rounds half up got the router's half-even.
    import datetime

    from router import Router
    from router.decision import decide
    from router.messages import build_request
    from router.observability import Hooks
    from router.strategies import Cheapest
    from router.tokens import RequestTokens

    rounded: list[Decimal] = []
    hooks = Hooks(on_reply=lambda call, reply: rounded.append(
        Decimal("0.125").quantize(Decimal("0.01"))))
    with decimal.localcontext() as ctx:
        ctx.rounding, ctx.prec = decimal.ROUND_HALF_UP, 2
        router = Router(SCRIPT_CONFIG, env={}, hooks=hooks)
        with respx.mock:
            respx.post(OPENAI).respond(json=_answer())
            reply = router.complete("hello " * 50, max_tokens=20)
        request = build_request("hello " * 50, max_tokens=20)
        planned = decide(request, router.deployments, strategy=Cheapest(), budget=None,
                         today=datetime.date(2026, 11, 25), tokens=RequestTokens(request))
    assert rounded == [Decimal("0.13")]  # the app's rounding, in its hook
    assert reply.cost == Decimal("0.00001215")
    assert planned.candidates[0].worst_case_cost == Decimal("0.00002070")  # not 0.000020


async def test_an_async_stream_left_by_break_settles_in_the_routers_context() -> None:
    # The review's case: the event loop's finalizer closed the stream in the caller's context
    # (prec 1, rounding down), and $0.00001215 was booked as $0.00001.
    import asyncio
    import gc

    router = _router()
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.rounding = 1, decimal.ROUND_DOWN
        with respx.mock:
            respx.post(OPENAI).respond(content=_stream_body(),
                                       headers={"content-type": "text/event-stream"})
            stream = router.astream("hello " * 50, max_tokens=20)
            async for _ in stream:
                break
            gc.collect()
            for _ in range(5):
                await asyncio.sleep(0)  # the loop's finalizer closes the generator
        spent = router.spend().total
    # 58 input tokens and the 1 output token received (no usage had come): not $0.000009
    assert spent == stream.decision.spent == Decimal("0.0000093")
    await router.aclose()


def test_a_stream_dropped_in_a_reference_cycle_is_billed() -> None:
    # The review's case: the stream's finalizer released the hold before the garbage collector
    # closed the generator, so what the stream received was never booked.
    import gc

    router = _router()
    with respx.mock:
        respx.post(OPENAI).respond(content=_stream_body(),
                                   headers={"content-type": "text/event-stream"})

        class Holder:
            pass

        holder = Holder()
        holder.me = holder  # type: ignore[attr-defined]
        holder.stream = router.stream("hello " * 50, max_tokens=20)  # type: ignore[attr-defined]
        holder.deltas = iter(holder.stream)  # type: ignore[attr-defined]
        next(holder.deltas)  # type: ignore[attr-defined]
        del holder
        gc.collect()
    report = router.spend()
    assert report.total == Decimal("0.0000093")  # the input and the 1 token received
    assert all(b.reserved == 0 for b in report.budgets)
