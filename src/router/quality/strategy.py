"""`strategy="quality"`: keep `min_quality` of the best candidate's quality, spend as little as possible.

`min_quality=0.95` means: on average over your traffic, keep 95% of the quality the best candidate
would give. It is turned into a per-request *tolerance* by the predictor's knob map for the
request's family (multiple choice, maths, open-ended), measured by replaying the training traces
(`scripts/train_quality.py`); `calibrate()` finds the setting for your own traces.
Per request, the expected quality of a candidate is
1 - (its catalog shortfall behind the best candidate on the request's task) x (how much harder than
average the predictor finds the request), and the cheapest candidate whose shortfall fits the
tolerance is chosen. Size-aware: the accepted shortfall scales with the money saved relative to a
request of `reference_tokens` input tokens, so quality is traded where it buys the most dollars
(the rule that maximises savings at a given average quality, as the oracle's upgrade order does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from router.catalog import Catalog, ModelSpec, builtin_catalog
from router.errors import ConfigError
from router.quality.predictor import Prediction, Predictor, default_predictor
from router.quality.tasks import catalog_score
from router.strategies import Ranking, RouteContext, Strategy

if TYPE_CHECKING:
    from router.decision import Candidate
    from router.quality.replay import ReplayItem

__all__ = [
    "REFERENCE_OUTPUT_TOKENS",
    "TOLERANCE_SWEEP",
    "Choice",
    "QualityReplay",
    "QualityStrategy",
    "choose",
    "resolve_predictor",
]

#: Output tokens assumed when comparing a request's size with the reference (the router's default
#: `expected_output_tokens`); the request's own `max_tokens` would say nothing about the answer.
REFERENCE_OUTPUT_TOKENS = 256

#: Raw per-request tolerances replayed to train and to build a knob map: 0, then 0.002 to ~5
#: in 4% steps (scripts/train_quality.py refines them further where the share kept moves).
TOLERANCE_SWEEP: tuple[float, ...] = (0.0, *(round(0.002 * 1.04**i, 6) for i in range(200)))


@dataclass(frozen=True, slots=True)
class Choice:
    index: int  # the candidate picked
    expected: tuple[float, ...]  # expected quality relative to the best candidate, 0-1
    allowed: tuple[float, ...]  # shortfall each candidate was allowed on this request
    score_key: str | None  # the catalog benchmark used


def _cost(spec: ModelSpec, input_tokens: int, output_tokens: int) -> Decimal:
    return input_tokens * spec.price.input_per_token + output_tokens * spec.price.output_per_token


def choose(
    prediction: Prediction,
    specs: Sequence[ModelSpec],
    input_tokens: Sequence[int],
    *,
    tolerance: float,
    reference_tokens: int | None,
) -> Choice:
    """The cheapest candidate whose expected shortfall fits `tolerance` (size-scaled). Pure."""
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
    allowed = [0.0] * len(specs)
    pick = best
    for i in sorted(range(len(specs)), key=lambda i: (costs[i], -expected[i])):
        if i == best or costs[i] >= costs[best]:
            break
        allowed[i] = tolerance
        if reference_tokens:
            saving = costs[best] - costs[i]
            at_reference = _cost(specs[best], reference_tokens, REFERENCE_OUTPUT_TOKENS) - _cost(
                specs[i], reference_tokens, REFERENCE_OUTPUT_TOKENS
            )
            if at_reference > 0:
                allowed[i] = tolerance * float(saving / at_reference)
        if 1.0 - expected[i] <= allowed[i] + 1e-12:
            pick = i
            break
    return Choice(pick, expected, tuple(allowed), key)


def resolve_predictor(predictor: str | Predictor | None) -> Predictor:
    """None or "light": the shipped < 1 ms predictor; else a `Predictor` object of your own."""
    if predictor is None or predictor == "light":
        return default_predictor()
    if isinstance(predictor, str):
        raise ConfigError(f"unknown quality predictor {predictor!r}; use 'light' or an object",
                          path="routing.options.predictor")
    return predictor


class QualityStrategy(Strategy):
    """Spend as little as possible while keeping `min_quality` of the best candidate's quality.

    `min_quality=0.95` keeps about 95% of the best candidate's quality on average over traffic
    like the training traces (RouteLLM's MMLU, GSM8K and MT-Bench); `calibrate()` gives the
    setting for your own traces. 1.0 always takes the best candidate. `predictor` is "light"
    (the default, pure Python, < 1 ms) or any object with the `Predictor` protocol (e.g. the
    embedding experiment in scripts/quality_embed.py). `tolerance` sets the raw per-request
    shortfall instead (advanced; bypasses the knob map). `reference_tokens=None` ignores
    request size.
    """

    name = "quality"

    def __init__(
        self,
        *,
        min_quality: float = 0.95,
        reference_tokens: int | None = 1000,
        predictor: str | Predictor | None = None,
        catalog: Catalog | None = None,
        tolerance: float | None = None,
    ) -> None:
        if isinstance(min_quality, bool) or not isinstance(min_quality, int | float) \
                or not 0.0 <= min_quality <= 1.0:
            raise ConfigError(
                f"min_quality must be a number between 0 and 1 (0.95 keeps 95%), got {min_quality!r}",
                path="routing.options.min_quality",
            )
        if reference_tokens is not None and reference_tokens <= 0:
            raise ConfigError("must be a positive token count or null",
                              path="routing.options.reference_tokens")
        if tolerance is not None and tolerance < 0:
            raise ConfigError("must be 0 or more", path="routing.options.tolerance")
        if (isinstance(predictor, str) and predictor != "light") or (
            predictor is not None and not isinstance(predictor, str)
            and not hasattr(predictor, "predict_messages")
        ):
            raise ConfigError(
                f"unknown quality predictor {predictor!r}; use 'light' or a predictor object "
                "(scripts/quality_embed.py has an embedding one)",
                path="routing.options.predictor",
            )
        self.min_quality = min_quality
        self.reference_tokens = reference_tokens
        self._predictor_spec = predictor
        self._predictor: Predictor | None = None
        self._catalog = catalog
        self._tolerance = tolerance

    @property
    def predictor(self) -> Predictor:
        if self._predictor is None:
            self._predictor = resolve_predictor(self._predictor_spec)
        return self._predictor

    def tolerance_for(self, min_quality: float, family: str) -> float:
        """The per-request tolerance that `min_quality` means for a request family (`tolerance=`
        overrides it)."""
        if self._tolerance is not None:
            return self._tolerance
        return self.predictor.knob_maps[family].tolerance_for(min_quality)

    def tolerance(self, family: str) -> float:
        return self.tolerance_for(self.min_quality, family)

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> Ranking:
        if not candidates:
            return Ranking(())
        prediction = self.predictor.predict(ctx.request)
        choice = choose(
            prediction,
            [c.spec for c in candidates],
            [c.input_tokens for c in candidates],
            tolerance=self.tolerance(prediction.family),
            reference_tokens=self.reference_tokens,
        )
        first = candidates[choice.index]
        # Fallbacks: the better-expected candidates first, so a failure never trades quality down.
        rest = sorted(
            (c for i, c in enumerate(candidates) if i != choice.index),
            key=lambda c: (-choice.expected[candidates.index(c)], c.estimated_cost),
        )
        expected = ", ".join(
            f"{c.model} {q:.3f} (accepts {1 - a:.3f})" if a else f"{c.model} {q:.3f}"
            for c, q, a in zip(candidates, choice.expected, choice.allowed, strict=True)
        )
        note = (
            f"quality: task {prediction.task.value} ({choice.score_key or 'no shared score'}), "
            f"{self.predictor.name} predictor, {prediction.relative:.2f}x an average "
            f"{prediction.family} request; expected {expected}; chose {first.model} "
            f"(min_quality {self.min_quality} on average -> tolerance "
            f"{self.tolerance(prediction.family):.3f} at {self.reference_tokens or 'any'} input "
            "tokens)"
        )
        return Ranking((first, *rest), notes=(note,))

    def replay_policy(self, *, name: str = "quality", raw: bool = False) -> QualityReplay:
        """This strategy as a replay policy whose knob is `min_quality` (or, `raw`, the tolerance)."""
        return QualityReplay(self, name=name, raw=raw)


class QualityReplay:
    """Replays `QualityStrategy` over traces; predictions are made once per trace."""

    def __init__(self, strategy: QualityStrategy, *, name: str = "quality", raw: bool = False) -> None:
        self.strategy = strategy
        self.name = name
        self.raw = raw
        self._predictions: dict[int, tuple[object, Prediction]] = {}

    def predictions(
        self, items: Sequence[ReplayItem], *, progress: Callable[[int, int], None] | None = None
    ) -> list[Prediction]:
        """One prediction per item, cached per trace object (a sweep predicts once).

        A predictor with `predict_batch(list of message lists)` (the embedding variant) is
        called once for all the missing ones. `progress(done, total)` every 500 items.
        """
        predictor = self.strategy.predictor
        cache = self._predictions
        missing = [item for item in items
                   if (hit := cache.get(id(item.trace))) is None or hit[0] is not item.trace]
        batch = getattr(predictor, "predict_batch", None)
        if batch is not None and missing:
            found = batch([item.trace.messages for item in missing])
        else:
            found = []
            for done, item in enumerate(missing, start=1):
                found.append(predictor.predict_messages(item.trace.messages))
                if progress is not None and done % 500 == 0:
                    progress(len(items) - len(missing) + done, len(items))
        for item, pred in zip(missing, found, strict=True):
            cache[id(item.trace)] = (item.trace, pred)
        if progress is not None:
            progress(len(items), len(items))
        return [cache[id(item.trace)][1] for item in items]

    def prepare(
        self, items: Sequence[ReplayItem], *, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Predict every item once before the knob sweep (the evaluator shows its progress)."""
        self.predictions(items, progress=progress)

    def route(self, items: Sequence[ReplayItem], knobs: Sequence[float]) -> list[list[str]]:
        if not items:
            return [[] for _ in knobs]
        catalog = self.strategy._catalog or builtin_catalog()
        names = list(items[0].options)
        specs = [catalog.get(n) for n in names]
        prepared = [
            (pred, [item.options[n].input_tokens for n in names])
            for pred, item in zip(self.predictions(items), items, strict=True)
        ]
        routes = []
        for knob in knobs:
            per_family: dict[str, float] = {}
            route = []
            for pred, tokens in prepared:
                if self.raw:
                    tolerance = knob
                elif (tolerance := per_family.get(pred.family, -1.0)) < 0:
                    tolerance = per_family[pred.family] = self.strategy.tolerance_for(
                        knob, pred.family
                    )
                route.append(names[choose(pred, specs, tokens, tolerance=tolerance,
                                          reference_tokens=self.strategy.reference_tokens).index])
            routes.append(route)
        return routes
