from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

import pytest

from router.messages import build_request
from router.quality.features import DENSE_FEATURES, FAMILIES, extract
from router.quality.predictor import KnobMap, QualityPredictor, default_predictor
from router.quality.tasks import TaskType, classify
from router.types import ImagePart, Message, TextPart


def test_shipped_weights_are_small_and_match_the_features() -> None:
    raw = resources.files("router.quality").joinpath("weights.json").read_text("utf-8")
    assert len(raw) < 100_000
    weights = json.loads(raw)
    assert tuple(weights["dense"]) == DENSE_FEATURES
    assert set(weights["families"]) == set(FAMILIES)


def test_prediction_is_deterministic_and_relative_to_its_family() -> None:
    request = build_request("What is 17 * 23? Show your steps.")
    first = default_predictor().predict(request)
    assert first.advantage > 0.0
    assert first.relative > 0.0
    assert first.family in FAMILIES
    assert first == default_predictor().predict(request)
    mc = default_predictor().predict(build_request("Which?\nA. x\nB. y\nC. z\nD. w\nAnswer:"))
    assert mc.family == "mc"


def test_retrained_features_are_refused() -> None:
    with pytest.raises(Exception, match="retrain"):
        QualityPredictor({"format": 2, "dense": ["bias"], "families": {}, "knob_map": [[0.9, 0.1]]})
    with pytest.raises(Exception, match="retrain"):  # the first format
        QualityPredictor({"dense": list(DENSE_FEATURES), "buckets": 0, "base_rate": 0.2})


def test_knob_map_interpolates_and_clamps() -> None:
    knob = KnobMap([[0.8, 1.0], [0.9, 0.5], [1.0, 0.1]])
    assert knob.tolerance_for(0.5) == 1.0
    assert knob.tolerance_for(0.85) == pytest.approx(0.75)
    assert knob.tolerance_for(0.999) == pytest.approx(0.104)
    assert knob.tolerance_for(1.0) == 0.0


def test_decision_takes_well_under_a_millisecond() -> None:
    request = build_request("Janet's ducks lay 16 eggs per day. " * 10)
    predictor = default_predictor()
    predictor.predict(request)
    start = time.perf_counter()
    for _ in range(200):
        predictor.predict(request)
    assert (time.perf_counter() - start) / 200 < 0.002  # loose: CI machines vary


def user(text: str, **kw: Any) -> tuple[Message, ...]:
    return (Message("user", (TextPart(text), *kw.get("images", ()))),)


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("Write a Python function `def add(a, b):` that returns a + b.\n```python\n```", "code"),
        ("请用中文解释一下量子纠缠是什么意思，以及它为什么重要。", "multilingual"),
        ("Compose a short poem about autumn leaves.", "writing"),
        ("A shop sells 3 apples for $2. How many dollars do 12 apples cost?", "maths"),
        ("Which planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth\nAnswer:", "knowledge"),
    ],
)
def test_task_types(text: str, task: str) -> None:
    assert classify(extract(user(text))) is TaskType(task)


def test_image_requests_are_image_tasks() -> None:
    messages = user("What is in this picture?", images=(ImagePart("https://x/y.png"),))
    assert classify(extract(messages)) is TaskType.IMAGE


def test_gsm8k_reads_as_maths(gsm8k_rows: list[dict[str, Any]]) -> None:
    tasks = [classify(extract(user(r["messages"][0]["content"]))) for r in gsm8k_rows[:300]]
    assert sum(t is TaskType.MATHS for t in tasks) / len(tasks) > 0.7
