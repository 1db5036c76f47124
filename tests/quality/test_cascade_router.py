"""The cascade strategy end to end: a rejected cheap answer escalates, both calls are paid for;
when the escalation cannot succeed, the caller gets the cheap answer it paid for."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from tests.conftest import OPENAI_URL, chat_json

from router import InvalidRequestError, Router, RouterError
from router.decision import SKIPPED
from router.errors import AnswerCheckError
from router.ledger import Balance, Outcome
from router.pricing import actual_cost
from router.quality.cascade import CascadeStrategy
from router.types import Usage

CONFIG: dict[str, Any] = {
    "deployments": [
        {"model": "gpt-4o-mini", "provider": "openai", "api_key": "k"},
        {"model": "gpt-4o", "provider": "openai", "api_key": "k"},
    ],
    "retries": {"attempts": 1},
}

REFUSAL = "I'm sorry, but I can't help with that."


def answers(by_model: dict[str, str]) -> Any:
    def reply(request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        return httpx.Response(200, json=chat_json(by_model[model], model=model, prompt_tokens=20,
                                                  completion_tokens=10))
    return reply


def test_a_refusal_escalates_and_both_calls_are_billed(make_router: Any) -> None:
    router: Router = make_router(CONFIG, strategy="cascade")
    with respx.mock:
        route = respx.post(OPENAI_URL).mock(side_effect=answers(
            {"gpt-4o-mini": REFUSAL, "gpt-4o": "Here is the answer."}))
        reply = router.complete("Explain the proof.", max_tokens=50, budget="0.01")
    assert route.call_count == 2
    assert reply.model == "gpt-4o"
    assert reply.text == "Here is the answer."
    first, second = reply.decision.attempts
    assert (first.model, first.outcome) == ("gpt-4o-mini", "rejected")
    assert first.error is not None
    assert "refusal" in first.error
    assert (second.model, second.outcome) == ("gpt-4o", "ok")
    mini, big = (d.price for d in router.deployments)
    expected = actual_cost(mini, Usage(20, 10)) + actual_cost(big, Usage(20, 10))
    assert reply.cost == expected == first.cost + second.cost


def test_a_good_cheap_answer_stays(make_router: Any) -> None:
    router: Router = make_router(CONFIG, strategy="cascade")
    with respx.mock:
        route = respx.post(OPENAI_URL).mock(side_effect=answers(
            {"gpt-4o-mini": "Fine answer.", "gpt-4o": "unused"}))
        reply = router.complete("Explain.", max_tokens=50)
    assert route.call_count == 1
    assert reply.model == "gpt-4o-mini"


def test_the_budget_bounds_the_sum_of_the_calls(make_router: Any) -> None:
    router: Router = make_router(CONFIG, strategy="cascade")
    probe = router.route("Explain.", max_tokens=50, models=["gpt-4o"])
    gpt4o_worst = probe.candidates[0].worst_case_cost
    with respx.mock:
        route = respx.post(OPENAI_URL).mock(side_effect=answers(
            {"gpt-4o-mini": REFUSAL, "gpt-4o": "unused"}))
        # Enough for gpt-4o alone, not for gpt-4o after paying for gpt-4o-mini's answer.
        reply = router.complete("Explain.", max_tokens=50, budget=gpt4o_worst)
    assert route.call_count == 1
    assert reply.model == "gpt-4o-mini"
    assert reply.decision.attempts[-1].error is not None
    assert "no stronger model is left within the budget" in reply.decision.attempts[-1].error
    assert reply.cost <= gpt4o_worst


def test_without_max_tokens_the_escalation_gets_what_the_budget_leaves(make_router: Any) -> None:
    # The audit's case: every candidate's output was capped to the whole budget, so after the
    # cheapest answer was paid for the next model "did not fit" and the cascade either skipped
    # it for a pricier one or gave up. Now the next model is capped to what is left.
    config = {**CONFIG, "deployments": [
        {"model": "mistral-nemo", "provider": "openai", "api_key": "k",
         "base_url": "https://openrouter.ai/api/v1"}, *CONFIG["deployments"]]}
    router: Router = make_router(config, strategy=CascadeStrategy([lambda c, r: "weak"]))
    with respx.mock:
        respx.post("https://openrouter.ai/api/v1/chat/completions").respond(
            json=chat_json("meh", prompt_tokens=20, completion_tokens=10))
        route = respx.post(OPENAI_URL).mock(side_effect=answers(
            {"gpt-4o-mini": "mini says", "gpt-4o": "4o says"}))
        reply = router.complete("Explain tides.", budget="0.0002")
    models = [(a.model, a.outcome) for a in reply.decision.attempts]
    assert models[:2] == [("mistral-nemo", "rejected"), ("gpt-4o-mini", "rejected")]
    sent = [json.loads(call.request.content) for call in route.calls]
    assert sent[0]["model"] == "gpt-4o-mini"
    mini_plan = next(c for c in reply.decision.candidates if c.model == "gpt-4o-mini")
    assert sent[0]["max_completion_tokens"] < mini_plan.max_output_tokens
    assert reply.cost == reply.decision.spent <= Decimal("0.0002")


def test_a_user_check_and_the_strategy_object(make_router: Any) -> None:
    def has_a_number(completion: Any, request: Any) -> str | None:
        return None if any(ch.isdigit() for ch in completion.text) else "no number in the answer"

    router: Router = make_router(CONFIG, strategy=CascadeStrategy([has_a_number]))
    with respx.mock:
        respx.post(OPENAI_URL).mock(side_effect=answers(
            {"gpt-4o-mini": "About a lot.", "gpt-4o": "About 42."}))
        reply = router.complete("How many?", max_tokens=20)
    assert reply.text == "About 42."
    assert "no number" in (reply.decision.attempts[0].error or "")


def test_cascades_refuse_to_stream(make_router: Any) -> None:
    router: Router = make_router(CONFIG, strategy="cascade")
    with pytest.raises(InvalidRequestError, match="^strategy: "):
        router.stream("hi")


def test_validators_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="at least one validator"):
        CascadeStrategy([])
    assert Decimal(0) == 0


def test_a_check_that_raises_is_an_answer_check_error_with_the_paid_answer(make_router: Any
                                                                          ) -> None:
    def broken(completion: Any, request: Any) -> bool:
        raise RuntimeError("validator bug")

    config = {**CONFIG, "ledger": "memory",
              "budgets": [{"scope": "global", "limit": "5", "window": "month"}]}
    router: Router = make_router(config, strategy=CascadeStrategy([broken]))
    with respx.mock:
        route = respx.post(OPENAI_URL).mock(side_effect=answers(
            {"gpt-4o-mini": "The cheap answer.", "gpt-4o": "unused"}))
        with pytest.raises(AnswerCheckError, match="'broken' raised RuntimeError: validator bug"
                           ) as info:
            router.complete("Explain.", max_tokens=50)
    assert route.call_count == 1  # no escalation on a broken check
    error = info.value
    assert isinstance(error, RouterError)
    assert isinstance(error.__cause__, RuntimeError)
    assert (error.check, error.text) == ("broken", "The cheap answer.")
    mini = router.deployments[0].price
    assert error.cost == actual_cost(mini, Usage(20, 10)) > 0
    assert error.decision is not None
    [attempt] = error.decision.attempts
    assert (attempt.model, attempt.outcome, attempt.cost) == (
        "gpt-4o-mini", "AnswerCheckError", error.cost)
    assert router.spend().total == error.cost  # booked, not lost


def _complete(router: Router, mode: str, **kwargs: Any) -> Any:
    if mode == "async":
        return asyncio.run(router.acomplete("Explain the proof.", max_tokens=50, **kwargs))
    return router.complete("Explain the proof.", max_tokens=50, **kwargs)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_when_the_escalation_fails_the_paid_answer_is_returned(make_router: Any,
                                                               mode: str) -> None:
    config = {**CONFIG, "ledger": "memory", "breaker": {"enabled": False},
              "budgets": [{"scope": "global", "limit": "5", "window": "month"}]}
    router: Router = make_router(config, strategy="cascade")

    def reply(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"] == "gpt-4o":
            return httpx.Response(500, json={"error": {"message": "overloaded"}})
        return answers({"gpt-4o-mini": REFUSAL})(request)

    with respx.mock:
        route = respx.post(OPENAI_URL).mock(side_effect=reply)
        answer = _complete(router, mode, budget="0.01")
    assert route.call_count == 2
    assert (answer.model, answer.text) == ("gpt-4o-mini", REFUSAL)
    mini = router.deployments[0].price
    assert answer.cost == actual_cost(mini, Usage(20, 10)) > 0
    kept, escalation = answer.decision.attempts
    assert (kept.model, kept.outcome, kept.cost) == ("gpt-4o-mini", "ok", answer.cost)
    assert kept.error is not None
    assert kept.error.startswith("kept although the answer check failed (refusal: ")
    assert "the escalation failed (" in kept.error
    assert "HTTP 500: overloaded" in kept.error
    assert (escalation.model, escalation.outcome, escalation.cost) == ("gpt-4o", "ServerError", 0)
    assert router.spend().total == answer.cost  # paid once, booked once
    # ... and booked to the model that answered, as the call's success
    entries = [(e.model, e.outcome, e.cost) for e in router.ledger.entries()]
    assert entries == [("gpt-4o-mini", Outcome.OK, answer.cost)]
    assert router.ledger.scan("") == {"global/month|*|" + _month(router): Balance(answer.cost)}


def _month(router: Router) -> str:
    return router._clock().strftime("%Y-%m")


def test_an_escalated_cascade_books_each_models_answer_to_it(make_router: Any) -> None:
    config = {**CONFIG, "ledger": "memory", "breaker": {"enabled": False},
              "budgets": [{"scope": "global", "limit": "5", "window": "month"}]}
    router: Router = make_router(config, strategy="cascade")
    with respx.mock:
        respx.post(OPENAI_URL).mock(side_effect=answers(
            {"gpt-4o-mini": REFUSAL, "gpt-4o": "Here is the answer."}))
        answer = router.complete("Explain the proof.", budget="0.01", max_tokens=50)
    rejected, answered = answer.decision.attempts
    assert (rejected.outcome, answered.outcome, answer.model) == ("rejected", "ok", "gpt-4o")
    entries = [(e.model, e.outcome, e.cost) for e in router.ledger.entries()]
    assert entries == [("gpt-4o-mini", Outcome.FAILED, rejected.cost),
                       ("gpt-4o", Outcome.OK, answered.cost)]
    assert rejected.cost + answered.cost == answer.cost
    assert [b.reserved for b in router.ledger.scan("").values()] == [0]


def test_when_a_shared_budget_refuses_the_escalation_the_paid_answer_is_returned(
    make_router: Any
) -> None:
    probe: Router = make_router(CONFIG)
    gpt4o_worst = probe.route("Explain the proof.", max_tokens=50,
                              models=["gpt-4o"]).candidates[0].worst_case_cost
    config = {**CONFIG, "ledger": "memory", "breaker": {"enabled": False}, "budgets": [
        {"scope": "model", "match": "gpt-4o", "limit": str(gpt4o_worst * 3 / 2)}]}

    def takes_the_room(completion: Any, request: Any) -> str:
        # Meanwhile another call takes most of gpt-4o's budget: the escalation will not fit.
        router.complete("Something else.", max_tokens=50, models=["gpt-4o"], strategy="cheapest")
        return "weak answer"

    router: Router = make_router(config, strategy=CascadeStrategy([takes_the_room]))
    with respx.mock:
        route = respx.post(OPENAI_URL).mock(side_effect=lambda request: httpx.Response(
            200, json=chat_json("An answer.", model=json.loads(request.content)["model"],
                                prompt_tokens=20, completion_tokens=50)))
        answer = router.complete("Explain the proof.", max_tokens=50)
    assert route.call_count == 2  # mini, then the other call's gpt-4o; the escalation never went
    assert (answer.model, answer.text) == ("gpt-4o-mini", "An answer.")
    kept, skipped = answer.decision.attempts
    assert kept.outcome == "ok"
    assert kept.error is not None
    assert "kept although the answer check failed (takes_the_room: weak answer): " \
        "no stronger model could be called (" in kept.error
    assert "budget 'model=gpt-4o' has" in kept.error
    assert (skipped.model, skipped.outcome) == ("gpt-4o", SKIPPED)
    assert answer.cost == kept.cost > 0
