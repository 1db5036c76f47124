"""A stream the caller leaves mid-answer (a `break`, a dropped iterator, a cancelled task) is billed
for what it received, as the provider bills it: its reservation is settled, not released."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any

import pytest
from tests.resilience.conftest import MODELS, make_router, served_by

from router import Router, StreamError, Usage
from router.ledger import Outcome
from router.pricing import actual_cost
from router.streaming import AsyncReplyStream, ReplyStream
from router.testing import FakeProviderServer, MidStreamError, Ok
from router.tokens import count_tokens

BUDGET = [{"scope": "global", "limit": "100", "window": "month"}]
ANSWER = Ok(text=" ".join(["word"] * 50))


def leave_after(router: Router, mode: str, deltas: int) -> tuple[ReplyStream | AsyncReplyStream, str]:
    """Read `deltas` text deltas, then walk away."""
    shown: list[str] = []
    if mode == "stream":
        stream = router.stream("Say something")
        for delta in stream:
            shown.append(delta)
            if len(shown) == deltas:
                break  # the for loop drops its iterator: GeneratorExit at the yield
        return stream, "".join(shown)

    async def main() -> AsyncReplyStream:
        stream = router.astream("Say something")
        async for delta in stream:
            shown.append(delta)
            if len(shown) == deltas:
                break  # the generator is closed when the loop shuts down
        return stream

    return asyncio.run(main()), "".join(shown)


def expected_cost(router: Router, stream: Any, shown: str) -> Any:
    """The input at the router's estimate and the text received, at the deployment's prices."""
    chosen = stream.decision.chosen
    received = Usage(input_tokens=chosen.input_tokens,
                     output_tokens=count_tokens(shown, chosen.spec.tokenizer))
    return actual_cost(router.deployments[0].price, received)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_stream_left_mid_answer_is_billed_and_settled(
    fake_provider: FakeProviderServer, adapter: str, mode: str
) -> None:
    router = make_router(fake_provider, adapter, budgets=BUDGET)
    fake_provider.script(ANSWER)
    stream, shown = leave_after(router, mode, 5)
    assert served_by(fake_provider) == ["primary"]
    [attempt] = stream.decision.attempts
    assert attempt.outcome == "cancelled"
    assert attempt.cost == expected_cost(router, stream, shown) > 0
    [entry] = router.ledger.entries()
    assert (entry.cost, entry.outcome, entry.deployment) == (attempt.cost, Outcome.CANCELLED,
                                                              "primary")
    assert all(b.reserved == 0 for b in router.ledger.scan("").values())
    assert router.spend().total == attempt.cost
    router.close()


def test_a_dropped_stream_is_billed_too(fake_provider: FakeProviderServer, adapter: str) -> None:
    router = make_router(fake_provider, adapter, budgets=BUDGET)
    fake_provider.script(ANSWER)
    stream = router.stream("Say something")
    deltas = iter(stream)
    shown = next(deltas) + next(deltas)
    cost = expected_cost(router, stream, shown)
    del deltas, stream
    gc.collect()
    [entry] = router.ledger.entries()
    assert (entry.cost, entry.outcome) == (cost, Outcome.CANCELLED)
    assert all(b.reserved == 0 for b in router.ledger.scan("").values())
    router.close()


def test_a_stream_never_read_gives_its_reservation_back(
    fake_provider: FakeProviderServer, adapter: str
) -> None:
    router = make_router(fake_provider, adapter, budgets=BUDGET)
    stream = router.stream("Say something")
    assert any(b.reserved > 0 for b in router.ledger.scan("").values())
    del stream
    gc.collect()
    assert list(router.ledger.entries()) == []
    assert all(b == type(b)() for b in router.ledger.scan("").values())
    assert fake_provider.requests == []
    router.close()


# Long words: a few bytes each is far more than the max_tokens below, in the bytes upper bound.
LONG_WORDS = Ok(text="extraordinarily incomprehensibilities counterrevolutionaries "
                     "uncharacteristically")


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("ending", ["broken", "abandoned"])
def test_a_stream_cut_short_never_costs_more_than_its_worst_case(
    fake_provider: FakeProviderServer, adapter: str, mode: str, ending: str
) -> None:
    """With the bytes upper-bound tokenizer (a user-added model, or none installed) the router's
    own count of the text received is far above what the provider billed: it is capped at the
    max_tokens sent, so the call's spend stays within the worst case every budget reserved."""
    model = MODELS[adapter]
    router = make_router(fake_provider, adapter, models={model: {"tokenizer": "bytes"}},
                         budgets=BUDGET)
    chosen = router.route("Say it", max_tokens=5).chosen
    assert chosen is not None
    if ending == "broken":
        fake_provider.script(MidStreamError(after_tokens=3))  # "Echo: Say it": 12 bytes
    else:
        fake_provider.script(LONG_WORDS)
    shown: list[str] = []

    async def read_async() -> None:
        async for delta in stream:  # type: ignore[union-attr]
            shown.append(delta)
            if ending == "abandoned" and len(shown) == 3:
                break

    stream: ReplyStream | AsyncReplyStream
    with contextlib.suppress(StreamError):
        if mode == "stream":
            stream = router.stream("Say it", max_tokens=5, budget=chosen.worst_case_cost)
            for delta in stream:
                shown.append(delta)
                if ending == "abandoned" and len(shown) == 3:
                    break
        else:
            stream = router.astream("Say it", max_tokens=5, budget=chosen.worst_case_cost)
            asyncio.run(read_async())
    assert len(shown) == 3
    assert count_tokens("".join(shown), "bytes") > chosen.max_output_tokens == 5
    [attempt] = stream.decision.attempts
    assert attempt.outcome == ("StreamError" if ending == "broken" else "cancelled")
    price = router.deployments[0].price
    assert attempt.cost == actual_cost(price, Usage(chosen.input_tokens, 5)) == (
        chosen.worst_case_cost)
    assert router.spend().total == attempt.cost
    router.close()


@pytest.mark.parametrize("left", ["kept", "dropped"])
def test_an_async_stream_left_open_is_closed_cleanly_at_loop_shutdown(
    fake_provider: FakeProviderServer, adapter: str, left: str
) -> None:
    """`asyncio.run()` closes every unfinished async generator at once when it ends; the stream's
    inner generators are closed by the stream alone, not a second time alongside it ("aclose():
    asynchronous generator is already running")."""
    router = make_router(fake_provider, adapter, budgets=BUDGET)
    streams = 6  # the loop closes them in no set order: some orders went wrong, some did not
    fake_provider.script(*[Ok(text=" ".join(["word"] * 20), token_delay=0.02)] * streams)
    reported: list[str] = []
    held: list[Any] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: reported.append(f"{context['message']}: "
                                                  f"{context.get('exception')!r}"))
        for _ in range(streams):
            deltas = router.astream("Say something").__aiter__()
            await anext(deltas)
            await anext(deltas)
            if left == "kept":
                held.append(deltas)  # still open when the loop shuts down
            del deltas

    asyncio.run(main())
    gc.collect()
    assert reported == []
    entries = list(router.ledger.entries())
    assert len(entries) == streams
    assert {e.outcome for e in entries} == {Outcome.CANCELLED}  # not failed with a RuntimeError
    router.close()
