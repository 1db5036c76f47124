"""The quality predictor: a small logistic model over cheap features, weights shipped as JSON.

It estimates, from the request alone, the probability that a strong model answers better than a
cheap one (`p_strong_better`); `1 - p_strong_better` is the chance the cheap model does as well.
Weights come from `scripts/train_quality.py`; loading them reads one packaged file, nothing else.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from router.errors import ConfigError
from router.quality.features import DENSE_FEATURES, extract
from router.quality.tasks import TaskType, classify
from router.types import Message, Request

__all__ = ["Prediction", "QualityPredictor", "default_predictor"]

WEIGHTS_FILE = "weights.json"


@dataclass(frozen=True, slots=True)
class Prediction:
    """`p_strong_better`: chance a strong model beats a cheap one here; `relative` = it / average."""

    p_strong_better: float
    relative: float
    task: TaskType

    @property
    def p_cheap_ok(self) -> float:
        return 1.0 - self.p_strong_better


class QualityPredictor:
    """Logistic regression over standardised dense features plus hashed words."""

    def __init__(self, weights: Mapping[str, Any]) -> None:
        names = tuple(weights["dense"])
        if names != DENSE_FEATURES:
            raise ConfigError(
                "quality weights were trained on other features; retrain with "
                "scripts/train_quality.py",
                path="quality.weights",
            )
        self.buckets = int(weights["buckets"])
        self._mean = tuple(float(v) for v in weights["mean"])
        self._scale = tuple(float(v) or 1.0 for v in weights["scale"])
        self._dense = tuple(float(v) for v in weights["weights"])
        self._words = {int(k): float(v) for k, v in weights.get("words", {}).items()}
        self.base_rate = float(weights["base_rate"])
        self.meta: Mapping[str, Any] = weights.get("meta", {})

    @classmethod
    def from_file(cls, path: str) -> QualityPredictor:
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def predict_messages(
        self, messages: Sequence[Message], *, tools: int = 0, json_output: bool = False
    ) -> Prediction:
        features = extract(messages, buckets=self.buckets, tools=tools, json_output=json_output)
        z = 0.0
        for value, mean, scale, weight in zip(
            features.dense, self._mean, self._scale, self._dense, strict=True
        ):
            z += weight * (value - mean) / scale
        words = self._words
        for bucket in features.words:
            z += words.get(bucket, 0.0)
        p = 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0
        return Prediction(p, p / self.base_rate if self.base_rate > 0 else 1.0, classify(features))

    def predict(self, request: Request) -> Prediction:
        return self.predict_messages(
            request.messages,
            tools=len(request.tools),
            json_output=request.response_format is not None,
        )


@functools.cache
def default_predictor() -> QualityPredictor:
    """The shipped predictor, loaded once on first use."""
    text = resources.files("router.quality").joinpath(WEIGHTS_FILE).read_text("utf-8")
    return QualityPredictor(json.loads(text))
