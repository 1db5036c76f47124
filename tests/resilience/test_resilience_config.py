"""`retries:`, `breaker:` and `timeouts:` in the config: defaults, effect, and bad values."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import tenacity
from tests.conftest import frozen

from router import CircuitBreaker, ConfigError, RetryPolicy, Router, Timeouts

BASE: dict[str, Any] = {
    "deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": "sk-test-0123456789"}]
}


def build(config: Any) -> Router:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(config, env={}, clock=frozen())


def test_defaults() -> None:
    resilience = build(BASE).resilience
    assert resilience.retry.attempts == 3
    assert resilience.retry.max_retry_after == 20.0
    assert resilience.retry.fallbacks is True
    assert resilience.timeouts.total == 120.0
    assert resilience.timeouts.attempt is None
    assert resilience.breaker is not None
    assert (resilience.breaker.failures, resilience.breaker.cooldown) == (5, 30.0)


def test_sections_take_effect() -> None:
    resilience = build({
        **BASE,
        "retries": {"attempts": 5, "initial_backoff": 0.1, "max_backoff": 2, "jitter": 0,
                    "max_retry_after": 3, "fallbacks": False},
        "breaker": {"enabled": False},
        "timeouts": {"total": 30, "attempt": 10},
    }).resilience
    assert (resilience.retry.attempts, resilience.retry.max_retry_after) == (5, 3.0)
    assert resilience.retry.fallbacks is False
    assert resilience.breaker is None
    assert (resilience.timeouts.total, resilience.timeouts.attempt) == (30.0, 10.0)
    wait = resilience.retry.wait
    assert isinstance(wait, tenacity.wait_exponential_jitter)
    assert (wait.multiplier, wait.max, wait.jitter) == (0.1, 2.0, 0.0)


def test_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(
        "deployments:\n  - {model: gpt-4o-mini, provider: openai, api_key: sk-test-0123456789}\n"
        "retries: {attempts: 2}\nbreaker: {failures: 3, cooldown: 5}\ntimeouts: {total: null}\n"
    )
    resilience = build(path).resilience
    assert resilience.retry.attempts == 2
    assert resilience.breaker is not None
    assert resilience.breaker.failures == 3
    assert resilience.timeouts.total is None


@pytest.mark.parametrize(("section", "path"), [
    ({"retries": {"attempts": -1}}, "retries.attempts"),
    ({"retries": {"attempts": 0}}, "retries.attempts"),
    ({"retries": {"initial_backoff": -0.5}}, "retries.initial_backoff"),
    ({"retries": {"max_retry_after": -1}}, "retries.max_retry_after"),
    ({"retries": {"attemps": 3}}, "retries.attemps"),
    ({"breaker": {"cooldown": 0}}, "breaker.cooldown"),
    ({"breaker": {"failures": 0}}, "breaker.failures"),
    ({"timeouts": {"total": 0}}, "timeouts.total"),
    ({"timeouts": {"attempt": -3}}, "timeouts.attempt"),
    ({"timeouts": {"total": 5, "attempt": 10}}, "timeouts.total"),
    ({"retries": {"attempts": True}}, "retries.attempts"),  # was read as 1 attempt
])
def test_out_of_range_values_are_config_errors_naming_the_field(
    section: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build({**BASE, **section})
    assert info.value.path == path
    assert str(info.value).startswith(path + ": ")


def test_a_deadline_shorter_than_a_deployments_own_timeout_is_an_error() -> None:
    config = {"deployments": [{**BASE["deployments"][0], "timeout": 90}], "timeouts": {"total": 60}}
    with pytest.raises(ConfigError) as info:
        build(config)
    assert info.value.path == "timeouts.total"
    assert "deployments[0].timeout = 90s" in str(info.value)
    # The deployment's default timeout (60 s) is not a choice the user made: it is clamped.
    build({**BASE, "timeouts": {"total": 30}})


def test_the_default_deadline_grows_to_fit_the_longest_attempt() -> None:
    slow = {"deployments": [{**BASE["deployments"][0], "timeout": 300}]}
    assert build(slow).resilience.timeouts.total == 300.0
    assert build({**BASE, "timeouts": {"attempt": 200}}).resilience.timeouts.total == 200.0
    assert build(BASE).resilience.timeouts.total == 120.0


@pytest.mark.parametrize(("make", "path"), [
    (lambda: RetryPolicy(attempts=-1), "retries.attempts"),
    (lambda: RetryPolicy(attempts=0), "retries.attempts"),
    (lambda: RetryPolicy(attempts=21), "retries.attempts"),
    (lambda: RetryPolicy(attempts=2.5), "retries.attempts"),  # type: ignore[arg-type]
    (lambda: RetryPolicy(max_retry_after=-1), "retries.max_retry_after"),
    (lambda: Timeouts(total=-1), "timeouts.total"),
    (lambda: Timeouts(total=0), "timeouts.total"),
    (lambda: Timeouts(attempt=-2), "timeouts.attempt"),
    (lambda: Timeouts(attempt=0), "timeouts.attempt"),  # not "no limit": None says that
    (lambda: Timeouts(total=float("nan")), "timeouts.total"),
    (lambda: Timeouts(total=0.1, attempt=10), "timeouts.total"),
    (lambda: Timeouts(total=float("inf")), "timeouts.total"),  # None says "no limit"
    # the audit's cases: a NaN cooldown left the circuit half-open for ever, letting every
    # request through as a "probe"; 2.5 and True failures were taken as numbers
    (lambda: CircuitBreaker(cooldown=float("nan")), "breaker.cooldown"),
    (lambda: CircuitBreaker(cooldown=float("inf")), "breaker.cooldown"),
    (lambda: CircuitBreaker(failures=2.5), "breaker.failures"),  # type: ignore[arg-type]
    (lambda: CircuitBreaker(failures=True), "breaker.failures"),
])
def test_settings_built_in_code_follow_the_config_rules(make: Any, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.path == path
    assert str(info.value).startswith(path + ": ")


def test_the_deadline_message_is_the_same_in_code_and_in_config() -> None:
    with pytest.raises(ConfigError) as in_code:
        Timeouts(total=5, attempt=10)
    with pytest.raises(ConfigError) as in_config:
        build({**BASE, "timeouts": {"total": 5, "attempt": 10}})
    assert str(in_code.value) == str(in_config.value)


def test_valid_settings_built_in_code() -> None:
    assert Timeouts(total=None, attempt=None).attempt_timeout(60, None) == 60
    assert Timeouts(total=30, attempt=10).attempt_timeout(60, 25) == 10
    assert RetryPolicy(attempts=1, max_retry_after=0).attempts == 1
