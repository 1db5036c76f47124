from __future__ import annotations

from decimal import Decimal

from router.messages import build_request
from router.quality.cascade import (
    can_escalate,
    check_answer,
    finished,
    matches_schema,
    not_empty,
    not_refusal,
    user_check,
)
from router.types import Completion, FinishReason, Request, Usage

PLAIN = build_request("Tell me a joke.")


def answer(text: str, finish: FinishReason = FinishReason.STOP) -> Completion:
    return Completion(text=text, finish_reason=finish, usage=Usage(5, 5))


def test_good_answers_pass_the_default_checks() -> None:
    assert check_answer(answer("Why did the chicken cross the road?"), PLAIN).ok


def test_empty_refusal_and_cut_off_answers_fail() -> None:
    assert not not_empty()(answer("  \n"), PLAIN).ok
    verdict = not_refusal()(answer("I'm sorry, but I can't help with that."), PLAIN)
    assert not verdict.ok
    assert "refusal" in verdict.reason
    assert not_refusal()(answer("Sorry to hear that! Here is a joke."), PLAIN).ok
    assert not finished()(answer("Once upon a", FinishReason.LENGTH), PLAIN).ok


def test_refusals_are_read_in_the_opening_with_any_apostrophe() -> None:
    # The audit's cases: typographic apostrophes slipped through, and answers that merely
    # contain refusal-like words were escalated (paying for two calls).
    refusals = ["I\u2019m sorry, but I can\u2019t help with that.", "I'm sorry. I can't help with that.",
                "Sorry! I cannot assist with that.", "Unfortunately, I can't provide that."]
    answers = ["I can't help but point out: tides are caused by the Moon.",
               "Tides come from the moon. I won't provide equations here, but they follow.",
               "Sorry to hear that! Here is a joke."]
    assert [not_refusal()(answer(t), PLAIN).ok for t in refusals] == [False] * 4
    assert [not_refusal()(answer(t), PLAIN).ok for t in answers] == [True] * 3


def structured() -> Request:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
              "additionalProperties": False}
    return build_request("Count.", response_format={"type": "json_schema", "json_schema": {
        "name": "count", "schema": schema}})


def test_schema_check_uses_the_request_schema() -> None:
    request = structured()
    assert matches_schema()(answer('{"n": 3}'), request).ok
    assert "not JSON" in matches_schema()(answer("three"), request).reason
    assert not matches_schema()(answer('{"n": "three"}'), request).ok
    assert matches_schema()(answer("free text"), PLAIN).ok  # no schema asked: nothing to check


def test_user_checks_may_return_bool_reason_or_none() -> None:
    assert user_check(lambda c, r: None)(answer("x"), PLAIN).ok
    assert user_check(lambda c, r: "too short", name="len")(answer("x"), PLAIN).reason == (
        "len: too short"
    )
    assert not user_check(lambda c, r: False)(answer("x"), PLAIN).ok


def test_the_budget_bounds_the_sum_of_both_calls() -> None:
    assert can_escalate(Decimal("0.001"), Decimal("0.002"), Decimal("0.003"))[0]
    ok, why = can_escalate(Decimal("0.002"), Decimal("0.002"), Decimal("0.003"))
    assert not ok
    assert "over the budget" in why
    assert can_escalate(Decimal(1), Decimal(1), None)[0]
