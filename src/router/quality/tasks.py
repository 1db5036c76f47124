"""Task type of a request (maths, code, knowledge, writing, multilingual, image) and the catalog
quality score that applies to it. Rules over the predictor's features: transparent, no weights.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

from router.quality.features import DENSE_FEATURES, Features

__all__ = ["SCORE_KEYS", "TaskType", "catalog_score", "classify"]

_AT = {name: i for i, name in enumerate(DENSE_FEATURES)}


class TaskType(enum.StrEnum):
    MATHS = "maths"
    CODE = "code"
    KNOWLEDGE = "knowledge"
    WRITING = "writing"
    MULTILINGUAL = "multilingual"
    IMAGE = "image"


#: Catalog benchmark keys per task, most specific first; "mmlu" is the general fallback.
SCORE_KEYS: Mapping[TaskType, tuple[str, ...]] = {
    TaskType.MATHS: ("math", "mgsm", "mmlu"),
    TaskType.CODE: ("humaneval", "mmlu"),
    TaskType.KNOWLEDGE: ("mmlu",),
    TaskType.WRITING: ("mt_bench", "mmlu"),
    TaskType.MULTILINGUAL: ("mgsm", "mmlu_zh", "mmlu"),
    TaskType.IMAGE: ("mmmu",),
}


def classify(features: Features) -> TaskType:
    """The task a request most looks like; image and script first, then code, maths, writing."""
    f = features.dense
    if f[_AT["images"]] > 0:
        return TaskType.IMAGE
    if f[_AT["non_ascii_share"]] > 0.3:
        return TaskType.MULTILINGUAL
    if f[_AT["log_code"]] >= 1.0 or (f[_AT["q_code"]] and f[_AT["log_code"]] > 0):
        return TaskType.CODE
    if f[_AT["choices"]] >= 0.75:
        return TaskType.KNOWLEDGE
    mathsy = (f[_AT["log_math"]] >= 0.69 or f[_AT["money_units"]] > 0 or f[_AT["q_math"]]
              or f[_AT["q_how_many"]])
    if mathsy and f[_AT["log_numbers"]] >= 1.09:  # at least two numbers
        return TaskType.MATHS
    if f[_AT["q_write"]] or f[_AT["q_roleplay"]]:
        return TaskType.WRITING
    return TaskType.KNOWLEDGE


def catalog_score(
    task: TaskType, scores: Sequence[Mapping[str, float]]
) -> tuple[str | None, list[float | None]]:
    """The first score key of `task` that every candidate has, and each candidate's score.

    When none is shared by all, the key most candidates have (the task's first on a tie); a
    candidate without it has no score (`None`: the strategy counts it as far behind as the
    furthest known one). Scores of different benchmarks are never compared, and a missing score
    is never guessed from another model.
    """
    keys = SCORE_KEYS[task]
    for key in keys:
        if all(key in s for s in scores):
            return key, [s[key] for s in scores]
    held, _, key = max((sum(key in s for s in scores), -i, key) for i, key in enumerate(keys))
    if held == 0:
        return None, [None] * len(scores)
    return key, [s.get(key) for s in scores]
