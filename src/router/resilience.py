"""When to try again, how long to wait, when to move on, and how long a request may take.

Pure decisions built on tenacity's strategies (`wait_*`, `stop_*`, `retry_*`): the call state asks
`RetryPolicy.after_failure()` and gets a wait or a reason to give up; nothing here sleeps or calls.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import tenacity
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tenacity.retry import RetryBaseT
from tenacity.wait import WaitBaseT

from router.breaker import BreakerStore, CircuitBreaker
from router.errors import (
    AuthenticationError,
    ConfigError,
    ProviderError,
    ProviderTimeout,
    StreamError,
)

if TYPE_CHECKING:
    from router.deployments import Deployment

__all__ = [
    "BreakerConfig",
    "Resilience",
    "RetriesConfig",
    "RetryPolicy",
    "Timeouts",
    "TimeoutsConfig",
    "check_deadline",
    "counts_against",
    "falls_back",
    "is_retryable",
    "out_of_time",
    "wait_retry_after",
]


def is_retryable(error: BaseException) -> bool:
    """Worth another try on the same deployment: 429, 408, 5xx, timeouts, resets, unreadable answers.

    Never 400/401/403/404/422, and never a stream that already sent text.
    """
    if isinstance(error, StreamError):
        return not error.partial_text  # broke or ended before the first token: nothing was shown
    return isinstance(error, ProviderError) and error.retryable


def falls_back(error: BaseException) -> bool:
    """Worth trying the next candidate: a failure of this deployment rather than of the request.

    Retryable errors, a key the host refuses (401/403: another deployment has its own key) and a
    404 (the host does not serve the model). Other 4xx would fail everywhere, so they raise.
    """
    if isinstance(error, StreamError):
        return not error.partial_text  # before the first token the caller saw nothing
    if isinstance(error, AuthenticationError):
        return True
    if isinstance(error, ProviderError) and error.status_code == 404:
        return True
    return is_retryable(error)


def counts_against(error: BaseException) -> bool:
    """Counts as a failure of the deployment for its circuit breaker."""
    return falls_back(error) or isinstance(error, StreamError)


def out_of_time(error: BaseException | None, remaining: float | None) -> bool:
    """A timeout that ended once the request's own deadline had run out (`remaining` seconds
    left): the attempt was only given what was left, or a stream that had started overran
    `timeouts.total`. That says the request was out of time, not that the deployment is unhealthy,
    so its breaker is not told. A timeout within the attempt's full limit, or an HTTP 408, counts."""
    return (isinstance(error, ProviderTimeout) and error.status_code is None
            and remaining is not None and remaining < 0.001)


class wait_retry_after(tenacity.wait.wait_base):  # named like tenacity's strategies
    """Wait what the provider asked for (`Retry-After`, `retry-after-ms`), else fall back to `wait`."""

    def __init__(self, wait: WaitBaseT) -> None:
        self.wait = wait

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = _error_of(retry_state)
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return float(hint)
        return float(self.wait(retry_state))


def _error_of(retry_state: tenacity.RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None and outcome.failed else None


# The allowed ranges, one rule set for the config sections and for the classes built in code.
ATTEMPTS = (1, 20)  # calls per deployment, the first included
MAX_RETRY_AFTER = (0.0, 3600.0)  # seconds


def _check_range(value: float, bounds: tuple[float, float], path: str, meaning: str) -> None:
    low, high = bounds
    if isinstance(value, bool) or not low <= value <= high:  # also refuses NaN
        raise ConfigError(f"must be from {low:g} to {high:g} ({meaning}), got {value!r}", path=path)


def _check_seconds(value: float | None, path: str) -> None:
    # also refuses NaN and infinity (None is "no limit")
    if value is not None and (isinstance(value, bool) or not 0 < value < math.inf):
        raise ConfigError(f"must be more than 0 seconds (None: no limit), got {value!r}", path=path)


def check_deadline(total: float | None, limits: list[tuple[str, float | None]]) -> None:
    """A request deadline shorter than one attempt would give up before any answer could come:
    a `ConfigError` at `timeouts.total` naming the longer limit."""
    if total is None:
        return
    for where, seconds in limits:
        if seconds is not None and seconds > total:
            raise ConfigError(
                f"{total:g}s is shorter than one attempt ({where} = {seconds:g}s); "
                f"raise timeouts.total or lower {where}",
                path="timeouts.total",
            )


def _default_wait() -> WaitBaseT:
    return tenacity.wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one deployment, in tenacity's terms.

    `attempts` counts the first call (1 = never retry); `wait` is any tenacity wait strategy (the
    provider's `Retry-After` wins over it); `retry` picks the errors worth retrying; `stop` may add
    a tenacity stop condition (`stop_after_delay(...)`). A `Retry-After` longer than
    `max_retry_after` is not waited for: the next candidate is tried instead. `fallbacks=False`
    keeps every request on its first deployment.
    """

    attempts: int = 3
    wait: WaitBaseT = field(default_factory=_default_wait)
    retry: RetryBaseT = field(default_factory=lambda: tenacity.retry_if_exception(is_retryable))
    stop: tenacity.stop.stop_base = field(default_factory=lambda: tenacity.stop_never)
    max_retry_after: float = 20.0
    fallbacks: bool = True

    def __post_init__(self) -> None:
        _check_range(self.attempts, ATTEMPTS, "retries.attempts",
                     "calls per deployment, the first included; 1 = never retry")
        if not isinstance(self.attempts, int):
            raise ConfigError(f"must be a whole number, got {self.attempts!r}",
                              path="retries.attempts")
        _check_range(self.max_retry_after, MAX_RETRY_AFTER, "retries.max_retry_after",
                     "seconds; a longer Retry-After moves on to the next candidate")

    @functools.cached_property
    def retrying(self) -> tenacity.Retrying:
        """The strategies as one tenacity `Retrying` (only its strategies are used, never its
        loop, so one object serves every call and thread)."""
        return tenacity.Retrying(
            stop=tenacity.stop_any(tenacity.stop_after_attempt(self.attempts), self.stop),
            wait=wait_retry_after(self.wait),
            retry=self.retry,
        )

    def start(self, started: float) -> tenacity.RetryCallState:
        """A fresh tenacity retry state for a deployment first tried at `started` (monotonic)."""
        state = tenacity.RetryCallState(self.retrying, None, (), {})
        state.start_time = started
        return state

    def after_failure(
        self, state: tenacity.RetryCallState, error: ProviderError, now: float
    ) -> float | str:
        """The seconds to wait before retrying the same deployment, or why not to retry it.

        Records `error` as the outcome of `state`'s current attempt, then asks tenacity's
        `retry`, `wait` and `stop` in the order `Retrying.iter()` does.
        """
        retrying = state.retry_object
        future = tenacity.Future(state.attempt_number)
        future.set_exception(error)
        state.outcome, state.outcome_timestamp = future, now
        if not retrying.retry(state):
            return f"{type(error).__name__} is not retried"
        wait = float(retrying.wait(state))
        state.upcoming_sleep = wait
        hint = error.retry_after
        if hint is not None and hint > self.max_retry_after:
            return f"Retry-After {hint:g}s is longer than max_retry_after {self.max_retry_after:g}s"
        if retrying.stop(state):
            return f"{state.attempt_number} attempt{'s' if state.attempt_number > 1 else ''} made"
        state.idle_for += wait
        state.outcome, state.outcome_timestamp = None, None
        state.attempt_number += 1
        return wait


@dataclass(frozen=True, slots=True)
class Timeouts:
    """`total`: seconds a request may take across all attempts and waits; `attempt`: per call
    (each deployment's own `timeout` applies too; the shortest wins). `None` means no limit.
    Out-of-range values are `ConfigError`s, as in the config's `timeouts:`."""

    total: float | None = 120.0
    attempt: float | None = None

    def __post_init__(self) -> None:
        _check_seconds(self.total, "timeouts.total")
        _check_seconds(self.attempt, "timeouts.attempt")
        check_deadline(self.total, [("timeouts.attempt", self.attempt)])

    def attempt_timeout(self, deployment_timeout: float, remaining: float | None) -> float:
        """The shortest of the deployment's timeout, `attempt` and what is left of `total`."""
        timeout = deployment_timeout
        if self.attempt is not None and self.attempt < timeout:
            timeout = self.attempt
        if remaining is not None and remaining < timeout:
            timeout = remaining
        return timeout


@dataclass(frozen=True)
class Resilience:
    """Everything the call state needs to decide retries, fallbacks, breaking and deadlines.

    `breaker` is `None` for no circuit breaking; `monotonic` measures the deadline.
    """

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)
    breaker: CircuitBreaker | None = None
    monotonic: Callable[[], float] = time.monotonic

    @classmethod
    def from_config(
        cls,
        retries: RetriesConfig,
        breaker: BreakerConfig,
        timeouts: TimeoutsConfig,
        *,
        store: BreakerStore | None = None,
        longest_attempt: float = 0.0,
    ) -> Resilience:
        """The validated config sections, with breaker state in `store` (in memory if `None`);
        `longest_attempt` is the longest deployment timeout (see `TimeoutsConfig.timeouts`)."""
        circuit = (
            CircuitBreaker(failures=breaker.failures, cooldown=breaker.cooldown, store=store)
            if breaker.enabled else None
        )
        return cls(retry=retries.policy(), timeouts=timeouts.timeouts(longest_attempt=longest_attempt),
                   breaker=circuit)


# -- config sections (validated by `router.config`) ------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetriesConfig(_Section):
    """`retries:`: per deployment, then on to the next candidate."""

    attempts: int = Field(3, ge=ATTEMPTS[0], le=ATTEMPTS[1],
                          description="Calls per deployment, the first included")

    @field_validator("attempts", mode="before")
    @classmethod
    def _not_a_flag(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic would read true as 1 attempt
            raise ValueError(f"expected a whole number such as 3, not {str(value).lower()}")
        return value
    initial_backoff: float = Field(0.5, ge=0, le=60, description="Seconds before the first retry")
    max_backoff: float = Field(8.0, ge=0, le=600, description="Longest wait between two calls")
    jitter: float = Field(0.5, ge=0, le=60, description="Up to this many random seconds added")
    max_retry_after: float = Field(
        20.0, ge=MAX_RETRY_AFTER[0], le=MAX_RETRY_AFTER[1],
        description="Longest Retry-After honoured; longer: try the next one",
    )
    fallbacks: bool = Field(True, description="Try the next candidate when a deployment gives up")

    def policy(self) -> RetryPolicy:
        wait = tenacity.wait_exponential_jitter(
            multiplier=self.initial_backoff, max=self.max_backoff, jitter=self.jitter
        )
        return RetryPolicy(attempts=self.attempts, wait=wait, max_retry_after=self.max_retry_after,
                           fallbacks=self.fallbacks)


class BreakerConfig(_Section):
    """`breaker:`: skip a deployment after consecutive failures, for a cooldown, then probe it."""

    enabled: bool = True
    failures: int = Field(5, ge=1, le=1000, description="Consecutive failures that open it")
    cooldown: float = Field(30.0, gt=0, le=86_400, description="Seconds open before one probe")


class TimeoutsConfig(_Section):
    """`timeouts:`: `total` per request across attempts and waits, `attempt` per call (seconds)."""

    total: float | None = Field(120.0, gt=0, description="Seconds per request; null: no limit")
    attempt: float | None = Field(None, gt=0, description="Seconds per call; null: the deployment's")

    def timeouts(self, *, longest_attempt: float = 0.0) -> Timeouts:
        """The timeouts; a `total` left at its default grows to `longest_attempt` (the longest
        deployment or attempt timeout), so that one attempt always fits (a self-hosted model
        given `timeout: 300` keeps its 300 s)."""
        total = self.total
        if total is not None and "total" not in self.model_fields_set:
            total = max(total, longest_attempt, self.attempt or 0.0)
        return Timeouts(total=total, attempt=self.attempt)

    def deadline_settings(self, deployments: Sequence[Deployment]) -> list[tuple[str, float]]:
        """The settings the request deadline comes from, named as in the config, for errors that
        must say which one to change: `timeouts.total`, and what a default one grows to fit
        (`timeouts.attempt`, `deployments[i].timeout`), with their seconds."""
        if self.total is not None and "total" in self.model_fields_set:
            found = [("timeouts.total", self.total)]
        else:
            found = [("timeouts.total (default)", self.total or 0.0)]
        if self.attempt is not None:
            found.append(("timeouts.attempt", self.attempt))
        found += [(f"deployments[{i}].timeout (deployment {d.id!r})", d.timeout)
                  for i, d in enumerate(deployments)]
        return found
