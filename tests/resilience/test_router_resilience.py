"""The router end to end against the fake provider: breaker in the decision, fallbacks across
models and adapters, deadlines, the budget across attempts, and event loops."""

from __future__ import annotations

import asyncio
import time
import warnings
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import frozen
from tests.resilience.conftest import FAST, config, make_router, run, served_by

from router import (
    CircuitBreaker,
    NoRouteError,
    ProviderConnectionError,
    ProviderTimeout,
    Resilience,
    RetryPolicy,
    Router,
    ServerError,
    StreamError,
    Timeouts,
)
from router.decision import SKIPPED
from router.money import format_usd
from router.testing import FakeProviderServer, HttpError, Ok, StreamCut, slow

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"query": {"type": "string"}}}}}]


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


def with_breaker(server: FakeProviderServer, adapter: str, clock: Clock) -> Router:
    resilience = Resilience(
        retry=RetryPolicy(attempts=1),
        timeouts=Timeouts(total=5, attempt=1),
        breaker=CircuitBreaker(failures=2, cooldown=30, clock=clock),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(config(server, adapter), env={}, clock=frozen(), resilience=resilience)


def test_an_open_circuit_takes_the_deployment_out_of_decisions_until_a_probe(
    fake_provider: FakeProviderServer, adapter: str
) -> None:
    clock = Clock()
    router = with_breaker(fake_provider, adapter, clock)
    for _ in range(2):
        fake_provider.script(HttpError(status=503))
        assert run(router, "sync").reply is not None  # the backup answered
    assert served_by(fake_provider) == ["primary", "backup"] * 2
    fake_provider.clear_log()
    decision = router.route("Say something")
    assert [c.deployment for c in decision.candidates] == ["backup"]
    assert decision.exclusion_kinds["primary"] == "unavailable"
    assert "- primary: circuit open after 2 consecutive failures" in str(decision)
    out = run(router, "stream")
    assert out.reply is not None
    assert served_by(fake_provider) == ["backup"]
    assert "circuit open" in str(out.reply.decision)
    clock.now += 30  # cooldown over: the next request probes the primary, and it has recovered
    out = run(router, "sync")
    assert out.reply is not None
    assert out.reply.deployment == "primary"
    assert router.route("Say something").deployment == "primary"


def test_when_every_circuit_is_open_there_is_no_route(
    fake_provider: FakeProviderServer, adapter: str
) -> None:
    router = with_breaker(fake_provider, adapter, Clock())
    fake_provider.push(HttpError(status=500), times=4)
    for _ in range(2):
        assert isinstance(run(router, "sync").error, ServerError)
    with pytest.raises(NoRouteError) as info:
        router.complete("Say something")
    assert "circuit open" in str(info.value)


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_a_fallback_to_another_model_on_another_adapter(
    fake_provider: FakeProviderServer, mode: str
) -> None:
    cfg: dict[str, Any] = {
        "deployments": [
            {"id": "nemo", "model": "mistral-nemo", "provider": "mistral", "api_key": "k",
             "base_url": fake_provider.url + "/nemo"},
            {"id": "mini", "model": "gpt-4o-mini", "provider": "openai", "api_key": "k",
             "base_url": fake_provider.url + "/mini/v1"},
        ],
        **FAST,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router(cfg, env={}, clock=frozen())
    assert router.route("Say something").deployment == "nemo"  # the cheaper one first
    fake_provider.push(HttpError(status=502), times=2)
    out = run(router, mode)
    assert out.reply is not None
    assert (out.reply.model, out.reply.deployment) == ("gpt-4o-mini", "mini")
    assert served_by(fake_provider) == ["nemo", "nemo", "mini"]
    assert out.reply.decision.spent == out.reply.cost


def warm_up(router: Router, server: FakeProviderServer, mode: str) -> None:
    """One ordinary request first: a cold process loads the tokenizer and builds the SDK client
    on its first call (about a second), which a tight deadline would otherwise count."""
    assert run(router, mode).reply is not None
    server.clear_log()


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_the_overall_deadline_bounds_all_attempts(
    fake_provider: FakeProviderServer, adapter: str, mode: str
) -> None:
    router = make_router(fake_provider, adapter, timeouts={"attempt": 0.3, "total": 0.5})
    warm_up(router, fake_provider, mode)
    fake_provider.push(slow(2.0), times=4)
    started = time.perf_counter()
    out = run(router, mode)
    elapsed = time.perf_counter() - started
    assert isinstance(out.error, ProviderTimeout)
    assert elapsed < 1.0
    assert "deadline of 0.5s passed after 2 attempts" in str(out.error)
    assert out.error.decision is not None
    assert out.error.decision.attempts[1].deployment == "primary"


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_the_overall_deadline_covers_the_whole_stream(
    fake_provider: FakeProviderServer, adapter: str, mode: str
) -> None:
    router = make_router(fake_provider, adapter, timeouts={"attempt": 0.3, "total": 0.5})
    warm_up(router, fake_provider, mode)
    # 40 words 0.05 s apart: every chunk comes well within the attempt timeout, the whole stream
    # would take 2 s
    fake_provider.script(Ok(text=" ".join(["word"] * 40), token_delay=0.05))
    started = time.perf_counter()
    out = run(router, mode)
    elapsed = time.perf_counter() - started
    assert isinstance(out.error, StreamError)
    assert "deadline" in str(out.error)
    assert "passed while streaming" in str(out.error)
    assert not out.error.truncated
    assert out.shown
    assert out.error.partial_text == out.shown
    assert out.error.cost is not None
    assert out.error.cost > 0  # billed for what was received
    assert elapsed < 1.5
    assert served_by(fake_provider) == ["primary"]  # text was shown: never retried
    assert out.error.decision is not None
    assert out.error.decision.attempts[-1].outcome == "StreamError"
    assert out.error.decision.spent == out.error.cost


def test_a_broken_tool_call_stream_is_billed_and_the_retry_must_fit_the_budget(
    fake_provider: FakeProviderServer, adapter: str
) -> None:
    router = make_router(fake_provider, adapter)
    # max_tokens set, and a budget of exactly its worst case: once the broken attempt has cost
    # something, no candidate fits any more (the router never lowers a caller's max_tokens).
    worst = router.route("Look it up", tools=TOOLS, tool_choice="lookup", max_tokens=50
                         ).candidates[0].worst_case_cost
    fake_provider.script(StreamCut(after_tokens=1))
    out = run(router, "stream", "Look it up", tools=TOOLS, tool_choice="lookup", budget=worst,
              max_tokens=50)
    assert isinstance(out.error, ProviderConnectionError)
    assert out.shown == ""
    assert served_by(fake_provider) == ["primary"]
    assert out.error.decision is not None
    attempts = out.error.decision.attempts
    assert attempts[0].cost > 0  # the tool-call tokens that arrived
    assert [a.outcome for a in attempts[1:]] == [SKIPPED, SKIPPED]
    assert f"would exceed the budget {format_usd(worst)}" in (attempts[1].error or "")
    # max_tokens unset: the router chose the output cap, so the retry gets what is left.
    fake_provider.script(StreamCut(after_tokens=1))
    out = run(router, "stream", "Look it up", tools=TOOLS, tool_choice="lookup", budget="0.0005")
    assert out.reply is not None
    attempts = out.reply.decision.attempts
    assert [a.deployment for a in attempts] == ["primary", "primary"]
    assert out.reply.cost == attempts[0].cost + attempts[1].cost <= Decimal("0.0005")
    # With room in the budget, the retry goes ahead and both attempts are billed, once each.
    fake_provider.script(StreamCut(after_tokens=1))
    out = run(router, "stream", "Look it up", tools=TOOLS, tool_choice="lookup", budget="0.01",
              max_tokens=50)
    assert out.reply is not None
    attempts = out.reply.decision.attempts
    assert [a.deployment for a in attempts] == ["primary", "primary"]
    assert attempts[0].cost > 0
    # reply.cost is everything the request was billed for: the broken attempt and the answer.
    assert out.reply.cost == out.reply.decision.spent == attempts[0].cost + attempts[1].cost


def test_one_router_serves_several_event_loops(fake_provider: FakeProviderServer, adapter: str) -> None:
    router = make_router(fake_provider, adapter)
    for _ in range(3):  # each asyncio.run() is a new loop; the old loop's client must not leak
        reply = asyncio.run(router.acomplete("Say something"))
        assert reply.deployment == "primary"

    async def both() -> None:
        await router.acomplete("Say something")
        await router.aclose()

    asyncio.run(both())


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_each_event_loops_client_is_closed_with_its_loop(
    fake_provider: FakeProviderServer, adapter: str, stack: str
) -> None:
    # The audit's case: 3 asyncio.run() calls left 3 clients' sockets open ("unclosed
    # transport" ResourceWarnings when collected); each now closes as its loop shuts down.
    router = make_router(fake_provider, adapter, http_client=stack)
    provider: Any = router._provider(router.deployments[0])
    made: list[Any] = []
    asyncio.run(router.acomplete("Say something"))  # makes the LoopBound; record what it makes
    made.append(provider._async.current() or provider._async._client)
    factory = provider._async._factory
    provider._async._factory = lambda: made.append(factory()) or made[-1]
    for _ in range(2):
        asyncio.run(router.acomplete("Say something"))

    def closed(client: Any) -> bool:
        if adapter == "openai":
            return bool(client.is_closed())
        return bool(client.sdk_configuration.async_client.is_closed)

    assert len(made) == 3
    assert [closed(c) for c in made] == [True, True, True]
    router.close()


def test_retries_and_fallbacks_can_be_turned_off(fake_provider: FakeProviderServer, adapter: str) -> None:
    router = make_router(fake_provider, adapter, retries={"attempts": 1, "fallbacks": False})
    fake_provider.script(HttpError(status=503))
    out = run(router, "sync")
    assert isinstance(out.error, ServerError)
    assert served_by(fake_provider) == ["primary"]
    assert out.error.decision is not None
    assert out.error.decision.spent == Decimal(0)


def test_event_loops_in_several_threads_each_keep_their_client(
    fake_provider: FakeProviderServer, adapter: str
) -> None:
    # Loops running at once in two threads: each has a client of its own for as long as it runs
    # (one loop's call must never find its client closed because another loop made one).
    import threading

    router = make_router(fake_provider, adapter)
    errors: list[BaseException] = []

    def worker() -> None:
        async def calls() -> None:
            for _ in range(15):
                await router.acomplete("Say something")
                await asyncio.sleep(0.001)

        try:
            asyncio.run(calls())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    router.close()
