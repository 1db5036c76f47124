"""The quality predictor: how much a strong model is expected to beat a cheap one on this request.

One small head per request family (multiple choice, maths, open-ended; `features.family`), each
either a constant or a linear model over cheap features, chosen per family by cross-validation in
dollars (`scripts/train_quality.py`). The output is `advantage`, the expected score advantage of a
strong model over a cheap one (0-1 scale, roughly P(strong better) - P(cheap better)), and
`relative` = advantage / the family's average (1.0 = an average request of its kind).

The weights file also carries one **knob map** per family: which per-request tolerance keeps a
given share (`min_quality`) of the strong model's quality on average over requests of that
family, measured by replaying the training traces with out-of-fold predictions.
Loading reads one packaged JSON file, nothing else.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from router.errors import ConfigError
from router.quality.features import DENSE_FEATURES, FAMILIES, extract, family
from router.quality.tasks import TaskType, classify
from router.types import Message, Request

__all__ = [
    "KnobMap",
    "LinearHead",
    "Prediction",
    "Predictor",
    "QualityPredictor",
    "default_predictor",
    "knob_maps",
]

WEIGHTS_FILE = "weights.json"
FORMAT = 2


@dataclass(frozen=True, slots=True)
class Prediction:
    """`advantage`: expected score advantage of a strong model here; `relative` = it / average."""

    advantage: float
    relative: float
    task: TaskType
    family: str = "open"


class Predictor(Protocol):
    """What `QualityStrategy` needs from a predictor (the light default, or one of your own)."""

    name: str

    @property
    def knob_maps(self) -> Mapping[str, KnobMap]: ...

    def predict(self, request: Request) -> Prediction: ...

    def predict_messages(
        self, messages: Sequence[Message], *, tools: int = 0, json_output: bool = False
    ) -> Prediction: ...


class KnobMap:
    """`min_quality` (share of the strong model's quality kept on average) -> per-request tolerance.

    Pairs come from replaying the training traces; between them the tolerance is interpolated
    linearly. Below the lowest share measured (always-cheap) the largest tolerance applies;
    `min_quality=1.0` is tolerance 0: never trade quality down.
    """

    def __init__(self, pairs: Sequence[Sequence[float]]) -> None:
        ordered = sorted((float(q), float(t)) for q, t in pairs)
        if not ordered:
            raise ConfigError("the quality weights have an empty knob map", path="quality.weights")
        self.quality = [q for q, _ in ordered]
        self.tolerance = [t for _, t in ordered]

    def tolerance_for(self, min_quality: float) -> float:
        if min_quality >= 1.0:
            return 0.0
        qs, ts = self.quality, self.tolerance
        if min_quality <= qs[0]:
            return ts[0]
        if min_quality >= qs[-1]:
            return ts[-1]
        i = bisect.bisect_left(qs, min_quality)
        q0, q1, t0, t1 = qs[i - 1], qs[i], ts[i - 1], ts[i]
        return t0 + (t1 - t0) * (min_quality - q0) / (q1 - q0) if q1 > q0 else t1


class LinearHead:
    """Per family: a constant, or intercept + weights . standardised features; floored, / mean."""

    def __init__(self, spec: Mapping[str, Any], width: int) -> None:
        self.kind = str(spec["kind"])
        self.advantage = float(spec["advantage"])  # the family's mean on its training rows
        self.floor = float(spec.get("floor", 0.05)) * self.advantage
        if self.kind == "linear":
            self.mean = tuple(float(v) for v in spec["mean"])
            self.scale = tuple(float(v) or 1.0 for v in spec["scale"])
            self.weights = tuple(float(v) for v in spec["weights"])
            self.intercept = float(spec["intercept"])
            if not len(self.mean) == len(self.scale) == len(self.weights) == width:
                raise ConfigError("quality head has the wrong width; retrain it",
                                  path="quality.weights")
        elif self.kind != "constant":
            raise ConfigError(f"unknown quality head kind {self.kind!r}", path="quality.weights")

    def __call__(self, values: Sequence[float]) -> tuple[float, float]:
        """(advantage, relative) for one request's feature values."""
        if self.kind == "constant":
            return self.advantage, 1.0
        z = self.intercept
        for value, mean, scale, weight in zip(values, self.mean, self.scale, self.weights,
                                              strict=True):
            z += weight * (value - mean) / scale
        z = max(z, self.floor)
        return z, z / self.advantage if self.advantage > 0 else 1.0


def knob_maps(weights: Mapping[str, Any]) -> dict[str, KnobMap]:
    """One knob map per family, from a weights file."""
    raw = weights["knob_map"]
    if not isinstance(raw, Mapping) or set(raw) != set(FAMILIES):
        raise ConfigError("quality weights need one knob map per family; retrain",
                          path="quality.weights")
    return {fam: KnobMap(raw[fam]) for fam in FAMILIES}


def _heads(weights: Mapping[str, Any], width: int) -> dict[str, LinearHead]:
    heads = {name: LinearHead(spec, width) for name, spec in weights["families"].items()}
    missing = set(FAMILIES) - set(heads)
    if missing:
        raise ConfigError(f"quality weights miss families {sorted(missing)}; retrain",
                          path="quality.weights")
    return heads


class QualityPredictor:
    """The light default: per-family heads over `features.extract`'s dense features, < 1 ms."""

    name = "light"

    def __init__(self, weights: Mapping[str, Any]) -> None:
        if weights.get("format") != FORMAT or tuple(weights.get("dense", ())) != DENSE_FEATURES:
            raise ConfigError(
                "quality weights were trained on other features or an older format; retrain with "
                "scripts/train_quality.py",
                path="quality.weights",
            )
        self._heads = _heads(weights, len(DENSE_FEATURES))
        self.knob_maps = knob_maps(weights)
        self.meta: Mapping[str, Any] = weights.get("meta", {})

    @classmethod
    def from_file(cls, path: str) -> QualityPredictor:
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def predict_messages(
        self, messages: Sequence[Message], *, tools: int = 0, json_output: bool = False
    ) -> Prediction:
        features = extract(messages, tools=tools, json_output=json_output)
        task = classify(features)
        kind = family(features, task.value)
        advantage, relative = self._heads[kind](features.dense)
        if not math.isfinite(relative):
            relative = 1.0
        return Prediction(advantage, relative, task, kind)

    def predict(self, request: Request) -> Prediction:
        return self.predict_messages(
            request.messages,
            tools=len(request.tools),
            json_output=request.response_format is not None,
        )


@functools.cache
def default_predictor() -> QualityPredictor:
    """The shipped light predictor, loaded once on first use."""
    text = resources.files("router.quality").joinpath(WEIGHTS_FILE).read_text("utf-8")
    return QualityPredictor(json.loads(text))
