"""Calibration: the `min_quality` setting that keeps a target share of the strong model's quality
on a user's own traces, found by replaying them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from router.catalog import Catalog, builtin_catalog
from router.errors import ConfigError
from router.quality.evaluate import DEFAULT_KNOBS, check_models, check_target, evaluate_items
from router.quality.predictor import Predictor
from router.quality.replay import ReplayItem, build_items, point_of
from router.quality.strategy import QualityReplay, QualityStrategy
from router.quality.traces import Trace, check_scores, read_traces
from router.strategies import general_quality

__all__ = ["LOWEST", "RESOLUTION", "calibrate"]

#: calibrate() returns a multiple of this: finer than any difference a person would set.
RESOLUTION = 0.0001

#: the lowest `min_quality` there is (`QualityStrategy` takes 0 to 1)
LOWEST = 0.0


def _load(traces: str | Path | Iterable[str] | Sequence[Trace], models: Mapping[str, str],
          catalog: Catalog, skip_bad: bool) -> list[ReplayItem]:
    if isinstance(traces, Sequence) and not isinstance(traces, str) and (
        not traces or isinstance(traces[0], Trace)
    ):
        loaded, _, _ = check_scores([t for t in traces if isinstance(t, Trace)],
                                    list(models.values()), skip_bad=skip_bad)
    else:
        loaded = list(read_traces(traces,  # type: ignore[arg-type]
                                  models=list(models.values()), skip_bad=skip_bad).traces)
    return build_items(loaded, models, catalog)


def calibrate(
    traces: str | Path | Iterable[str] | Sequence[Trace],
    *,
    models: Mapping[str, str],
    target: float = 0.95,
    reference_tokens: int | None = 1000,
    predictor: str | Predictor | None = None,
    catalog: Catalog | None = None,
    knobs: Sequence[float] = DEFAULT_KNOBS,
    skip_bad: bool = False,
) -> float:
    """The cheapest `min_quality` whose replay keeps `target` of the strongest model's mean score.

    The shipped knob map makes `min_quality=0.95` keep about 95% on the training benchmarks;
    on your traffic the share kept may differ, and this returns the setting that keeps `target`.
    It replays `knobs` first, then bisects between the last setting that misses the target and
    the first that reaches it, down to `RESOLUTION` (a setting costs more the higher it is, so
    the lowest one that reaches the target is the cheapest).

    When the cheapest routing already reaches the target, that is the lowest setting, 0.0.

    `models` maps catalog names to the traces' model names, as in `run_eval`; the traces are
    checked as there (`TraceError`, `ScoreError`). Raises `ConfigError` naming `target` when it
    is not more than 0 and at most 1, and when no setting reaches the target (the strongest
    model alone always does, so this means the traces' best model is not among those mapped).
    """
    check_target(target)
    catalog = catalog or builtin_catalog()
    check_models(models, catalog)
    items = _load(traces, models, catalog, skip_bad)
    policy: QualityReplay = QualityStrategy(
        reference_tokens=reference_tokens, predictor=predictor, catalog=catalog
    ).replay_policy()
    coarse = sorted(set(knobs))
    result = evaluate_items(items, policies=[policy], knobs=coarse, target=target,
                            strength={m: general_quality(catalog.get(m)) for m in models},
                            source=str(traces) if isinstance(traces, str | Path) else "")
    goal = target * result.baselines[f"always:{result.strong}"].quality
    quality = {p.knob: p.quality for p in result.curves[policy.name].points}
    reached = [k for k in coarse if quality[k] >= goal]
    if not reached:
        raise ConfigError(
            f"no min_quality setting reaches {target:.0%} of {result.strong}'s quality on these "
            "traces; try a lower target",
            path="target",
        )

    def reaches(step: int) -> bool:
        knob = round(step * RESOLUTION, 6)
        [route] = policy.route(items, [knob])
        return point_of(items, route, strong=result.strong).quality >= goal

    first = reached[0]
    below = [k for k in coarse if k < first]
    if not below and (first <= LOWEST or reaches(0)):
        return LOWEST  # the cheapest routing already keeps the target
    lo = math.floor((below[-1] if below else LOWEST) / RESOLUTION + 1e-9)
    hi = math.ceil(first / RESOLUTION - 1e-9)
    # Bisection on the replayed quality: lo misses, hi reaches.
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid
    return round(hi * RESOLUTION, 6)
