"""The learned maths answer check: its features, the shipped weights, and use in a cascade."""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

import httpx
import pytest
import respx
from tests.conftest import OPENAI_URL, chat_json

from router import Router
from router.errors import ConfigError
from router.messages import parse_messages
from router.quality.answer_check import (
    ANSWER_FEATURES,
    AnswerChecker,
    answer_features,
    default_answer_checker,
    maths_answer_check,
)
from router.quality.cascade import CascadeStrategy, named_validator
from router.types import Completion, FinishReason, Request, Usage

QUESTION = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. "
    "She sells the remainder for $2 per egg. How much does she make every day?"
)
GOOD = (
    "She has 16 - 3 - 4 = <<16-3-4=9>>9 eggs left.\n"
    "She makes 9 * 2 = <<9*2=18>>18 dollars.\n#### 18"
)
BAD = (
    "She has 16 - 3 = 12 eggs, wait, however she bakes with some, so approximately 12 / 5 = 2.4.\n"
    "She makes about 2.4 * 2 = 4.8 dollars or maybe more."
)


def feature(question: str, answer: str, name: str) -> float:
    return answer_features(question, answer)[ANSWER_FEATURES.index(name)]


def request(text: str = QUESTION) -> Request:
    return Request(messages=parse_messages([{"role": "user", "content": text}]))


def completion(text: str) -> Completion:
    return Completion(text, FinishReason.STOP, Usage(10, 10))


def test_features_of_a_clean_answer() -> None:
    values = answer_features(QUESTION, GOOD)
    assert len(values) == len(ANSWER_FEATURES)
    assert feature(QUESTION, GOOD, "no_final_marker") == 0.0
    assert feature(QUESTION, GOOD, "final_fraction") == 0.0
    assert feature(QUESTION, GOOD, "calc_wrong") == 0.0
    assert feature(QUESTION, GOOD, "final_not_derived") == 0.0


def test_features_of_a_doubtful_answer() -> None:
    assert feature(QUESTION, BAD, "no_final_marker") == 1.0
    assert feature(QUESTION, BAD, "final_extra_text") == 1.0
    assert feature(QUESTION, BAD, "calc_wrong") == 1.0  # 16 - 3 is not 12
    assert feature(QUESTION, BAD, "hedges") >= 3
    assert feature(QUESTION, "#### 2.67", "final_fraction") == 1.0


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("22 + 4 x 12 = 22 + 48 = 70", 0.0),  # a chain: 22 is not the result of the first step
        ("20% of 60 is 20% * 60 = 12", 0.0),
        ("<<8/3=2.6666666666666665>>2.67", 0.0),
        ("<<7*6=43>>43", 1.0),
        ("1,350 + 6 * 350 = 3,450", 0.0),
        ("2 ** 999999 = 1", 0.0),  # not evaluated: too large
        ("10 / 0 = 5", 0.0),
    ],
)
def test_shown_calculations_are_checked(text: str, wrong: float) -> None:
    assert feature("", text, "calc_wrong") == wrong


def test_the_shipped_weights_rank_a_bad_answer_above_a_good_one() -> None:
    checker = default_answer_checker()
    assert 0.0 < checker.threshold < 1.0
    assert checker.p_wrong(QUESTION, BAD) > checker.threshold > checker.p_wrong(QUESTION, GOOD)


def test_weights_must_match_the_features() -> None:
    data = json.loads(resources.files("router.quality").joinpath("answer_check.json").read_text())
    assert data["features"] == list(ANSWER_FEATURES)
    assert AnswerChecker.from_json(data) == default_answer_checker()
    with pytest.raises(ConfigError):
        AnswerChecker.from_json({**data, "features": data["features"][:-1]})
    with pytest.raises(ConfigError):
        AnswerChecker.from_json({**data, "coef": data["coef"][:-1]})


def test_the_validator() -> None:
    check = maths_answer_check()
    assert check(completion(GOOD), request()).ok
    verdict = check(completion(BAD), request())
    assert not verdict.ok
    assert "P(wrong)" in verdict.reason
    assert check(completion("I do not know."), request()).ok  # no digit: not a maths answer
    assert not maths_answer_check(0.0)(completion(GOOD), request()).ok
    assert maths_answer_check(1.0)(completion(BAD), request()).ok
    assert named_validator("maths_answer")(completion(BAD), request()).ok is False
    with pytest.raises(ValueError, match="unknown validator"):
        named_validator("nope")


def test_it_is_fast() -> None:
    check = maths_answer_check()
    long_answer = GOOD * 40
    check(completion(long_answer), request())
    started = time.perf_counter()
    for _ in range(50):
        check(completion(long_answer), request())
    assert (time.perf_counter() - started) / 50 < 0.005  # ~0.4 ms here; generous for slow CI


CONFIG: dict[str, Any] = {
    "deployments": [
        {"model": "gpt-4o-mini", "provider": "openai", "api_key": "k"},
        {"model": "gpt-4o", "provider": "openai", "api_key": "k"},
    ],
    "retries": {"attempts": 1},
}


def reply_by_model(by_model: dict[str, str]) -> Any:
    def reply(req: httpx.Request) -> httpx.Response:
        model = json.loads(req.content)["model"]
        return httpx.Response(200, json=chat_json(by_model[model], model=model, prompt_tokens=20,
                                                  completion_tokens=10))
    return reply


@pytest.mark.parametrize(
    "strategy", [CascadeStrategy([maths_answer_check()]), CascadeStrategy(["maths_answer"])]
)
def test_a_doubtful_maths_answer_escalates(make_router: Any, strategy: CascadeStrategy) -> None:
    router: Router = make_router(CONFIG, strategy=strategy)
    with respx.mock:
        route = respx.post(OPENAI_URL).mock(side_effect=reply_by_model(
            {"gpt-4o-mini": BAD, "gpt-4o": GOOD}))
        reply = router.complete(QUESTION, max_tokens=100)
    assert route.call_count == 2
    assert reply.text == GOOD
    assert "maths answer check" in (reply.decision.attempts[0].error or "")


def test_named_validators_from_a_config_file(make_router: Any) -> None:
    config = {**CONFIG, "routing": {"strategy": "cascade",
                                    "options": {"validators": ["not_empty", "maths_answer"]}}}
    router: Router = make_router(config)
    with respx.mock:
        route = respx.post(OPENAI_URL).mock(side_effect=reply_by_model(
            {"gpt-4o-mini": GOOD, "gpt-4o": "unused"}))
        reply = router.complete(QUESTION, max_tokens=100)
    assert route.call_count == 1
    assert reply.model == "gpt-4o-mini"
