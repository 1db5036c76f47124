"""Quality-aware routing: a cheap offline predictor, the `quality` strategy, cascades, replay eval."""

from __future__ import annotations

from router.quality.calibrate import calibrate
from router.quality.cascade import Verdict, check_answer, default_validators
from router.quality.evaluate import EvalResult, run_eval
from router.quality.predictor import Prediction, QualityPredictor, default_predictor
from router.quality.strategy import QualityStrategy
from router.quality.tasks import TaskType
from router.quality.traces import Trace, TraceError, read_traces

__all__ = [
    "EvalResult",
    "Prediction",
    "QualityPredictor",
    "QualityStrategy",
    "TaskType",
    "Trace",
    "TraceError",
    "Verdict",
    "calibrate",
    "check_answer",
    "default_predictor",
    "default_validators",
    "read_traces",
    "run_eval",
]
