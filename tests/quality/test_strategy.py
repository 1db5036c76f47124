from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.quality.conftest import MODELS

from router.catalog import builtin_catalog
from router.errors import ConfigError
from router.quality.calibrate import calibrate
from router.quality.evaluate import run_eval
from router.quality.predictor import Prediction
from router.quality.strategy import QualityStrategy, choose
from router.quality.tasks import TaskType

CATALOG = builtin_catalog()
SPECS = [CATALOG.get(n) for n in ("gpt-4o", "gpt-4o-mini", "mistral-nemo")]


def pick(relative: float, q: float, tokens: int = 1000, task: TaskType = TaskType.KNOWLEDGE,
         reference: int | None = 1000) -> str:
    prediction = Prediction(0.2 * relative, relative, task)
    index = choose(prediction, SPECS, [tokens] * 3, min_quality=q, reference_tokens=reference).index
    return SPECS[index].name


def test_the_knob_runs_from_best_to_cheapest() -> None:
    assert pick(1.0, 1.0) == "gpt-4o"
    assert pick(1.0, 0.0) == "mistral-nemo"
    # mmlu: mini is 7.6% behind gpt-4o, nemo 23% behind: 0.9 takes mini on an average prompt
    assert pick(1.0, 0.9) == "gpt-4o-mini"


def test_harder_prompts_go_to_stronger_models() -> None:
    assert pick(0.3, 0.95) == "gpt-4o-mini"
    assert pick(3.0, 0.95) == "gpt-4o"


def test_bigger_requests_accept_more_shortfall_for_the_saving() -> None:
    assert pick(1.0, 0.95, tokens=500) == "gpt-4o"
    assert pick(1.0, 0.95, tokens=20_000) != "gpt-4o"
    assert pick(1.0, 0.95, tokens=20_000, reference=None) == "gpt-4o"


def test_bad_knob_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="min_quality"):
        QualityStrategy(min_quality=95)


def test_router_uses_the_strategy(make_router: Any) -> None:
    router = make_router()
    decision = router.route("Prove that sqrt(2) is irrational.", strategy=QualityStrategy(min_quality=1.0))
    assert decision.model == "gpt-4o"
    assert any(note.startswith("quality: task") for note in decision.notes)
    cheap = router.route("Say hi.", strategy=QualityStrategy(min_quality=0.0))
    assert cheap.model in ("gpt-4o-mini", "mistral-nemo")
    # fallbacks never trade quality down: the best-expected candidates follow the choice
    assert decision.candidates[0].model == "gpt-4o"


def test_calibrate_finds_a_setting_that_meets_the_target(gsm8k_file: Path) -> None:
    knob = calibrate(gsm8k_file, models=MODELS, target=0.95)
    result = run_eval(gsm8k_file, models=MODELS, knobs=(knob,))
    point = result.curves["quality"].points[0]
    assert point.quality >= 0.95 * result.baselines["always:gpt-4o"].quality
    with pytest.raises(ConfigError, match="lower target"):
        calibrate(gsm8k_file, models=MODELS, target=1.5)
