"""Replay items: each trace priced on each mapped catalog model, and the baseline policies.

Realised cost uses the trace's tokens (or `cost`); the router's policies see only `estimated_cost`,
which, like a live router, knows the input but not the answer's length (a typical length is used).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from router.catalog import Catalog, ModelSpec
from router.quality.metrics import Point
from router.quality.traces import Trace, TraceError
from router.tokens import count_tokens

__all__ = [
    "Option",
    "ReplayItem",
    "ReplayPolicy",
    "build_items",
    "oracle_curve",
    "point_of",
    "random_curve",
]

# Chat framing per message and per request, as router.tokens counts it.
_PER_MESSAGE = 4
_PER_REQUEST = 3


@dataclass(frozen=True, slots=True)
class Option:
    """One catalog model on one trace: its score, realised cost and what the router could know."""

    score: float
    cost: Decimal
    input_tokens: int
    estimated_cost: Decimal


@dataclass(frozen=True, slots=True)
class ReplayItem:
    trace: Trace
    options: Mapping[str, Option]


class ReplayPolicy(Protocol):
    """A routing policy replayed at many knob settings: one chosen catalog model per item per knob."""

    name: str

    def route(self, items: Sequence[ReplayItem], knobs: Sequence[float]) -> list[list[str]]: ...


def _input_tokens(trace: Trace, spec: ModelSpec) -> int:
    text = sum(count_tokens(m.text, spec.tokenizer) for m in trace.messages)
    return text + _PER_MESSAGE * len(trace.messages) + _PER_REQUEST


def build_items(
    traces: Sequence[Trace],
    models: Mapping[str, str],
    catalog: Catalog,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[ReplayItem]:
    """Price every trace on every mapped model ({catalog name: trace model name}).

    Raises `TraceError` for an outcome with neither `cost` nor `output_tokens`.
    """
    specs = {name: catalog.get(name) for name in models}
    rows: list[dict[str, tuple[float, Decimal | None, int, int | None]]] = []
    for index, trace in enumerate(traces):
        row = {}
        for name, trace_model in models.items():
            outcome = trace.outcomes[trace_model]
            if outcome.cost is None and outcome.output_tokens is None:
                raise TraceError(
                    f"outcome {trace_model!r} has neither cost nor output_tokens", line=trace.line
                )
            tokens = outcome.input_tokens
            if tokens is None:
                tokens = _input_tokens(trace, specs[name])
            row[name] = (outcome.score, outcome.cost, tokens, outcome.output_tokens)
        rows.append(row)
        if progress is not None and ((index + 1) % 500 == 0 or index + 1 == len(traces)):
            progress(index + 1, len(traces))
    typical = {}
    for name in models:
        known = [out for r in rows if (out := r[name][3]) is not None]
        typical[name] = int(statistics.median(known)) if known else 0
    items = []
    for trace, row in zip(traces, rows, strict=True):
        options = {}
        for name, (score, cost, tokens, out) in row.items():
            price = specs[name].price
            estimated = tokens * price.input_per_token + typical[name] * price.output_per_token
            if cost is None:
                cost = tokens * price.input_per_token + (out or 0) * price.output_per_token
            options[name] = Option(score, cost, tokens, estimated)
        items.append(ReplayItem(trace, options))
    return items


def point_of(
    items: Sequence[ReplayItem], choices: Sequence[str], *, strong: str, knob: float | None = None
) -> Point:
    """Mean quality, total cost and shares of one routing of every item."""
    quality = 0.0
    cost = Decimal(0)
    counts: dict[str, int] = {}
    for item, name in zip(items, choices, strict=True):
        option = item.options[name]
        quality += option.score
        cost += option.cost
        counts[name] = counts.get(name, 0) + 1
    n = len(items)
    shares = {name: counts.get(name, 0) / n for name in items[0].options}
    return Point(quality / n, cost, shares[strong], knob, shares)


def random_curve(cheap: Point, strong: Point, *, steps: int = 20) -> list[Point]:
    """Expected value of sending each call to the strong model with probability p (one sample is noise)."""
    points = []
    for i in range(steps + 1):
        p = i / steps
        dp = Decimal(i) / Decimal(steps)
        points.append(
            Point(
                quality=(1 - p) * cheap.quality + p * strong.quality,
                cost=cheap.cost + dp * (strong.cost - cheap.cost),
                strong_share=p,
                knob=p,
                shares={name: (1 - p) * cheap.shares.get(name, 0.0) + p * strong.shares.get(name, 0.0)
                        for name in dict.fromkeys([*cheap.shares, *strong.shares])},
            )
        )
    return points


def _hull(options: Mapping[str, Option]) -> list[tuple[str, Option]]:
    """Upper-left convex frontier of one item's (cost, score) options, cheapest first."""
    ordered = sorted(options.items(), key=lambda kv: (kv[1].cost, -kv[1].score))
    hull: list[tuple[str, Option]] = [ordered[0]]
    for name, option in ordered[1:]:
        if option.score <= hull[-1][1].score:
            continue
        while len(hull) >= 2:
            (_, a), (_, b) = hull[-2], hull[-1]
            # drop b when the step a->option is at least as steep as a->b
            if (b.score - a.score) * float(option.cost - a.cost) <= (option.score - a.score) * float(
                b.cost - a.cost
            ):
                hull.pop()
            else:
                break
        hull.append((name, option))
    return hull


def oracle_curve(items: Sequence[ReplayItem], *, strong: str, max_points: int = 2000) -> list[Point]:
    """The best any router could do knowing every outcome: upgrades by score gained per dollar."""
    n = len(items)
    choice: list[str] = []
    steps: list[tuple[float, int, str, float, Decimal]] = []
    for index, item in enumerate(items):
        hull = _hull(item.options)
        choice.append(hull[0][0])
        for (_, a), (name, b) in itertools.pairwise(hull):
            extra = b.cost - a.cost
            slope = float("inf") if extra <= 0 else (b.score - a.score) / float(extra)
            steps.append((slope, index, name, b.score - a.score, extra))
    steps.sort(key=lambda s: -s[0])
    counts: dict[str, int] = {}
    for name in choice:
        counts[name] = counts.get(name, 0) + 1
    quality = sum(item.options[c].score for item, c in zip(items, choice, strict=True))
    cost = sum((item.options[c].cost for item, c in zip(items, choice, strict=True)), Decimal(0))

    def snapshot() -> Point:
        shares = {name: counts.get(name, 0) / n for name in items[0].options}
        return Point(quality / n, cost, shares[strong], None, shares)

    points = [snapshot()]
    every = max(1, len(steps) // max_points)
    for k, (_, index, name, gain, extra) in enumerate(steps, start=1):
        counts[choice[index]] -= 1
        counts[name] = counts.get(name, 0) + 1
        choice[index] = name
        quality += gain
        cost += extra
        if k % every == 0 or k == len(steps):
            points.append(snapshot())
    return points
