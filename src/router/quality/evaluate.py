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
    cpt,
    point_at_quality,
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
from router.strategies import general_quality

__all__ = [
    "DEFAULT_KNOBS",
    "Curve",
    "EvalResult",
    "Summary",
    "check_mapped",
    "choose_ends",
    "evaluate_items",
    "run_eval",
]

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
    #: where the curve first reaches the target: quality, cost and share of calls per model
    at_target: Point | None = None


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
    #: trace model name -> traces with an outcome for it, for models not mapped (not evaluated)
    unmapped: Mapping[str, int] = field(default_factory=dict)
    #: "strong" / "cheap" -> how that model was chosen (given, or why it was picked)
    chosen: Mapping[str, str] = field(default_factory=dict)

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
            "unmapped": {"count": len(self.unmapped), "models": dict(self.unmapped)},
            "target": self.target,
            "strong": self.strong,
            "cheap": self.cheap,
            "chosen": dict(self.chosen),
            "baselines": {k: _point_json(p) for k, p in self.baselines.items()},
            "policies": {
                name: {
                    "apgr": _num(c.summary.apgr),
                    "cpt50": _num(c.summary.cpt50),
                    "cpt80": _num(c.summary.cpt80),
                    f"savings_at_{pct}": _num(c.summary.savings),
                    f"call_savings_at_{pct}": _num(c.summary.call_savings),
                    "cost_at_target": _money(c.summary.cost_at_target),
                    "at_target": None if c.summary.at_target is None
                    else _point_json(c.summary.at_target),
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
    at = point_at_quality(anchored, goal)
    return Summary(
        apgr=apgr(anchored, weak=weak.quality, strong=strong.quality),
        cpt50=cpt(anchored, 0.5, weak=weak.quality, strong=strong.quality),
        cpt80=cpt(anchored, 0.8, weak=weak.quality, strong=strong.quality),
        savings=None if at is None or strong.cost <= 0 else float(1 - at.cost / strong.cost),
        cost_at_target=None if at is None else at.cost,
        knob_at_target=min(reached, key=lambda p: p.cost).knob if reached else None,
        call_savings=None if share is None else 1.0 - share,
        at_target=at,
    )


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_mapped(role: str, name: str | None, names: Sequence[str],
                 models: Mapping[str, str] | None = None) -> None:
    """Raise `ConfigError` when `--strong`/`--cheap` names no mapped catalog model."""
    if name is None or name in names:
        return
    by_trace = {trace: catalog for catalog, trace in (models or {}).items()}
    hint = (f"; {name!r} is the traces' name for {by_trace[name]!r}: give the catalog name"
            if name in by_trace else f"; map it first with --model {name}=<trace model>")
    raise ConfigError(f"{name!r} is not one of the mapped models ({', '.join(names)}){hint}",
                      path=role)


def choose_ends(
    always: Mapping[str, Point],
    *,
    strength: Mapping[str, float],
    strong: str | None,
    cheap: str | None,
) -> tuple[str, str, dict[str, str]]:
    """The strong and cheap models, and how each was chosen.

    Strong: the best mean score; on a tie the one the catalog rates higher, then the costlier
    (a tie must not make the cheap model the reference, or every saving reads 0).
    Cheap: the lowest cost among the others.
    """
    names = list(always)
    why: dict[str, str] = {}
    if strong is None:
        pool = [m for m in names if m != cheap]
        top = max(always[m].quality for m in pool)
        tied = [m for m in pool if _same(always[m].quality, top)]
        strong = max(tied, key=lambda m: (strength.get(m, 0.0), always[m].cost))
        why["strong"] = f"best mean score, {top:.4g}"
        if len(tied) > 1:
            others = ", ".join(m for m in tied if m != strong)
            rated = len({strength.get(m, 0.0) for m in tied}) > 1
            why["strong"] += (f", tied with {others}: taken as the one the catalog rates higher"
                              if rated else f", tied with {others}: taken as the costlier one")
    else:
        why["strong"] = "given"
    if cheap is None:
        rest = [m for m in names if m != strong] or names
        cheap = min(rest, key=lambda m: (always[m].cost, -always[m].quality))
        why["cheap"] = "lowest cost"
    else:
        why["cheap"] = "given"
    if strong == cheap:
        raise ConfigError(f"the strong and the cheap model are both {strong!r}; name two "
                          "different mapped models", path="cheap")
    return strong, cheap, why


def _reporter(progress: Progress | None, stage: str, base: int, total: int
              ) -> Callable[..., None] | None:
    """`progress` for one policy's share of a stage: (done[, its own total]) -> overall."""
    if progress is None:
        return None
    return lambda done, *_: progress(stage, base + done, total)


def _routes(policy: ReplayPolicy, items: Sequence[ReplayItem], knobs: Sequence[float],
            report: Callable[..., None] | None) -> list[list[str]]:
    """Replay `policy` at every knob, in chunks so that progress can be shown."""
    if report is None:
        return policy.route(items, knobs)
    step = max(1, math.ceil(len(knobs) / 40))
    routes: list[list[str]] = []
    for start in range(0, len(knobs), step):
        routes.extend(policy.route(items, knobs[start:start + step]))
        report(min(start + step, len(knobs)))
    return routes


def evaluate_items(
    items: Sequence[ReplayItem],
    *,
    policies: Sequence[ReplayPolicy],
    knobs: Sequence[float] = DEFAULT_KNOBS,
    strong: str | None = None,
    cheap: str | None = None,
    target: float = 0.95,
    skipped: tuple[BadLine, ...] = (),
    unmapped: Mapping[str, int] | None = None,
    strength: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Replay priced items. `strong` defaults to the best mean score (ties: the higher
    `strength`, e.g. catalog quality, then the costlier), `cheap` to the lowest cost of the rest.

    `progress(stage, done, total)`: "predict" (policies with a `prepare(items, progress=...)`
    method) and "replay" (knob settings done, over all policies).
    """
    names = list(items[0].options)
    check_mapped("strong", strong, names)
    check_mapped("cheap", cheap, names)
    always = {name: point_of(items, [name] * len(items), strong=names[0]) for name in names}
    strong, cheap, chosen = choose_ends(always, strength=strength or {}, strong=strong,
                                        cheap=cheap)
    always = {name: point_of(items, [name] * len(items), strong=strong) for name in names}
    weak_point, strong_point = always[cheap], always[strong]
    curves: dict[str, list[Point]] = {
        "random": random_curve(weak_point, strong_point),
        "oracle": oracle_curve(items, strong=strong),
    }
    # `prepare` is optional (not in the protocol): a policy's slow once-per-item work.
    preparing = [prep for p in policies if callable(prep := getattr(p, "prepare", None))]
    for index, prepare in enumerate(preparing):
        prepare(items, progress=_reporter(progress, "predict", index * len(items),
                                          len(preparing) * len(items)))
    for index, policy in enumerate(policies):
        routes = _routes(policy, items, knobs, _reporter(progress, "replay", index * len(knobs),
                                                         len(policies) * len(knobs)))
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
        unmapped=dict(unmapped or {}),
        chosen=chosen,
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
    unless `skip_bad`; skipped lines are listed in the result, never dropped silently, and so
    are the models the traces name but `models` does not map (`unmapped`).
    `progress(stage, done, total)` is called while reading ("read", total 0: unknown),
    pricing ("price"), predicting ("predict") and replaying the knob settings ("replay").
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
    check_mapped("strong", strong, list(models), models)
    check_mapped("cheap", cheap, list(models), models)
    skipped: tuple[BadLine, ...] = ()
    unmapped: Mapping[str, int] = {}
    if isinstance(traces, Sequence) and not isinstance(traces, str) and (
        not traces or isinstance(traces[0], Trace)
    ):
        loaded = [t for t in traces if isinstance(t, Trace)]
        mapped = set(models.values())
        counts: dict[str, int] = {}
        for trace in loaded:
            for name in trace.outcomes:
                if name not in mapped:
                    counts[name] = counts.get(name, 0) + 1
        unmapped = dict(sorted(counts.items()))
    else:
        read = read_traces(
            traces,  # type: ignore[arg-type]
            models=list(models.values()),
            skip_bad=skip_bad,
            progress=None if progress is None else lambda done: progress("read", done, 0),
        )
        loaded, skipped, unmapped = list(read.traces), read.skipped, read.unmapped
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
        unmapped=unmapped,
        strength={name: general_quality(catalog.get(name)) for name in models},
        progress=progress,
    )
