"""The `min_quality` knob: monotone, fine-grained, and meaning what it says on the data it was
measured on (scripts/train_quality.py builds it; the shipped weights carry it)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.quality.conftest import MODELS, _script

from router.errors import ConfigError
from router.quality.calibrate import LOWEST, calibrate
from router.quality.evaluate import run_eval
from router.quality.features import FAMILIES
from router.quality.predictor import default_predictor
from router.quality.strategy import TOLERANCE_SWEEP


@pytest.fixture(scope="module")
def trainer() -> ModuleType:
    pytest.importorskip("numpy")
    return _script("train_quality")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_shipped_knob_is_monotone_and_fine(family: str) -> None:
    knob = default_predictor().knob_maps[family]
    steps = list(itertools.pairwise(knob.quality[1:]))
    assert all(0 < b - a <= 0.001 + 1e-9 for a, b in steps)
    assert knob.quality[-1] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(knob.tolerance))
    # every step of a setting a person would make changes the tolerance
    settings = [0.90, 0.93, 0.95, 0.97, 0.98, 0.99]
    tolerances = [knob.tolerance_for(q) for q in settings]
    assert all(a > b for a, b in itertools.pairwise(tolerances)), dict(zip(settings, tolerances,
                                                                          strict=True))


def test_the_sweep_is_fine() -> None:
    ratios = [b / a for a, b in itertools.pairwise(TOLERANCE_SWEEP[1:])]
    assert max(ratios) <= 1.05
    assert TOLERANCE_SWEEP[0] == 0.0


def test_knob_map_interpolates_between_measured_tolerances(trainer: ModuleType) -> None:
    pairs = trainer.knob_map([0.0, 0.1, 0.2, 0.3, 0.4], [1.0, 0.99, 0.96, 0.97, 0.90])
    knob = dict((q, t) for q, t in pairs[1:])
    assert pairs[0] == [0.89, 0.4]  # below always-cheap: the largest tolerance
    assert knob[0.99] == pytest.approx(0.1)
    assert knob[0.975] == pytest.approx(0.15)  # halfway between 0.99 at 0.1 and 0.96 at 0.2
    # 0.97 at 0.3 is not counted: a larger tolerance never keeps more
    assert knob[0.96] == pytest.approx(0.3)
    assert knob[0.93] == pytest.approx(0.35)
    assert len(pairs) == 1 + 101
    assert [q for q, _ in pairs[1:]] == sorted(q for q, _ in pairs[1:])


def test_refine_measures_finely_where_the_share_moves(trainer: ModuleType) -> None:
    calls: list[int] = []

    def curve(tolerances: Any) -> list[float]:
        calls.append(len(tolerances))
        return [1.0 - 0.02 * min(1.0, max(0.0, (t - 0.1) / 0.05)) if t < 0.1234
                else 0.8 for t in tolerances]

    ts, kept = trainer.refine(curve, [0.0, 0.05, 0.1, 0.2, 0.4])
    assert ts == sorted(ts)
    assert all(abs(a - b) <= trainer.KNOB_STEP or (tb - ta) <= trainer.MIN_GAP * tb
               for (ta, a), (tb, b) in itertools.pairwise(zip(ts, kept, strict=True)))
    jump = [(ta, tb) for (ta, a), (tb, b) in itertools.pairwise(zip(ts, kept, strict=True))
            if abs(a - b) > 0.1]
    assert len(jump) == 1
    assert jump[0][0] < 0.1234 <= jump[0][1]
    assert len(ts) < 100


def test_min_quality_keeps_what_it_says_on_the_training_split(data_root: Path,
                                                              converter: ModuleType) -> None:
    """MMLU is all multiple choice: the mc knob map was measured on its train split."""
    rows = converter.convert(data_root, "mmlu", split="train")
    lines = [json.dumps(r) for r in rows]
    result = run_eval(lines, models=MODELS, knobs=(0.9, 0.95, 0.98))
    strong = result.baselines["always:gpt-4o"].quality
    kept = [p.quality / strong for p in result.curves["quality"].points]
    assert kept == pytest.approx([0.9, 0.95, 0.98], abs=0.0025)


def _equal_traces(tmp_path: Path) -> Path:
    """Both models right on every prompt: the cheap one alone keeps 100%."""
    path = tmp_path / "equal.jsonl"
    path.write_text("".join(json.dumps({
        "id": str(i), "messages": [{"role": "user", "content": f"What is {i} + {i}?"}],
        "outcomes": {name: {"score": 1.0, "output_tokens": 20} for name in MODELS.values()},
    }) + "\n" for i in range(12)))
    return path


def test_calibrate_returns_the_lowest_setting_when_the_cheap_model_already_meets_it(
        tmp_path: Path) -> None:
    assert calibrate(_equal_traces(tmp_path), models=MODELS, target=0.95) == LOWEST == 0.0


@pytest.mark.parametrize("target", [-1, 0, 1.01, float("inf")])
def test_calibrate_refuses_a_target_that_is_not_a_share(tmp_path: Path, target: float) -> None:
    with pytest.raises(ConfigError, match=r"^target: must be a share of the strong model's "
                                          r"quality, more than 0 and at most 1"):
        calibrate(_equal_traces(tmp_path), models=MODELS, target=target)


def test_calibrate_checks_the_mapping_like_run_eval(tmp_path: Path) -> None:
    strong = MODELS["gpt-4o"]
    with pytest.raises(ConfigError, match="both mapped to the trace model"):
        calibrate(_equal_traces(tmp_path), models={"gpt-4o": strong, "gpt-4o-mini": strong})
