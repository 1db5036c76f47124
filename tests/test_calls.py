"""The call state machine on its own: retries, fallbacks, budget, deadlines and breaker, no I/O."""

from __future__ import annotations

import warnings
from decimal import Decimal
from typing import Any

import pytest
import tenacity
from tests.conftest import frozen

from router import (
    AuthenticationError,
    BadRequestError,
    CircuitBreaker,
    Completion,
    FinishReason,
    NoRouteError,
    ProviderConnectionError,
    ProviderTimeout,
    RateLimitError,
    Resilience,
    RetryPolicy,
    Router,
    ServerError,
    StreamError,
    Timeouts,
    Usage,
)
from router.calls import SKIPPED, CallState, Fail, Try
from router.messages import build_request

CONFIG: dict[str, Any] = {
    "deployments": [
        {"model": "gpt-4o-mini", "provider": "openai", "id": "mini-a", "base_url": "http://a.test/v1",
         "timeout": 30},
        {"model": "gpt-4o-mini", "provider": "openai", "id": "mini-b", "base_url": "http://b.test/v1"},
        {"model": "gpt-4o", "provider": "openai", "id": "4o", "base_url": "http://c.test/v1"},
    ]
}


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(
    *,
    attempts: int = 2,
    wait: float = 0.25,
    fallbacks: bool = True,
    total: float | None = None,
    attempt: float | None = None,
    breaker: CircuitBreaker | None = None,
    clock: Clock | None = None,
    budget: str | None = None,
    max_tokens: int | None = 100,
    max_retry_after: float = 5.0,
) -> CallState:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router(CONFIG, env={}, clock=frozen())
    messages = [{"role": "user", "content": "Hello there"}]
    decision = router.route(messages, budget=budget, max_tokens=max_tokens)
    policy = RetryPolicy(attempts=attempts, wait=tenacity.wait_fixed(wait), fallbacks=fallbacks,
                         max_retry_after=max_retry_after)
    resilience = Resilience(retry=policy, timeouts=Timeouts(total=total, attempt=attempt),
                            breaker=breaker, monotonic=clock or Clock())
    return CallState(build_request(messages, max_tokens=max_tokens), decision, resilience=resilience)


def step(call: CallState) -> Try:
    action = call.next_action()
    assert isinstance(action, Try), action
    return action


def fail(call: CallState, error: Any, **kw: Any) -> Try | Fail:
    call.failed(step(call), error, **kw)
    return call.next_action()


def ok(text: str = "hi") -> Completion:
    return Completion(text=text, finish_reason=FinishReason.STOP, usage=Usage(10, 2))


def test_a_retryable_error_is_retried_on_the_same_deployment_after_the_policy_wait() -> None:
    call = make()
    nxt = fail(call, ServerError("HTTP 500", status_code=500))
    assert isinstance(nxt, Try)
    assert (nxt.candidate.deployment, nxt.wait) == ("mini-a", 0.25)
    reply = call.succeeded(nxt, ok())
    assert [(a.deployment, a.outcome, a.wait) for a in reply.decision.attempts] == [
        ("mini-a", "ServerError", 0.0), ("mini-a", "ok", 0.25)]
    assert sum(a.cost for a in reply.decision.attempts) == reply.cost


def test_when_a_deployment_gives_up_another_deployment_of_the_same_model_comes_next() -> None:
    call = make(attempts=2)
    fail(call, ServerError("HTTP 503", status_code=503))
    nxt = fail(call, ServerError("HTTP 503", status_code=503))
    assert isinstance(nxt, Try)
    assert (nxt.candidate.deployment, nxt.wait) == ("mini-b", 0.0)
    fail(call, ProviderConnectionError("reset"))
    nxt = fail(call, ProviderConnectionError("reset"))
    assert isinstance(nxt, Try)
    assert nxt.candidate.deployment == "4o"  # only then another model
    assert "not retried: 2 attempts made" in (call.attempts[1].error or "")


def test_bad_requests_are_neither_retried_nor_sent_elsewhere() -> None:
    call = make()
    error = BadRequestError("HTTP 400: bad", status_code=400)
    nxt = fail(call, error)
    assert isinstance(nxt, Fail)
    assert nxt.error is error
    assert error.decision is not None
    assert [a.outcome for a in error.decision.attempts] == ["BadRequestError"]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_not_retried_but_falls_back(status: int) -> None:
    call = make()
    nxt = fail(call, AuthenticationError(f"HTTP {status}", status_code=status))
    assert isinstance(nxt, Try)
    assert nxt.candidate.deployment == "mini-b"


def test_a_404_falls_back_without_retrying() -> None:
    call = make()
    nxt = fail(call, BadRequestError("HTTP 404: no such model", status_code=404))
    assert isinstance(nxt, Try)
    assert nxt.candidate.deployment == "mini-b"


def test_retry_after_is_honoured_and_a_long_one_moves_on() -> None:
    call = make(max_retry_after=5.0)
    nxt = fail(call, RateLimitError("HTTP 429", status_code=429, retry_after=1.5))
    assert isinstance(nxt, Try)
    assert (nxt.candidate.deployment, nxt.wait) == ("mini-a", 1.5)
    call = make(max_retry_after=5.0)
    nxt = fail(call, RateLimitError("HTTP 429", status_code=429, retry_after=60))
    assert isinstance(nxt, Try)
    assert (nxt.candidate.deployment, nxt.wait) == ("mini-b", 0.0)
    assert "Retry-After 60s is longer than max_retry_after 5s" in (call.attempts[0].error or "")


def test_without_fallbacks_the_last_error_is_raised() -> None:
    call = make(attempts=2, fallbacks=False)
    fail(call, ServerError("HTTP 500", status_code=500))
    nxt = fail(call, ServerError("HTTP 502", status_code=502))
    assert isinstance(nxt, Fail)
    assert str(nxt.error) == "HTTP 502"


def test_without_fallbacks_a_retry_skipped_by_the_breaker_does_not_move_on() -> None:
    breaker = CircuitBreaker(failures=1, cooldown=30, clock=Clock())
    call = make(attempts=3, fallbacks=False, breaker=breaker)
    nxt = fail(call, ServerError("HTTP 500", status_code=500))
    assert isinstance(nxt, Fail)
    assert [(a.deployment, a.outcome) for a in call.attempts] == [
        ("mini-a", "ServerError"), ("mini-a", SKIPPED)]


def test_when_every_candidate_fails_the_error_carries_all_attempts() -> None:
    call = make(attempts=1)
    for _ in range(3):
        nxt = fail(call, ServerError("HTTP 500", status_code=500))
    assert isinstance(nxt, Fail)
    assert isinstance(nxt.error, ServerError)
    record = nxt.error.decision
    assert record is not None
    assert [a.deployment for a in record.attempts] == ["mini-a", "mini-b", "4o"]
    lines = str(record).splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("  attempt ")] == [
        "  attempt mini-a", "  attempt mini-b", "  attempt 4o"]


def test_a_fallback_gets_what_the_budget_leaves_when_the_router_chose_the_output_cap() -> None:
    # Unset max_tokens: the router capped each candidate's output so its worst case fits the
    # whole budget. After a paid failure the fallback is capped again, to what is left (the
    # audit's case: every fallback was skipped, "spent + worst case would exceed the budget").
    call = make(budget="0.001", max_tokens=None, attempts=1)
    first = step(call)
    call.failed(first, ProviderConnectionError("reset mid-tool-call"), cost=Decimal("0.0004"))
    nxt = step(call)
    assert nxt.candidate.deployment == "mini-b"
    assert nxt.candidate.output_capped
    assert nxt.options.max_tokens == nxt.candidate.max_output_tokens
    assert nxt.candidate.max_output_tokens < first.candidate.max_output_tokens
    assert call.spent + nxt.candidate.worst_case_cost <= Decimal("0.001")
    assert call.decision.candidates[1].worst_case_cost > Decimal("0.0006")  # the plan is unchanged
    assert (f"mini-b: output capped at {nxt.candidate.max_output_tokens} tokens" in
            str(call.record()))  # and the record says what was sent instead
    reply = call.succeeded(nxt, ok())
    assert reply.cost == reply.decision.spent == Decimal("0.0004") + reply.decision.attempts[-1].cost
    assert reply.cost <= Decimal("0.001")


def test_a_fallback_that_cannot_fit_what_is_left_is_skipped() -> None:
    # max_tokens set by the caller: the router never lowers it, so the fallback must fit whole.
    call = make(budget="0.0003", max_tokens=100)
    first = step(call)
    worst = first.candidate.worst_case_cost
    call.failed(first, ProviderConnectionError("reset"), cost=Decimal("0.0003") - worst / 2)
    nxt = call.next_action()
    assert isinstance(nxt, Fail)
    assert isinstance(nxt.error, ProviderConnectionError)
    skipped = [a for a in call.attempts if a.outcome == SKIPPED]
    assert [a.deployment for a in skipped] == ["mini-a", "mini-b"]  # 4o never fitted 0.0003
    assert all("would exceed the budget $0.0003" in (a.error or "") for a in skipped)
    assert "skipped mini-b: spent $0.0" in str(call.record())
    # and with max_tokens unset, a fallback that would be left fewer than min_output_tokens
    call = make(budget="0.001", max_tokens=None)
    first = step(call)
    call.failed(first, ProviderConnectionError("reset"), cost=Decimal("0.000999"))
    assert isinstance(call.next_action(), Fail)
    assert all(a.outcome == SKIPPED for a in call.attempts[1:])


def test_failed_attempts_cost_nothing_and_nothing_is_billed_twice() -> None:
    call = make()
    fail(call, ServerError("HTTP 500", status_code=500))
    reply = call.succeeded(step(call), ok())
    assert next(a.cost for a in reply.decision.attempts) == 0
    assert call.spent == reply.cost == reply.decision.attempts[-1].cost


def test_each_attempt_gets_the_shortest_of_its_timeouts() -> None:
    clock = Clock()
    call = make(total=20.0, attempt=10.0, clock=clock)
    assert step(call).options.timeout == 10.0  # attempt < deployment's 30 < total
    clock.now = 15.0
    nxt = fail(call, ProviderTimeout("slow"))
    assert isinstance(nxt, Try)
    assert nxt.options.timeout == pytest.approx(5.0 - 0.25)  # what is left after the wait


def test_no_retry_waits_past_the_deadline_but_a_fallback_may_use_what_is_left() -> None:
    clock = Clock()
    call = make(total=10.0, wait=0.5, clock=clock)
    step(call)
    clock.now = 9.7
    nxt = fail(call, ServerError("HTTP 500", status_code=500))
    assert isinstance(nxt, Try)
    assert (nxt.candidate.deployment, nxt.wait) == ("mini-b", 0.0)
    assert nxt.options.timeout == pytest.approx(0.3)
    assert "deadline leaves no time" in (call.attempts[0].error or "")


def test_after_the_deadline_the_call_fails_with_a_timeout_chained_to_the_last_error() -> None:
    clock = Clock()
    call = make(total=10.0, clock=clock)
    step(call)
    clock.now = 10.0
    last = ServerError("HTTP 500", status_code=500)
    nxt = fail(call, last)
    assert isinstance(nxt, Fail)
    assert isinstance(nxt.error, ProviderTimeout)
    assert "deadline of 10s passed after 1 attempt" in str(nxt.error)
    assert nxt.error.__cause__ is last


def test_the_breaker_opens_mid_call_and_the_next_deployment_takes_over() -> None:
    wall = Clock()
    breaker = CircuitBreaker(failures=2, cooldown=30, clock=wall)
    call = make(attempts=3, breaker=breaker)
    fail(call, ServerError("HTTP 500", status_code=500))
    nxt = fail(call, ServerError("HTTP 500", status_code=500))
    assert isinstance(nxt, Try)
    assert nxt.candidate.deployment == "mini-b"
    assert call.attempts[-1].outcome == SKIPPED
    assert "circuit open after 2 consecutive failures" in (call.attempts[-1].error or "")
    call.succeeded(nxt, ok())
    assert breaker.unavailable(["mini-a", "mini-b"]).keys() == {"mini-a"}


def test_success_closes_the_breaker_and_resets_the_count() -> None:
    breaker = CircuitBreaker(failures=3, cooldown=30, clock=Clock())
    call = make(breaker=breaker)
    fail(call, ServerError("HTTP 500", status_code=500))
    assert breaker.store.get_many(["mini-a"])["mini-a"].failures == 1
    call.succeeded(step(call), ok())
    assert breaker.store.get_many(["mini-a"])["mini-a"].failures == 0


def test_client_errors_do_not_count_against_the_breaker() -> None:
    breaker = CircuitBreaker(failures=1, cooldown=30, clock=Clock())
    call = make(breaker=breaker)
    fail(call, BadRequestError("HTTP 400", status_code=400))
    assert breaker.unavailable(["mini-a"]) == {}


def test_a_stream_broken_after_text_is_billed_and_never_retried() -> None:
    breaker = CircuitBreaker(failures=5, cooldown=30, clock=Clock())
    call = make(breaker=breaker)
    action = step(call)
    partial = Completion(text="Hello wor", finish_reason=FinishReason.OTHER, usage=Usage())
    error = call.interrupted(action, partial, ProviderConnectionError("reset", deployment="mini-a"))
    assert isinstance(error, StreamError)
    assert error.partial_text == "Hello wor"
    assert error.cost is not None
    assert error.cost > 0
    assert "broke (reset)" in str(error)
    nxt = call.next_action()
    assert isinstance(nxt, Fail)
    assert nxt.error is error
    assert call.spent == error.cost == call.attempts[-1].cost
    assert breaker.store.get_many(["mini-a"])["mini-a"].failures == 1


def test_an_error_after_money_was_spent_carries_the_requests_whole_spend() -> None:
    call = make()
    first = step(call)
    partial = Completion(text="", finish_reason=FinishReason.OTHER, usage=Usage(10, 3))
    billed = call.received_cost(first, partial)  # e.g. tool-call pieces before any text
    call.failed(first, ServerError("HTTP 500", status_code=500), cost=billed)
    error = BadRequestError("HTTP 400: bad", status_code=400)
    nxt = fail(call, error)  # costs nothing itself, but the request has spent
    assert isinstance(nxt, Fail)
    assert nxt.error is error
    assert billed > 0
    assert error.cost == billed == call.spent
    assert error.decision is not None
    assert error.decision.spent == error.cost


def test_a_stream_that_ended_without_a_finish_reason_is_truncated_not_done() -> None:
    call = make()
    partial = Completion(text="Hello", finish_reason=FinishReason.OTHER, usage=Usage(10, 1))
    error = call.interrupted(step(call), partial, None)
    assert error.truncated
    assert "truncated" in str(error)
    assert isinstance(call.next_action(), Fail)


def test_a_stream_that_failed_before_any_text_is_an_ordinary_retry() -> None:
    call = make()
    empty = StreamError("ended before any text", truncated=True)
    nxt = fail(call, empty)
    assert isinstance(nxt, Try)
    assert nxt.candidate.deployment == "mini-a"


def test_nothing_received_costs_nothing() -> None:
    call = make()
    action = step(call)
    nothing = Completion(text="", finish_reason=FinishReason.OTHER, usage=Usage())
    assert call.received_cost(action, nothing) == 0
    some = Completion(text="Hel", finish_reason=FinishReason.OTHER, usage=Usage())
    assert call.received_cost(action, some) > 0


def test_breakers_opened_by_other_requests_after_the_decision_are_respected() -> None:
    breaker = CircuitBreaker(failures=1, cooldown=30, clock=Clock())
    call = make(breaker=breaker)
    first = step(call)  # planned mini-a while every circuit was closed
    for dep in ("mini-a", "mini-b", "4o"):
        breaker.record_failure(dep, ServerError("HTTP 500"))
    call.failed(first, ServerError("HTTP 500", status_code=500))
    nxt = call.next_action()
    assert isinstance(nxt, Fail)
    assert isinstance(nxt.error, ServerError)
    assert [a.outcome for a in call.attempts] == ["ServerError", SKIPPED, SKIPPED, SKIPPED]
    late = make(breaker=breaker)  # its decision did not know: every candidate is skipped
    nothing = late.next_action()
    assert isinstance(nothing, Fail)
    assert isinstance(nothing.error, NoRouteError)
    assert "every candidate was skipped" in str(nothing.error)


def test_tenacity_stop_strategies_compose_with_the_attempts() -> None:
    clock = Clock()
    policy = RetryPolicy(attempts=10, wait=tenacity.wait_fixed(1.0), stop=tenacity.stop_after_delay(2.5))
    state = policy.start(clock())
    verdicts = []
    for now in (0.0, 1.0, 2.0, 3.0):
        verdicts.append(policy.after_failure(state, ServerError("x"), now))
    assert verdicts[:3] == [1.0, 1.0, 1.0]
    assert verdicts[3] == "4 attempts made"


def test_a_shell_may_skip_an_action_it_cannot_cover() -> None:
    call = make()
    call.skipped(step(call), "the team budget cannot cover $0.00006")
    nxt = call.next_action()
    assert isinstance(nxt, Try)
    assert nxt.candidate.deployment == "mini-b"
    assert call.attempts[0].outcome == SKIPPED
    assert "skipped mini-a: the team budget cannot cover" in str(call.record())


def test_a_timeout_because_the_request_ran_out_of_time_does_not_count_against_the_breaker() -> None:
    breaker = CircuitBreaker(failures=1, cooldown=30, clock=Clock())
    clock = Clock()
    call = make(total=10.0, attempt=4.0, clock=clock, breaker=breaker)
    step(call)
    clock.now = 4.0  # the attempt had its full 4 s: the deployment is slow
    nxt = fail(call, ProviderTimeout("slow"))
    assert isinstance(nxt, Try)
    assert breaker.unavailable(["mini-a"]).keys() == {"mini-a"}
    assert nxt.candidate.deployment == "mini-b"
    clock.now = 10.0  # mini-b was given the 6 s left and used them all: the request is out of time
    nxt = fail(call, ProviderTimeout("slow"))
    assert isinstance(nxt, Fail)
    assert breaker.unavailable(["mini-b"]) == {}


def test_a_stream_that_overran_the_request_deadline_does_not_count_against_the_breaker() -> None:
    breaker = CircuitBreaker(failures=1, cooldown=30, clock=Clock())
    clock = Clock()
    call = make(total=10.0, clock=clock, breaker=breaker)
    action = step(call)
    clock.now = 10.5
    partial = Completion(text="Hello wor", finish_reason=FinishReason.OTHER, usage=Usage())
    overdue = call.overdue(action)
    assert overdue is not None
    error = call.interrupted(action, partial, overdue)
    assert error.cost is not None
    assert error.cost > 0  # still billed for what arrived
    assert breaker.unavailable(["mini-a"]) == {}
    # a 408 from the provider is the deployment's own answer: it counts
    call = make(total=10.0, clock=clock, breaker=breaker)
    call.interrupted(step(call), partial, ProviderTimeout("HTTP 408", status_code=408))
    assert breaker.unavailable(["mini-a"]).keys() == {"mini-a"}


@pytest.mark.parametrize(("received", "after"), [("Hello", "closed"), ("", "free to probe")])
def test_a_probe_the_caller_abandons_does_not_keep_the_deployment_out(received: str,
                                                                      after: str) -> None:
    # The audit's case: a half-open probe that streamed text was left by the caller, and every
    # request for the next cooldown got "another request is probing it".
    from router.breaker import BreakerState

    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=30, clock=clock)
    breaker.record_failure("mini-a", ServerError("HTTP 503", status_code=503))
    clock.now = 31.0  # half-open: the next request is the probe
    call = make(breaker=breaker, attempts=1)
    probe = step(call)
    assert probe.candidate.deployment == "mini-a"
    assert breaker.acquire("mini-a") == "circuit half-open: another request is probing it"
    partial = Completion(text=received, finish_reason=FinishReason.OTHER, usage=Usage())
    call.abandoned(probe, partial, GeneratorExit())
    state = breaker.states(["mini-a"])["mini-a"]
    if after == "closed":
        assert state is BreakerState.CLOSED
    else:
        assert state is BreakerState.HALF_OPEN
    assert breaker.acquire("mini-a") is None  # the next request goes ahead either way


def test_a_probe_answered_with_a_client_error_frees_the_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=30, clock=clock)
    breaker.record_failure("mini-a", ServerError("HTTP 503", status_code=503))
    clock.now = 31.0
    call = make(breaker=breaker)
    fail(call, BadRequestError("HTTP 400: bad", status_code=400))
    assert breaker.acquire("mini-a") is None
