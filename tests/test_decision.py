import datetime as dt
import warnings
from decimal import Decimal
from typing import Any

import pytest
from tests.conftest import CONFIG, frozen
from tests.images import data_url, image_message, png
from tests.test_tokens import CHINESE

from router import BudgetExceeded, MissingKeyError, NoRouteError, Router
from router.config import build_deployments, load_config
from router.decision import decide
from router.errors import InvalidRequestError
from router.messages import build_request
from router.pricing import worst_case_cost
from router.strategies import Cheapest, min_score, vendors

TODAY = dt.date(2026, 11, 25)


def deployments(config: dict[str, Any] = CONFIG) -> Any:
    cfg, unset, _ = load_config(config, env={})
    return build_deployments(cfg, unset)[1]


def test_cheapest_orders_by_estimated_cost_and_explains(router: Router) -> None:
    d = router.route("What is the capital of France?", budget="0.01", max_tokens=100)
    assert [c.model for c in d.candidates] == ["mistral-nemo", "gpt-4o-mini", "gpt-4o"]
    assert d.model == "mistral-nemo"
    assert d.deployment == "mistral-nemo@openrouter"
    first = d.candidates[0]
    assert first.worst_case_cost == worst_case_cost(first.target.price, first.input_tokens, 100)
    text = str(d)
    assert "mistral-nemo via mistral-nemo@openrouter" in text
    assert "gpt-4o-mini" in text


def test_best_picks_the_highest_catalog_quality(router: Router) -> None:
    assert router.route("Prove it.", strategy="best", max_tokens=100).model == "gpt-4o"


def test_best_passes_over_a_model_the_budget_cuts_to_a_few_tokens(make_router: Any) -> None:
    question = "Explain quicksort in detail."
    d = make_router().route(question, strategy="best", budget="0.0003")
    assert d.model == "gpt-4o-mini"
    assert d.chosen is not None
    assert d.chosen.max_output_tokens >= 256
    assert [c.model for c in d.candidates][-1] == "gpt-4o"  # still a fallback, tried last
    assert any(n.startswith("best: gpt-4o (room for 26 output tokens) ranked after gpt-4o-mini: "
                            "fewer than the 256 expected of an answer "
                            "(routing.expected_output_tokens)") for n in d.notes)
    # The caller who sets the length, or a lower expected length, gets the strongest model.
    assert make_router().route(question, strategy="best", budget="0.0003",
                               max_tokens=20).model == "gpt-4o"
    short = make_router({**CONFIG, "routing": {"expected_output_tokens": 20}})
    assert short.route(question, strategy="best", budget="0.0003").model == "gpt-4o"


def test_cheapest_does_not_pick_a_model_whose_window_leaves_room_for_a_few_tokens(
    make_router: Any,
) -> None:
    """A small context window caps the output, which makes the estimate look cheap."""
    prompt = "Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 700
    nemo = {"model": "mistral-nemo", "provider": "openai", "base_url": "http://nemo.local/v1",
            "price": {"input": "0.15", "output": "1.00"}}
    probe = make_router({"deployments": [nemo]}).route(prompt).candidates[0].input_tokens
    small = {**nemo, "context_window": probe + 100}
    d = make_router({"deployments": [CONFIG["deployments"][0], small]}).route(prompt)
    assert d.model == "gpt-4o-mini"
    assert d.candidates[1].max_output_tokens == 100
    assert d.candidates[1].estimated_cost < d.candidates[0].estimated_cost  # the trap
    assert any(n.startswith("cheapest: mistral-nemo (room for 100 output tokens) ranked after "
                            "gpt-4o-mini") for n in d.notes)


def test_models_restricts_the_candidates(router: Router) -> None:
    assert router.route("hi", models=["gpt-4o-mini", "gpt-4o"]).model == "gpt-4o-mini"
    with pytest.raises(InvalidRequestError, match="^models: no deployment serves 'claude'"):
        router.route("hi", models=["claude"])


def test_budget_boundary_is_inclusive(router: Router) -> None:
    probe = router.route("hi", models=["gpt-4o"], max_tokens=50)
    exact = probe.candidates[0].worst_case_cost
    assert router.route("hi", models=["gpt-4o"], max_tokens=50, budget=exact).model == "gpt-4o"
    with pytest.raises(BudgetExceeded) as info:
        router.route("hi", models=["gpt-4o"], max_tokens=50, budget=exact - Decimal("0.000000001"))
    err = info.value
    assert err.cheapest_cost == exact
    assert err.decision is not None
    assert "worst case" in err.decision.excluded["gpt-4o"]
    assert "cheapest possible costs" in str(err)


def test_budget_moves_traffic_to_what_fits(router: Router) -> None:
    probe = router.route("hi", models=["gpt-4o-mini"], max_tokens=500)
    d = router.route("hi", strategy="best", max_tokens=500, budget=probe.candidates[0].worst_case_cost)
    assert d.model == "gpt-4o-mini"
    assert "budget" in d.excluded["gpt-4o"]


def test_output_is_capped_to_fit_when_max_tokens_is_unset(router: Router) -> None:
    d = router.route("Write an essay.", models=["gpt-4o"], budget="0.001")
    c = d.candidates[0]
    assert c.output_capped
    assert c.worst_case_cost <= Decimal("0.001")
    assert worst_case_cost(c.target.price, c.input_tokens, c.max_output_tokens + 1) > Decimal("0.001")
    assert any("capped" in n for n in d.notes)


def test_without_budget_or_max_tokens_the_cap_is_the_model_limit(router: Router) -> None:
    c = router.route("hi", models=["gpt-4o"]).candidates[0]
    assert c.max_output_tokens == 16384
    assert not c.output_capped


def test_budget_exceeded_when_nothing_fits(router: Router) -> None:
    with pytest.raises(BudgetExceeded, match=r"no model fits the budget \$0\.0000001"):
        router.route("x" * 2000, budget="0.0000001")


def test_images_only_go_to_vision_models_and_large_images_are_cheaper_on_gpt4o(router: Router) -> None:
    big = image_message(data_url(png(2048, 2048)))
    d = router.route(big, max_tokens=100)
    assert d.excluded["mistral-nemo"] == (
        "does not take image input (messages[0].content[1] is an image)")
    assert d.model == "gpt-4o"  # 765 image tokens on gpt-4o vs 25,501 on mini
    mini = next(c for c in d.candidates if c.model == "gpt-4o-mini")
    assert mini.input_tokens > 25_501 > d.candidates[0].input_tokens
    small = image_message(data_url(png(256, 256)), detail="low")
    assert router.route(small, max_tokens=100).model == "gpt-4o-mini"


def test_an_image_where_no_model_takes_images_names_the_part_and_the_fix(make_router: Any) -> None:
    r = make_router({"deployments": [CONFIG["deployments"][2]]})
    messages = [{"role": "system", "content": "Read receipts."},
                *image_message("https://example.com/cat.png")]
    with pytest.raises(NoRouteError) as info:
        r.route(messages)
    assert not isinstance(info.value, BudgetExceeded)
    assert str(info.value) == (
        "no deployment can take this request: mistral-nemo: does not take image input "
        "(messages[1].content[1] is an image). Configure a deployment of a model that takes "
        "images (such as gpt-4o-mini), or remove the image")


def test_prompt_longer_than_every_context_window_says_by_how_much(router: Router) -> None:
    with pytest.raises(NoRouteError) as info:
        router.route("word " * 140_000)
    text = str(info.value)
    assert "gpt-4o-mini: needs 140,008 input + 16 output tokens, 12,024 more than its context " \
           "window of 128,000; shorten the input by at least 12,024 tokens; or split it across requests" \
        in text
    assert "mistral-nemo: needs 140,008 input + 16 output tokens, 8,952 more than its context " \
           "window of 131,072" in text


def test_max_tokens_that_does_not_fit_the_context_window_says_how_low_to_go(router: Router) -> None:
    with pytest.raises(NoRouteError) as info:
        router.route("word " * 120_000, models=["gpt-4o-mini"], max_tokens=16_000)
    assert str(info.value).endswith(
        "gpt-4o-mini: needs 120,008 input + 16,000 output tokens, 8,008 more than its context "
        "window of 128,000; lower max_tokens to 7,992 or less")
    with pytest.raises(NoRouteError, match=r"shorten the input by at least 18,008 tokens, or by "
                                           r"2,024 and lower max_tokens; or split it across requests"):
        router.route("word " * 130_000, models=["gpt-4o-mini"], max_tokens=16_000)


def test_each_candidate_is_counted_with_its_own_tokenizer(router: Router) -> None:
    d = router.route(CHINESE, max_tokens=10)
    by_model = {c.model: c.input_tokens for c in d.candidates}
    assert by_model["mistral-nemo"] > by_model["gpt-4o-mini"] == by_model["gpt-4o"]


def test_tools_and_structured_output_need_the_capability() -> None:
    cfg = {"models": {"mistral-nemo": {"capabilities": {"tools": False, "structured_output": False}}},
           "deployments": CONFIG["deployments"]}
    deps = deployments(cfg)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    d = decide(build_request("hi", tools=tools), deps, strategy=Cheapest(), budget=None, today=TODAY)
    assert d.excluded["mistral-nemo"] == "does not support tools"
    d = decide(build_request("hi", response_format={"type": "json_object"}), deps,
               strategy=Cheapest(), budget=None, today=TODAY)
    assert d.excluded["mistral-nemo"] == "does not support structured output"


def test_max_tokens_beyond_a_models_output_limit(router: Router) -> None:
    d = router.route("hi", max_tokens=20_000)
    assert d.model == "mistral-nemo"
    assert "exceeds its max output of 16384" in d.excluded["gpt-4o"]


@pytest.mark.parametrize(
    ("day", "nemo_on_mistral_api"),
    [(dt.datetime(2026, 7, 30, 23, 59, tzinfo=dt.UTC), True),
     (dt.datetime(2026, 7, 31, 0, 0, tzinfo=dt.UTC), False),
     (dt.datetime(2026, 8, 1, tzinfo=dt.UTC), False)],
)
def test_retired_deployments_get_no_traffic(make_router: Any, day: dt.datetime,
                                            nemo_on_mistral_api: bool) -> None:
    r = make_router({"deployments": [
        {"model": "mistral-nemo", "provider": "mistral", "api_key": "k"},
        {"model": "mistral-nemo", "provider": "openai", "base_url": "http://vllm.local:8000/v1",
         "name": "mistralai/Mistral-Nemo-Instruct-2407", "price": {"input": "0.30", "output": "0.30"}},
    ]}, clock=frozen(day))
    d = r.route("hi", max_tokens=10)
    assert (d.deployment == "mistral-nemo@mistral") is nemo_on_mistral_api
    if not nemo_on_mistral_api:
        assert "retired on mistral since 2026-07-31; suggested replacement: Ministral 3 8B" in \
            d.excluded_deployments["mistral-nemo@mistral"]
        assert d.deployment == "mistral-nemo@vllm.local:8000"


def test_gpt4o_family_shutdown_on_openai(make_router: Any) -> None:
    before = make_router(clock=frozen(dt.datetime(2027, 1, 13, tzinfo=dt.UTC)))
    after = make_router(clock=frozen(dt.datetime(2027, 1, 14, tzinfo=dt.UTC)))
    assert before.route("hi", models=["gpt-4o"]).model == "gpt-4o"
    with pytest.raises(NoRouteError, match="retired on openai since 2027-01-14"):
        after.route("hi", models=["gpt-4o"])
    assert after.route("hi").model == "mistral-nemo"  # OpenRouter's NeMo has no shutdown


def test_lifecycle_warnings_at_construction() -> None:
    from router import ModelLifecycleWarning

    with pytest.warns(ModelLifecycleWarning, match=r"gpt-4o on openai shuts down on 2027-01-14 \(50 days left\)"):
        Router(CONFIG, env={}, clock=frozen())


def test_keyless_deployments_are_excluded_when_others_have_keys() -> None:
    cfg = {"deployments": [
        {"model": "gpt-4o-mini", "provider": "openai", "api_key": "${OPENAI_API_KEY}"},
        {"model": "gpt-4o", "provider": "openai", "api_key": "sk-real"},
    ]}
    d = decide(build_request("hi"), deployments(cfg), strategy=Cheapest(), budget=None, today=TODAY)
    assert d.model == "gpt-4o"
    assert d.excluded["gpt-4o-mini"] == "no API key (set OPENAI_API_KEY)"


def test_with_no_keys_at_all_route_still_plans() -> None:
    r = Router(env={}, clock=frozen(dt.datetime(2026, 11, 25, tzinfo=dt.UTC)))
    d = r.route("hi", max_tokens=10)
    assert d.model == "mistral-nemo"
    assert d.missing_keys == ("OPENROUTER_API_KEY", "OPENAI_API_KEY")  # best first


def test_deployments_of_a_model_stay_together() -> None:
    cfg = {"deployments": [
        *CONFIG["deployments"],
        {"model": "mistral-nemo", "provider": "openai", "base_url": "http://vllm.local/v1",
         "id": "nemo-vllm", "price": {"input": "0.90", "output": "0.90"}},
    ]}
    d = decide(build_request("hi", max_tokens=50), deployments(cfg), strategy=Cheapest(),
               budget=None, today=TODAY)
    assert [c.deployment for c in d.candidates][:2] == ["mistral-nemo@openrouter", "nemo-vllm"]


def test_filters_and_plain_function_strategies(router: Router) -> None:
    assert router.route("hi", strategy=Cheapest().where(min_score("mmlu", 80))).model == "gpt-4o-mini"
    only_openai = Cheapest().where(vendors("openai") & min_score("mmlu", 85))
    d = router.route("hi", strategy=only_openai)
    assert d.model == "gpt-4o"
    assert d.excluded["mistral-nemo"] == "vendor 'mistral' not allowed"

    def most_expensive(cands, ctx):  # type: ignore[no-untyped-def]
        return sorted(cands, key=lambda c: -c.estimated_cost)

    assert router.route("hi", strategy=most_expensive).model == "gpt-4o"


def test_an_unknown_strategy_argument_is_an_invalid_request(router: Router) -> None:
    from router.errors import ConfigError, InvalidRequestError

    for call in (router.route, router.complete):
        with pytest.raises(InvalidRequestError, match="strategy: unknown strategy 'fastest'; use one of ") as info:
            call("hi", strategy="fastest")
        assert info.value.field == "strategy"
        assert "cheapest" in str(info.value)
        assert "best" in str(info.value)
        assert not isinstance(info.value, ConfigError)
    with pytest.raises(InvalidRequestError, match="strategy: expected a strategy name"):
        router.route("hi", strategy=42)  # type: ignore[arg-type]


def test_an_unknown_strategy_in_the_config_stays_a_config_error() -> None:
    from router.errors import ConfigError

    cfg = {"deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": "k"}],
           "routing": {"strategy": "fastest"}}
    with pytest.raises(ConfigError, match="routing.strategy: unknown strategy 'fastest'") as info:
        Router(cfg, env={})
    assert info.value.path == "routing.strategy"


def test_decide_is_pure() -> None:
    deps = deployments()
    req = build_request("hello", max_tokens=20)
    a = decide(req, deps, strategy=Cheapest(), budget=Decimal("0.01"), today=TODAY)
    b = decide(req, deps, strategy=Cheapest(), budget=Decimal("0.01"), today=TODAY)
    assert a == b


def test_evolve_copies_every_field_but_the_changed_ones() -> None:
    from router.decision import Attempt, Decision

    base = Decision((), {"m": "why"}, {"d": "why"}, "cheapest", budget=Decimal("0.01"),
                    max_tokens=5, notes=("n",), cheapest_cost=Decimal("0.001"))
    attempts = (Attempt("d", "m", "ok"),)
    assert base.evolve(attempts=attempts) == Decision(
        (), {"m": "why"}, {"d": "why"}, "cheapest", budget=Decimal("0.01"), max_tokens=5,
        notes=("n",), attempts=attempts, cheapest_cost=Decimal("0.001"))
    assert base.evolve() == base
    assert base.attempts == ()
    with pytest.raises(TypeError, match="no field"):
        base.evolve(colour="red")


def test_the_missing_key_hint_names_only_keys_that_would_help() -> None:
    """Not the keys of other models, nor of deployments that are retired or cannot take it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifecycle warnings, tested elsewhere
        router = Router(env={"OPENROUTER_API_KEY": "sk-or-0123456789"}, clock=frozen())
        keyless = Router(env={}, clock=frozen())
    assert router.route("hi", models=["gpt-4o"]).missing_keys == ("OPENAI_API_KEY",)
    with pytest.raises(MissingKeyError) as info:
        router.complete("hi", models=["gpt-4o"])
    # OpenRouter's key is set: "no key for any deployment" would be false.
    assert str(info.value).startswith("no deployment of gpt-4o has an API key; set OPENAI_API_KEY (")
    with pytest.raises(MissingKeyError) as info:
        keyless.complete("hi")
    assert str(info.value).startswith(
        "no API key is set for any deployment; set OPENROUTER_API_KEY or OPENAI_API_KEY (")
    # Mistral's own API retired NeMo on 2026-07-31: its key cannot help.
    assert keyless.route("hi").missing_keys == ("OPENROUTER_API_KEY", "OPENAI_API_KEY")
    assert keyless.route(image_message("https://example.com/a.png")).missing_keys == (
        "OPENAI_API_KEY",)


def test_mistral_api_key_alone_says_why_it_serves_nothing() -> None:
    env = {"MISTRAL_API_KEY": "mistral-key-0123456789"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router = Router(env=env, clock=frozen())
    from router.settings import ConfigWarning

    [warned] = [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]
    assert warned.startswith("MISTRAL_API_KEY is set, but the built-in config has no deployment "
                             "on Mistral's API")
    assert "examples/mistral-successor.yaml" in warned
    with pytest.raises(MissingKeyError) as info:
        router.complete("hi")
    assert "set OPENROUTER_API_KEY or OPENAI_API_KEY" in str(info.value)
    assert "MISTRAL_API_KEY is set, but" in str(info.value)
    # Not with another key set, nor with a config of one's own.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Router(env={**env, "OPENAI_API_KEY": "sk-0123456789"}, clock=frozen())
        Router({"deployments": [{"model": "gpt-4o", "provider": "openai"}]}, env=env)
    assert not [w for w in caught if issubclass(w.category, ConfigWarning)]
