"""Lifecycle with a frozen clock: the day before a shutdown, the day of it and the day after, and
traffic moving to a configured replacement without code changes."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import pytest

from router import ConfigError, InvalidRequestError, ModelLifecycleWarning, NoRouteError, Router
from router.lifecycle import notices, substitute_retired
from router.mock import mock_transport

KEY = "sk-test-openai-0123456789"
SHUTDOWN = dt.date(2027, 1, 14)  # the gpt-4o family on OpenAI's API

# gpt-4o with a replacement named in config; the successor as a config-defined model.
SWAP: dict[str, Any] = {
    "models": {
        "gpt-4o": {"lifecycle": [{"host": "openai", "shutdown_on": "2027-01-14",
                                  "replacement": "gpt-6-luna"}]},
        "gpt-6-luna": {
            "vendor": "openai", "tokenizer": "bytes",
            "hosts": {"openai": {"model_id": "gpt-6-luna"}},
            "price": {"input": "0.10", "cached_input": "0.01", "output": "0.50"},
            "capabilities": {"context_window": 1050000, "max_output_tokens": 128000,
                             "tools": True, "structured_output": True},
        },
    },
    "deployments": [
        {"model": "gpt-4o", "provider": "openai", "api_key": KEY},
        {"model": "gpt-6-luna", "provider": "openai", "api_key": KEY},
    ],
}


def _router(day: dt.date, config: Any = SWAP) -> tuple[Router, list[str]]:
    when = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router = Router(config, env={}, clock=lambda: when, transport=mock_transport())
    return router, [str(w.message) for w in caught if w.category is ModelLifecycleWarning]


def test_the_day_before_warns_with_one_day_left_and_still_routes() -> None:
    router, warned = _router(SHUTDOWN - dt.timedelta(days=1))
    assert warned == ["deployment 'gpt-4o@openai': gpt-4o on openai shuts down on 2027-01-14 "
                      "(1 day left); replacement: gpt-6-luna"]
    decision = router.route("Hello", models=["gpt-4o"], max_tokens=10)
    assert decision.model == "gpt-4o"
    assert router.complete("Hello", models=["gpt-4o"], max_tokens=10).model == "gpt-4o"


@pytest.mark.parametrize("day", [SHUTDOWN, SHUTDOWN + dt.timedelta(days=1)])
def test_from_the_shutdown_day_traffic_moves_to_the_replacement(day: dt.date) -> None:
    router, warned = _router(day)
    assert warned == ["deployment 'gpt-4o@openai': gpt-4o was retired on openai on 2027-01-14 "
                      "and will receive no traffic; replacement: gpt-6-luna"]
    decision = router.route("Hello", models=["gpt-4o"], max_tokens=10)
    assert decision.model == "gpt-6-luna"
    assert decision.excluded_deployments["gpt-4o@openai"].startswith("retired on openai")
    assert any("gpt-6-luna takes its requests" in note for note in decision.notes)
    reply = router.complete("Hello", models=["gpt-4o"], max_tokens=10)
    assert reply.model == "gpt-6-luna"


def test_without_a_configured_replacement_the_error_names_it() -> None:
    config = {"deployments": [{"model": "mistral-nemo", "provider": "mistral", "api_key": KEY},
                              {"model": "gpt-4o-mini", "provider": "openai", "api_key": KEY}]}
    router, warned = _router(dt.date(2026, 11, 25), config)
    assert "suggested replacement: Ministral 3 8B (not in the catalog)" in warned[0]
    with pytest.raises(NoRouteError, match="retired on mistral since 2026-07-31; suggested "
                                           "replacement: Ministral 3 8B"):
        router.route("Hello", models=["mistral-nemo"])
    # Unpinned requests simply go elsewhere.
    assert router.route("Hello").model == "gpt-4o-mini"


def test_notices_count_days_left() -> None:
    router, _ = _router(dt.date(2026, 11, 25))
    (notice,) = notices(router.deployments, dt.date(2026, 11, 25))
    assert (notice.deployment, notice.days_left, notice.replacement) == (
        "gpt-4o@openai", 50, "gpt-6-luna")
    assert notices(router.deployments, dt.date(2027, 1, 14))[0].days_left is None


def test_substitution_keeps_what_is_live() -> None:
    router, _ = _router(SHUTDOWN)
    deps = router.deployments
    assert substitute_retired(["gpt-6-luna"], deps, SHUTDOWN) == (["gpt-6-luna"], [])
    models, notes = substitute_retired(["gpt-4o", "gpt-6-luna"], deps, SHUTDOWN)
    assert models == ["gpt-4o", "gpt-6-luna"]
    assert notes == []


def test_a_retired_model_without_a_deployment_goes_to_its_replacement() -> None:
    # examples/mistral-successor.yaml has no mistral-nemo deployment at all.
    env = {"MISTRAL_API_KEY": KEY, "OPENAI_API_KEY": KEY}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelLifecycleWarning)
        router = Router("examples/mistral-successor.yaml", env=env, transport=mock_transport(),
                        clock=lambda: dt.datetime(2026, 11, 25, 9, tzinfo=dt.UTC))
    assert "mistral-nemo" not in {d.model for d in router.deployments}
    reply = router.complete("hi", models=["mistral-nemo"], max_tokens=10)
    assert reply.model == "ministral-8b"
    assert reply.decision.notes[0] == (
        "mistral-nemo was retired on mistral on 2026-07-31 and no deployment serves it; its "
        "replacement ministral-8b takes its requests")
    # Asked for alongside its replacement, it is simply dropped (and the decision says why).
    decision = router.route("hi", models=["mistral-nemo", "ministral-8b"], max_tokens=10)
    assert [c.model for c in decision.candidates] == ["ministral-8b"]
    assert "mistral-nemo was retired" in decision.notes[0]


def test_an_unserved_model_that_is_not_retired_is_still_an_error() -> None:
    router, _ = _router(SHUTDOWN - dt.timedelta(days=1), {
        **SWAP, "deployments": [{"model": "gpt-6-luna", "provider": "openai", "api_key": KEY}]})
    with pytest.raises(InvalidRequestError, match="no deployment serves 'gpt-4o'"):
        router.route("Hello", models=["gpt-4o"], max_tokens=10)
    # From the shutdown day the catalog's lifecycle moves it, deployment or not.
    router, _ = _router(SHUTDOWN, {
        **SWAP, "deployments": [{"model": "gpt-6-luna", "provider": "openai", "api_key": KEY}]})
    assert router.route("Hello", models=["gpt-4o"], max_tokens=10).model == "gpt-6-luna"


def test_a_misspelt_lifecycle_host_is_refused_instead_of_ignored() -> None:
    config = {"models": {"gpt-4o-mini": {"lifecycle": [
                  {"host": "open-ai", "shutdown_on": "2026-01-01", "replacement": "gpt-4o"}]}},
              "deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": KEY},
                              {"model": "gpt-4o", "provider": "openai", "api_key": KEY}]}
    with pytest.raises(ConfigError, match=r"models\.gpt-4o-mini\.lifecycle\[0\]\.host"):
        Router(config, env={})
    # Spelt right, the model is retired and its pinned traffic moves.
    config["models"]["gpt-4o-mini"]["lifecycle"][0]["host"] = "openai"
    router, _ = _router(dt.date(2026, 11, 25), config)
    decision = router.route("Hello", models=["gpt-4o-mini"], max_tokens=10)
    assert decision.model == "gpt-4o"
    assert "gpt-4o-mini@openai" in decision.excluded_deployments


def test_lifecycle_warnings_point_at_the_callers_line() -> None:
    config = {"deployments": [{"model": "gpt-4o", "provider": "openai", "api_key": KEY}]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Router.from_config(config, env={})
        Router(config, env={})
    files = {w.filename for w in caught if w.category is ModelLifecycleWarning}
    assert files == {__file__}
