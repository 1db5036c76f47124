"""Routing policies: filters that leave candidates out (with a reason) and strategies that order them.

Filters compose with `&` (`min_score("mmlu", 80) & vendors("openai")`); a strategy narrowed by a
filter is `cheapest().where(...)`. A plain function `(candidates, ctx) -> list` is a strategy too.
Strategies are pure: no I/O, no clock, no randomness they do not own.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

from router.errors import ConfigError, InvalidRequestError

if TYPE_CHECKING:
    from router.catalog import ModelSpec
    from router.decision import Candidate
    from router.tokens import RequestTokens
    from router.types import Request

__all__ = [
    "Best",
    "Cheapest",
    "Filter",
    "Ranking",
    "RouteContext",
    "Strategy",
    "best",
    "call_strategy",
    "cheapest",
    "general_quality",
    "min_score",
    "register_strategy",
    "resolve_strategy",
    "short_answers_last",
    "strategy_names",
    "vendors",
]


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What a policy may look at besides the candidates: the request, the budget, the date."""

    request: Request
    budget: Decimal | None
    today: dt.date
    tokens: RequestTokens
    options: Mapping[str, Any] = field(default_factory=dict)
    # The answer length the router expects when max_tokens is unset (routing.expected_output_tokens).
    expected_output_tokens: int = 256


@dataclass(frozen=True, slots=True)
class Ranking:
    """A strategy's answer: candidates in the order to try, plus any it left out and why."""

    order: tuple[Candidate, ...]
    excluded: Mapping[str, str] = field(default_factory=dict)  # deployment id -> reason
    notes: tuple[str, ...] = ()


class Filter:
    """Leaves out candidates: `check(candidate, ctx)` returns a reason, or None to keep it."""

    def __init__(self, check: Callable[[Candidate, RouteContext], str | None], name: str = ""):
        self._check = check
        self.name = name or getattr(check, "__name__", "filter")

    def __call__(self, candidate: Candidate, ctx: RouteContext) -> str | None:
        return self._check(candidate, ctx)

    def __and__(self, other: Filter) -> Filter:
        def both(candidate: Candidate, ctx: RouteContext) -> str | None:
            return self(candidate, ctx) or other(candidate, ctx)

        return Filter(both, f"{self.name} & {other.name}")

    def __repr__(self) -> str:
        return f"Filter({self.name})"


class Strategy(ABC):
    """Orders the eligible candidates; the first is tried first."""

    name: str = "strategy"

    @abstractmethod
    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> Ranking:
        """Return the candidates to try, best first, and any left out with reasons."""

    def where(self, flt: Filter) -> Strategy:
        """This strategy over only the candidates `flt` keeps."""
        return _Filtered(self, flt)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _Filtered(Strategy):
    def __init__(self, inner: Strategy, flt: Filter):
        self.inner, self.flt = inner, flt
        self.name = inner.name

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> Ranking:
        kept, excluded = [], {}
        for c in candidates:
            reason = self.flt(c, ctx)
            if reason is None:
                kept.append(c)
            else:
                excluded[c.deployment] = reason
        inner = self.inner.rank(kept, ctx)
        return Ranking(inner.order, {**excluded, **inner.excluded}, inner.notes)


class _Function(Strategy):
    def __init__(self, fn: Callable[[Sequence[Candidate], RouteContext], Sequence[Candidate]]):
        self.fn = fn
        self.name = getattr(fn, "__name__", "custom")

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> Ranking:
        order = tuple(self.fn(candidates, ctx))
        known = {id(c) for c in candidates}
        if any(id(c) not in known for c in order):
            raise ConfigError(f"strategy {self.name!r} returned a candidate it was not given")
        dropped = {c.deployment: f"left out by strategy {self.name!r}" for c in candidates
                   if c not in order}
        return Ranking(order, dropped)


def general_quality(spec: ModelSpec) -> float:
    """One catalog score for "best": MMLU when published, else the mean of the model's scores."""
    scores = spec.quality.scores
    if "mmlu" in scores:
        return scores["mmlu"]
    return sum(scores.values()) / len(scores) if scores else 0.0


def short_answers_last(order: Sequence[Candidate], ctx: RouteContext, strategy: str) -> Ranking:
    """`order`, except that when the caller set no max_tokens, a candidate whose output cap
    (lowered to fit the budget, or by its context window) is under the expected answer length
    goes after every candidate that can write that much: a strong model cut to 26 tokens is not
    the best answer, and its estimate is cheap only because the answer would be cut off."""
    if ctx.request.max_tokens is not None:
        return Ranking(tuple(order))
    floor = ctx.expected_output_tokens
    fits = [c.max_output_tokens >= floor for c in order]
    if fits == sorted(fits, reverse=True):  # no short candidate ahead of a full one
        return Ranking(tuple(order))
    full = [c for c in order if c.max_output_tokens >= floor]
    moved = order[: order.index(full[0])]
    short = [c for c in order if c.max_output_tokens < floor]
    shown = ", ".join(f"{c.model} (room for {c.max_output_tokens} output tokens)" for c in moved)
    notes = (
        f"{strategy}: {shown} ranked after {full[0].model}: fewer than the {floor} expected of "
        "an answer (routing.expected_output_tokens); set max_tokens to choose the length yourself",
    ) if moved else ()
    return Ranking((*full, *short), notes=notes)


class Cheapest(Strategy):
    """Lowest estimated cost first; ties go to the higher catalog quality. Candidates that could
    not write an answer of the expected length come last (see `short_answers_last`)."""

    name = "cheapest"

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> Ranking:
        if len(candidates) < 2:
            return Ranking(tuple(candidates))
        order = sorted(
            candidates,
            key=lambda c: (c.estimated_cost, c.worst_case_cost, -general_quality(c.spec)),
        )
        return short_answers_last(order, ctx, self.name)


class Best(Strategy):
    """Highest catalog quality among the candidates that can write an answer of the expected
    length within the budget (see `short_answers_last`); ties go to the cheaper."""

    name = "best"

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> Ranking:
        if len(candidates) < 2:
            return Ranking(tuple(candidates))
        order = sorted(candidates, key=lambda c: (-general_quality(c.spec), c.estimated_cost))
        return short_answers_last(order, ctx, self.name)


def cheapest() -> Strategy:
    return Cheapest()


def best() -> Strategy:
    return Best()


def min_score(benchmark: str, at_least: float) -> Filter:
    """Keep models whose catalog score on `benchmark` is at least `at_least`."""

    def check(c: Candidate, ctx: RouteContext) -> str | None:
        score = c.spec.quality.scores.get(benchmark)
        if score is None:
            return f"no published {benchmark} score"
        return None if score >= at_least else f"{benchmark} {score} < {at_least}"

    return Filter(check, f"min_score({benchmark}>={at_least})")


def vendors(*names: str) -> Filter:
    """Keep models from these vendors only (`openai`, `mistral`, ...)."""

    def check(c: Candidate, ctx: RouteContext) -> str | None:
        return None if c.spec.vendor in names else f"vendor {c.spec.vendor!r} not allowed"

    return Filter(check, f"vendors({', '.join(names)})")


StrategyLike: TypeAlias = (
    "str | Strategy | Callable[[Sequence[Candidate], RouteContext], Sequence[Candidate]]"
)

def _quality(**options: Any) -> Strategy:
    from router.quality.strategy import QualityStrategy  # lazy: loads the predictor's weights

    return QualityStrategy(**options)


def _cascade(**options: Any) -> Strategy:
    from router.quality.cascade import CascadeStrategy

    return CascadeStrategy(**options)


_REGISTRY: dict[str, Callable[..., Strategy]] = {
    "cheapest": Cheapest,
    "best": Best,
    "quality": _quality,
    "cascade": _cascade,
}


def register_strategy(name: str, factory: Callable[..., Strategy]) -> None:
    """Make `strategy="name"` (in calls and config) build a strategy with `factory(**options)`."""
    _REGISTRY[name] = factory


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)


def resolve_strategy(value: StrategyLike, **options: Any) -> Strategy:
    """A strategy from a registered name, a `Strategy`, or a plain ranking function; a bad one is
    a `ConfigError` at `routing.strategy` (this is how the config and `Router(strategy=)` get one)."""
    problem = _strategy_problem(value)
    if problem is not None:
        raise ConfigError(problem, path="routing.strategy")
    if isinstance(value, str):
        try:
            return _REGISTRY[value](**options)
        except TypeError as exc:
            raise ConfigError(f"bad options for strategy {value!r}: {exc}",
                              path="routing.options") from None
    return value if isinstance(value, Strategy) else _Function(value)


def call_strategy(value: StrategyLike) -> Strategy:
    """`resolve_strategy` for one call's `strategy=` argument: a bad one is that call's
    `InvalidRequestError` naming `strategy`, not a config error."""
    problem = _strategy_problem(value)
    if problem is not None:
        raise InvalidRequestError(problem, field="strategy")
    return resolve_strategy(value)


def _strategy_problem(value: object) -> str | None:
    if isinstance(value, str):
        if value in _REGISTRY:
            return None
        return (f"unknown strategy {value!r}; use one of {', '.join(strategy_names())} "
                "or pass a Strategy instance")
    if isinstance(value, Strategy) or callable(value):
        return None
    return f"expected a strategy name, a Strategy or a function, got {type(value).__name__}"
