"""Calibration: the `min_quality` setting that keeps a target share of the strong model's quality
on a user's own traces, found by replaying them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from router.catalog import Catalog
from router.errors import ConfigError
from router.quality.evaluate import DEFAULT_KNOBS, run_eval
from router.quality.predictor import Predictor
from router.quality.strategy import QualityStrategy
from router.quality.traces import Trace

__all__ = ["calibrate"]


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

    `models` maps catalog names to the traces' model names, as in `run_eval`. Raises
    `ConfigError` when no setting reaches the target (the strongest model alone always does,
    so this means the traces' best model is not among those mapped).
    """
    strategy = QualityStrategy(
        reference_tokens=reference_tokens, predictor=predictor, catalog=catalog
    )
    result = run_eval(
        traces,
        models=models,
        knobs=knobs,
        policies=[strategy.replay_policy()],
        catalog=catalog,
        target=target,
        skip_bad=skip_bad,
    )
    knob = result.curves["quality"].summary.knob_at_target
    if knob is None:
        raise ConfigError(
            f"no min_quality setting reaches {target:.0%} of {result.strong}'s quality on these "
            "traces; try a lower target",
            path="target",
        )
    return knob
