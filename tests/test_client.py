"""The Router's public behaviour end to end, with HTTP faked at the transport."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
import respx
from tests.conftest import CONFIG, OPENAI_URL, OPENROUTER_URL, chat_json

from router import BudgetExceeded, InvalidRequestError, Router
from router.mock import mock_transport


def test_over_budget_requests_are_never_sent(router: Router) -> None:
    with respx.mock(assert_all_called=False) as mock:  # its own routes: none leak to later tests
        route = mock.post(OPENAI_URL).respond(json=chat_json())
        other = mock.post(OPENROUTER_URL).respond(json=chat_json())
        with pytest.raises(BudgetExceeded):
            router.complete("hi " * 500, budget="0.000001", max_tokens=500)
        with pytest.raises(BudgetExceeded):
            asyncio.run(router.acomplete("hi " * 500, budget="0.000001", max_tokens=500))
        with pytest.raises(BudgetExceeded):
            router.stream("hi " * 500, budget="0.000001", max_tokens=500)
    assert route.call_count == 0
    assert other.call_count == 0


@pytest.mark.parametrize("budget", ["-1", "abc", [1], float("nan")])
def test_bad_budgets_are_refused_before_anything(router: Router, budget: Any) -> None:
    with pytest.raises(InvalidRequestError, match="^budget: "):
        router.complete("hi", budget=budget)


@pytest.mark.parametrize("field", ["user", "team"])
def test_bad_scopes_are_refused(router: Router, field: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"^{field}: "):
        router.route("hi", **{field: ""})
    with pytest.raises(InvalidRequestError, match="^tags: "):
        router.route("hi", tags="summarise")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_token": 30}, r"^max_token: is not an option; did you mean max_tokens\?"),
        ({"temprature": 0.5}, r"^temprature: .*did you mean temperature\?"),
        ({"budgets": "0.01"}, r"^budgets: .*did you mean budget\?"),
        ({"colour": "red"}, r"^colour: is not an option; the options are budget, max_tokens, "),
        ({"models": 5}, r"^models: expected a model name or a list of them"),
        ({"models": []}, r"^models: is empty"),
        ({"models": ["gpt-4o", None]}, r"^models\[1\]: expected a model name"),
        ({"metadata": [1, 2]}, r"^metadata: expected a dict"),
        ({"stop": 5}, r"^stop: got 5; give a string or a list"),
        ({"tags": 5}, r"^tags: "),
    ],
)
def test_bad_arguments_are_refused_before_any_call(
    router: Router, kwargs: dict[str, Any], message: str
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().respond(json=chat_json())
        for call in (router.route, router.complete, router.stream):
            with pytest.raises(InvalidRequestError, match=message):
                call("hi", **kwargs)
        with pytest.raises(InvalidRequestError, match=message):
            asyncio.run(router.acomplete("hi", **kwargs))
        with pytest.raises(InvalidRequestError, match=message):
            router.astream("hi", **kwargs)
    assert route.call_count == 0


def test_one_model_name_is_one_model_not_its_characters(router: Router) -> None:
    assert router.route("hi", models="gpt-4o").model == "gpt-4o"
    assert router.route("hi", models=("gpt-4o",)).model == "gpt-4o"


def test_sync_and_async_give_the_same_reply(router: Router) -> None:
    with respx.mock:
        respx.post(OPENROUTER_URL).respond(json=chat_json("Paris.", prompt_tokens=15, completion_tokens=2))
        sync = router.complete("Capital of France?", budget=Decimal("0.01"), max_tokens=20)
        async_ = asyncio.run(router.acomplete("Capital of France?", budget=Decimal("0.01"), max_tokens=20))
    assert (sync.text, sync.model, sync.deployment, sync.cost, sync.usage) == \
        (async_.text, async_.model, async_.deployment, async_.cost, async_.usage)
    assert sync.decision.candidates == async_.decision.candidates


def test_stream_reply_is_only_available_after_iteration(router: Router) -> None:
    s = router.stream("hi", max_tokens=5)
    with pytest.raises(InvalidRequestError, match="has not finished"):
        _ = s.reply
    assert s.decision.model == "mistral-nemo"


def test_an_abandoned_stream_says_so_and_what_it_cost(make_router: Any) -> None:
    from router.money import format_usd

    router = make_router(transport=mock_transport())
    s = router.stream("Tell me a story about a lighthouse.", max_tokens=50)
    for _ in s:
        break  # the caller stops reading: the generator is closed
    with pytest.raises(InvalidRequestError) as info:
        _ = s.reply
    message = str(info.value)
    assert "iterate it to the end" not in message  # no longer possible
    assert message.startswith("reply: the stream was abandoned before its end")
    assert s.decision.spent > 0
    assert f"cost {format_usd(s.decision.spent)}" in message


def test_a_stream_iterates_once(make_router: Any) -> None:
    router = make_router(transport=mock_transport())
    s = router.stream("hello there", max_tokens=20)
    assert "".join(s).startswith("Mock answer")
    with pytest.raises(InvalidRequestError, match="only once"):
        list(s)


def test_the_builtin_mock_serves_every_mode_and_model(make_router: Any) -> None:
    router = make_router(transport=mock_transport())
    for model in ("gpt-4o-mini", "gpt-4o", "mistral-nemo"):
        reply = router.complete("Say hi", models=[model], max_tokens=30)
        assert reply.model == model
        assert reply.cost > 0
        assert reply.usage.input_tokens <= reply.decision.candidates[0].input_tokens
        s = router.stream("Say hi", models=[model], max_tokens=30)
        assert "".join(s) == s.reply.text == reply.text

    async def run() -> None:
        reply = await router.acomplete("Say hi", max_tokens=30)
        s = router.astream("Say hi", max_tokens=30)
        assert "".join([d async for d in s]) == reply.text
        await router.aclose()

    asyncio.run(run())


def test_actual_cost_never_exceeds_the_budget_with_the_mock(make_router: Any) -> None:
    router = make_router(transport=mock_transport())
    for budget in ("0.00001", "0.0001", "0.001"):
        reply = router.complete("Explain recursion. " * 20, budget=budget, strategy="best")
        assert reply.cost <= Decimal(budget)


def test_router_repr_lists_deployments_without_keys(router: Router) -> None:
    text = repr(router)
    assert "gpt-4o-mini@openai" in text
    for dep in CONFIG["deployments"]:
        assert dep["api_key"] not in text
