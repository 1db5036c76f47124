"""`strategy="quality"`: the cheapest candidate expected to keep `min_quality` of the best one.

Expected quality of a candidate on a request = 1 - (its catalog shortfall on the request's task,
relative to the best candidate) x (how much harder than average the predictor finds the request).
Size-aware: on a request bigger than `reference_tokens` the saving is bigger, so a proportionally
larger shortfall is accepted (and a smaller one on a small request). That is the cost-quality
trade-off a fixed price of quality gives, with `min_quality` meaning what it says at the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from router.catalog import Catalog, ModelSpec, builtin_catalog
from router.errors import ConfigError
from router.quality.predictor import Prediction, QualityPredictor, default_predictor
from router.quality.tasks import catalog_score
from router.strategies import Ranking, RouteContext, Strategy

if TYPE_CHECKING:
    from router.decision import Candidate
    from router.quality.replay import ReplayItem

__all__ = ["REFERENCE_OUTPUT_TOKENS", "Choice", "QualityStrategy", "choose"]

#: Output tokens assumed when comparing a request's size with the reference (the router's default
#: `expected_output_tokens`); the request's own `max_tokens` would say nothing about the answer.
REFERENCE_OUTPUT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Choice:
    index: int  # the candidate picked
    expected: tuple[float, ...]  # expected quality relative to the best candidate, 0-1
    tolerance: float  # shortfall accepted on this request
    score_key: str | None  # the catalog benchmark used


def _cost(spec: ModelSpec, input_tokens: int, output_tokens: int) -> Decimal:
    return input_tokens * spec.price.input_per_token + output_tokens * spec.price.output_per_token


def choose(
    prediction: Prediction,
    specs: Sequence[ModelSpec],
    input_tokens: Sequence[int],
    *,
    min_quality: float,
    reference_tokens: int | None,
) -> Choice:
    """Pick among candidates (cheapest first in `specs` order is not assumed). Pure."""
    key, scores = catalog_score(prediction.task, [s.quality.scores for s in specs])
    known = [s for s in scores if s is not None]
    top = max(known) if known else 0.0
    gaps = [((top - s) / top if top > 0 else 0.0) if s is not None else None for s in scores]
    worst = max((g for g in gaps if g is not None), default=0.0)
    # A model without a published score is assumed as far behind as the furthest known one.
    shortfall = [(worst if g is None else g) * prediction.relative for g in gaps]
    expected = tuple(max(0.0, 1.0 - s) for s in shortfall)
    best = max(range(len(specs)), key=lambda i: (expected[i], -float(_cost(specs[i], 1000, 0))))
    costs = [
        _cost(spec, tokens, REFERENCE_OUTPUT_TOKENS)
        for spec, tokens in zip(specs, input_tokens, strict=True)
    ]
    tolerance = 1.0 - min_quality
    pick = best
    for i in sorted(range(len(specs)), key=lambda i: (costs[i], -expected[i])):
        if i == best or costs[i] >= costs[best]:
            break
        allowed = tolerance
        if reference_tokens:
            saving = costs[best] - costs[i]
            at_reference = _cost(specs[best], reference_tokens, REFERENCE_OUTPUT_TOKENS) - _cost(
                specs[i], reference_tokens, REFERENCE_OUTPUT_TOKENS
            )
            if at_reference > 0:
                allowed = tolerance * float(saving / at_reference)
        if 1.0 - expected[i] <= allowed + 1e-12:
            pick = i
            break
    return Choice(pick, expected, tolerance, key)


class QualityStrategy(Strategy):
    """Route to the cheapest candidate whose expected quality is at least `min_quality` of the best.

    `min_quality=0.95` keeps 95% of the best candidate's expected quality on a request of
    `reference_tokens` input tokens; `reference_tokens=None` ignores request size.
    Use `calibrate()` to find the setting that keeps a target share of quality on your traces.
    """

    name = "quality"

    def __init__(
        self,
        *,
        min_quality: float = 0.95,
        reference_tokens: int | None = 1000,
        predictor: QualityPredictor | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        if not 0.0 <= min_quality <= 1.0:
            raise ConfigError(
                f"min_quality must be between 0 and 1 (0.95 keeps 95%), got {min_quality}",
                path="routing.options.min_quality",
            )
        if reference_tokens is not None and reference_tokens <= 0:
            raise ConfigError("must be a positive token count or null",
                              path="routing.options.reference_tokens")
        self.min_quality = min_quality
        self.reference_tokens = reference_tokens
        self._predictor = predictor
        self._catalog = catalog

    @property
    def predictor(self) -> QualityPredictor:
        return self._predictor or default_predictor()

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> Ranking:
        if not candidates:
            return Ranking(())
        prediction = self.predictor.predict(ctx.request)
        choice = choose(
            prediction,
            [c.spec for c in candidates],
            [c.input_tokens for c in candidates],
            min_quality=self.min_quality,
            reference_tokens=self.reference_tokens,
        )
        first = candidates[choice.index]
        # Fallbacks: the better-expected candidates first, so a failure never trades quality down.
        rest = sorted(
            (c for i, c in enumerate(candidates) if i != choice.index),
            key=lambda c: (-choice.expected[candidates.index(c)], c.estimated_cost),
        )
        expected = ", ".join(
            f"{c.model} {q:.3f}" for c, q in zip(candidates, choice.expected, strict=True)
        )
        note = (
            f"quality: task {prediction.task.value} ({choice.score_key or 'no shared score'}), "
            f"p(strong better) {prediction.p_strong_better:.2f}, expected {expected}; "
            f"chose {first.model} at min_quality {self.min_quality}"
        )
        return Ranking((first, *rest), notes=(note,))

    def replay_policy(self) -> QualityReplay:
        """This strategy as a replay policy whose knob is `min_quality`."""
        return QualityReplay(self)


class QualityReplay:
    """Replays `QualityStrategy` over traces; predictions are made once per trace."""

    def __init__(self, strategy: QualityStrategy, *, name: str = "quality") -> None:
        self.strategy = strategy
        self.name = name

    def route(self, items: Sequence[ReplayItem], knobs: Sequence[float]) -> list[list[str]]:
        if not items:
            return [[] for _ in knobs]
        catalog = self.strategy._catalog or builtin_catalog()
        names = list(items[0].options)
        specs = [catalog.get(n) for n in names]
        predictor = self.strategy.predictor
        prepared = [
            (predictor.predict_messages(item.trace.messages),
             [item.options[n].input_tokens for n in names])
            for item in items
        ]
        return [
            [
                names[
                    choose(
                        pred,
                        specs,
                        tokens,
                        min_quality=knob,
                        reference_tokens=self.strategy.reference_tokens,
                    ).index
                ]
                for pred, tokens in prepared
            ]
            for knob in knobs
        ]
