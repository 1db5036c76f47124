"""The replay evaluator: a router policy against always-strong, always-cheap, random and oracle.

`run_eval` is what `router eval TRACES.jsonl --model gpt-4o=<trace model> ...` wraps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from router.catalog import Catalog, builtin_catalog
from router.errors import ConfigError
from router.quality.metrics import (
    Point,
    apgr,
    cost_at_quality,
    cpt,
    savings_at,
    share_at_quality,
)
from router.quality.replay import (
    ReplayItem,
    ReplayPolicy,
    build_items,
    oracle_curve,
    point_of,
    random_curve,
)
from router.quality.traces import BadLine, Trace, read_traces

__all__ = ["DEFAULT_KNOBS", "Curve", "EvalResult", "Summary", "evaluate_items", "run_eval"]

#: min_quality settings swept by default: dense where the trade-off happens.
DEFAULT_KNOBS: tuple[float, ...] = tuple(
    sorted({round(0.5 + i * 0.01, 3) for i in range(51)} | {round(0.9 + i * 0.0025, 4) for i in range(41)})
)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Summary:
    """Metrics of one policy's curve. Shares are 0-1; `None` when the curve never gets there."""

    apgr: float
    cpt50: float | None
    cpt80: float | None
    savings: float | None
    cost_at_target: Decimal | None
    knob_at_target: float | None = None
    #: RouteLLM's own measure: 1 - share of calls to the strong model at the target quality
    call_savings: float | None = None


@dataclass(frozen=True, slots=True)
class Curve:
    policy: str
    points: tuple[Point, ...]
    summary: Summary


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Everything a report needs; `to_json()` is what `router eval --json` prints."""

    n: int
    target: float
    strong: str
    cheap: str
    baselines: Mapping[str, Point]
    curves: Mapping[str, Curve]
    router: str
    skipped: tuple[BadLine, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        pct = round(self.target * 100)
        mine = self.curves[self.router].summary
        out: dict[str, Any] = {
            "apgr": _num(mine.apgr),
            f"savings_at_{pct}": _num(mine.savings),
            "cpt50": _num(mine.cpt50),
            "cpt80": _num(mine.cpt80),
            f"random_savings_at_{pct}": _num(self.curves["random"].summary.savings),
            f"oracle_savings_at_{pct}": _num(self.curves["oracle"].summary.savings),
            f"call_savings_at_{pct}": _num(mine.call_savings),
            "knob_at_target": mine.knob_at_target,
            "n": self.n,
            "skipped": [{"line": b.line, "reason": b.reason} for b in self.skipped],
            "target": self.target,
            "strong": self.strong,
            "cheap": self.cheap,
            "baselines": {k: _point_json(p) for k, p in self.baselines.items()},
            "policies": {
                name: {
                    "apgr": _num(c.summary.apgr),
                    "cpt50": _num(c.summary.cpt50),
                    "cpt80": _num(c.summary.cpt80),
                    f"savings_at_{pct}": _num(c.summary.savings),
                    f"call_savings_at_{pct}": _num(c.summary.call_savings),
                    "cost_at_target": _money(c.summary.cost_at_target),
                    "points": [_point_json(p) for p in c.points],
                }
                for name, c in self.curves.items()
            },
        }
        return out


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(Decimal("1e-9")).normalize(), "f")


def _point_json(p: Point) -> dict[str, Any]:
    return {
        "knob": p.knob,
        "quality": round(p.quality, 6),
        "cost": _money(p.cost),
        "shares": {k: round(v, 6) for k, v in p.shares.items()},
    }


def _summarise(
    points: Sequence[Point], *, weak: Point, strong: Point, target: float
) -> Summary:
    goal = target * strong.quality
    # Like RouteLLM's thresholds, every curve spans all-cheap to all-strong.
    anchored = [weak, *points, strong]
    reached = [p for p in points if p.quality >= goal and p.knob is not None]
    share = share_at_quality(anchored, goal)
    return Summary(
        apgr=apgr(anchored, weak=weak.quality, strong=strong.quality),
        cpt50=cpt(anchored, 0.5, weak=weak.quality, strong=strong.quality),
        cpt80=cpt(anchored, 0.8, weak=weak.quality, strong=strong.quality),
        savings=savings_at(anchored, goal, strong_cost=strong.cost),
        cost_at_target=cost_at_quality(anchored, goal),
        knob_at_target=min(reached, key=lambda p: p.cost).knob if reached else None,
        call_savings=None if share is None else 1.0 - share,
    )


def evaluate_items(
    items: Sequence[ReplayItem],
    *,
    policies: Sequence[ReplayPolicy],
    knobs: Sequence[float] = DEFAULT_KNOBS,
    strong: str | None = None,
    cheap: str | None = None,
    target: float = 0.95,
    skipped: tuple[BadLine, ...] = (),
) -> EvalResult:
    """Replay priced items; `strong` defaults to the best mean score, `cheap` to the lowest cost."""
    names = list(items[0].options)
    always = {name: point_of(items, [name] * len(items), strong=names[0]) for name in names}
    strong = strong or max(names, key=lambda m: (always[m].quality, -always[m].cost))
    cheap = cheap or min(names, key=lambda m: (always[m].cost, -always[m].quality))
    always = {name: point_of(items, [name] * len(items), strong=strong) for name in names}
    weak_point, strong_point = always[cheap], always[strong]
    curves: dict[str, list[Point]] = {
        "random": random_curve(weak_point, strong_point),
        "oracle": oracle_curve(items, strong=strong),
    }
    for policy in policies:
        routes = policy.route(items, knobs)
        curves[policy.name] = [
            point_of(items, choice, strong=strong, knob=knob)
            for knob, choice in zip(knobs, routes, strict=True)
        ]
    return EvalResult(
        n=len(items),
        target=target,
        strong=strong,
        cheap=cheap,
        baselines={f"always:{name}": point for name, point in always.items()},
        curves={
            name: Curve(
                name,
                tuple(points),
                _summarise(points, weak=weak_point, strong=strong_point, target=target),
            )
            for name, points in curves.items()
        },
        router=policies[0].name if policies else "oracle",
        skipped=skipped,
    )


def run_eval(
    traces: str | Path | Iterable[str] | Sequence[Trace],
    *,
    models: Mapping[str, str],
    knobs: Sequence[float] = DEFAULT_KNOBS,
    policies: Sequence[ReplayPolicy] | None = None,
    catalog: Catalog | None = None,
    strong: str | None = None,
    cheap: str | None = None,
    target: float = 0.95,
    skip_bad: bool = False,
    progress: Progress | None = None,
) -> EvalResult:
    """Replay a trace file with `models` = {catalog name: trace model name} (two or more).

    `policies` default to the quality strategy's replay policy. Bad lines raise `TraceError`
    unless `skip_bad`; skipped lines are listed in the result, never dropped silently.
    `progress(stage, done, total)` is called while reading and pricing.
    """
    if len(models) < 2:
        raise ConfigError("map at least two catalog models to trace models", path="models")
    catalog = catalog or builtin_catalog()
    unknown = [name for name in models if name not in catalog.models]
    if unknown:
        raise ConfigError(
            f"unknown catalog model(s) {', '.join(unknown)}; known: {', '.join(catalog.models)}",
            path="models",
        )
    skipped: tuple[BadLine, ...] = ()
    if isinstance(traces, Sequence) and not isinstance(traces, str) and (
        not traces or isinstance(traces[0], Trace)
    ):
        loaded = [t for t in traces if isinstance(t, Trace)]
    else:
        read = read_traces(
            traces,  # type: ignore[arg-type]
            models=list(models.values()),
            skip_bad=skip_bad,
            progress=None if progress is None else lambda done: progress("read", done, 0),
        )
        loaded, skipped = list(read.traces), read.skipped
    items = build_items(
        loaded,
        models,
        catalog,
        progress=None if progress is None else lambda d, t: progress("price", d, t),
    )
    if policies is None:
        from router.quality.strategy import QualityStrategy

        policies = [QualityStrategy(catalog=catalog).replay_policy()]
    return evaluate_items(
        items,
        policies=policies,
        knobs=knobs,
        strong=strong,
        cheap=cheap,
        target=target,
        skipped=skipped,
    )
