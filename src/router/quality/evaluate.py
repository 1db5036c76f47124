"""The replay evaluator: a router policy against always-strong, always-cheap, random and oracle.

`run_eval` is what `router eval TRACES.jsonl --model gpt-4o=<trace model> ...` wraps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from router.catalog import Catalog, builtin_catalog
from router.errors import ConfigError
from router.quality.eval_result import REFERENCE_TARGET, Curve, EvalResult, Summary, summarise
from router.quality.metrics import (
    Point,
)
from router.quality.replay import (
    ReplayItem,
    ReplayPolicy,
    build_items,
    oracle_curve,
    point_of,
    random_curve,
)
from router.quality.traces import BadLine, ScoreError, Trace, check_scores, read_traces
from router.strategies import general_quality

__all__ = [
    "DEFAULT_KNOBS",
    "REFERENCE_TARGET",
    "Curve",
    "EvalResult",
    "Summary",
    "check_mapped",
    "check_models",
    "check_target",
    "choose_ends",
    "evaluate_items",
    "run_eval",
]

#: min_quality settings swept by default: dense where the trade-off happens.
DEFAULT_KNOBS: tuple[float, ...] = tuple(
    sorted({round(0.5 + i * 0.01, 3) for i in range(51)} | {round(0.9 + i * 0.0025, 4) for i in range(41)})
)


Progress = Callable[[str, int, int], None]


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_target(target: float) -> None:
    """Raise `ConfigError` unless `target` is a valid share of quality: 0 < target <= 1."""
    if isinstance(target, bool) or not isinstance(target, int | float) \
            or not math.isfinite(target) or not 0 < target <= 1:
        raise ConfigError(
            f"must be a share of the strong model's quality, more than 0 and at most 1 (0.95 "
            f"keeps 95%), got {target!r}" + ("; give a lower target"
                                             if isinstance(target, int | float) and target > 1
                                             else ""),
            path="target",
        )


def check_models(models: Mapping[str, str], catalog: Catalog) -> None:
    """Raise `ConfigError` unless `models` maps two or more known catalog models, each to a
    different trace model (two names for one model's outcomes would compare it with itself)."""
    if len(models) < 2:
        raise ConfigError("map at least two catalog models to trace models", path="models")
    unknown = [name for name in models if name not in catalog.models]
    if unknown:
        raise ConfigError(
            f"unknown catalog model(s) {', '.join(unknown)}; known: {', '.join(catalog.models)}",
            path="models",
        )
    by_trace: dict[str, str] = {}
    for name, trace_name in models.items():
        if trace_name in by_trace:
            raise ConfigError(
                f"{by_trace[trace_name]!r} and {name!r} are both mapped to the trace model "
                f"{trace_name!r}; map each catalog model to a different one (the comparison "
                "would be meaningless)",
                path="models",
            )
        by_trace[trace_name] = name


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
    source: str = "",
    scale: float | None = None,
) -> EvalResult:
    """Replay priced items. `strong` defaults to the best mean score (ties: the higher
    `strength`, e.g. catalog quality, then the costlier), `cheap` to the lowest cost of the rest.

    `progress(stage, done, total)`: "predict" (policies with a `prepare(items, progress=...)`
    method) and "replay" (knob settings done, over all policies).
    Raises `ScoreError` (naming `source`, the trace file) when the strong model's mean score is
    0 or less: a share of it would mean nothing.
    """
    check_target(target)
    if not items:
        raise ConfigError("no trace to replay", path="traces")
    names = list(items[0].options)
    check_mapped("strong", strong, names)
    check_mapped("cheap", cheap, names)
    always = {name: point_of(items, [name] * len(items), strong=names[0]) for name in names}
    strong, cheap, chosen = choose_ends(always, strength=strength or {}, strong=strong,
                                        cheap=cheap)
    always = {name: point_of(items, [name] * len(items), strong=strong) for name in names}
    weak_point, strong_point = always[cheap], always[strong]
    if not strong_point.quality > 0:
        raise ScoreError(
            f"the strong model {strong!r} has a mean score of {strong_point.quality:g} on these "
            f"traces, so {round(target * 100, 4):g}% of its quality means nothing; scores must be 0 or more, "
            "higher is better, and the strong model's must not all be 0", source=source)
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
                summarise(points, weak=weak_point, strong=strong_point, target=target),
                summarise(points, weak=weak_point, strong=strong_point,
                           target=REFERENCE_TARGET),
            )
            for name, points in curves.items()
        },
        router=policies[0].name if policies else "oracle",
        skipped=skipped,
        unmapped=dict(unmapped or {}),
        chosen=chosen,
        scale=scale,
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

    Scores must be 0 or more and on one scale, inferred from the mapped models' scores
    (`router.quality.traces.score_scale`: [0, 1], [0, 10], [0, 100]...); a line with a score off
    it raises `ScoreError` unless `skip_bad`, and so does a strong model whose mean score is 0.
    `target` must be more than 0 and at most 1 (`ConfigError`).
    """
    check_target(target)
    catalog = catalog or builtin_catalog()
    check_models(models, catalog)
    check_mapped("strong", strong, list(models), models)
    check_mapped("cheap", cheap, list(models), models)
    skipped: tuple[BadLine, ...] = ()
    unmapped: Mapping[str, int] = {}
    source = str(traces) if isinstance(traces, str | Path) else ""
    if isinstance(traces, Sequence) and not isinstance(traces, str) and (
        not traces or isinstance(traces[0], Trace)
    ):
        loaded, bad, scale = check_scores([t for t in traces if isinstance(t, Trace)],
                                          list(models.values()), skip_bad=skip_bad)
        skipped = tuple(bad)
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
        scale = read.scale
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
        source=source,
        scale=scale,
    )
