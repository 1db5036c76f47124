"""The embedding experiment's predictor (scripts/quality_embed.py) with a fake encoder: no torch,
no model; numpy only. The real model is exercised by running the script (docs/quality.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import pytest
from tests.quality.conftest import ROOT, _script

from router.messages import build_request
from router.quality.strategy import QualityStrategy

KNOB = [[0.8, 1.0], [1.0, 0.01]]


def head() -> dict[str, Any]:
    linear = {"kind": "linear", "advantage": 0.2, "floor": 0.05, "intercept": 0.2,
              "mean": [0.0] * 4, "scale": [1.0] * 4, "weights": [0.1, 0.0, 0.0, 0.0]}
    return {"format": 2, "dim": 4, "knob_map": {f: KNOB for f in ("mc", "maths", "open")},
            "families": {"mc": {"kind": "constant", "advantage": 0.1}, "maths": linear,
                         "open": linear}}


def fake(texts: Sequence[str]) -> Any:
    np = pytest.importorskip("numpy")
    return np.array([[1.0 if "hard" in t else -1.0, 0.0, 0.0, 0.0] for t in texts])


def test_embed_predictor_follows_the_head(make_router: Any) -> None:
    pytest.importorskip("numpy")
    sys.path.insert(0, str(ROOT / "scripts"))
    module = _script("quality_embed")
    predictor = module.EmbedPredictor(head(), encoder=fake)
    hard = predictor.predict(build_request("a hard question, open-ended"))
    easy = predictor.predict(build_request("an easy question, open-ended"))
    assert hard.relative == pytest.approx(1.5)
    assert easy.relative == pytest.approx(0.5)
    assert predictor.predict(build_request("Which?\nA. x\nB. y\nC. z\nD. w\nAnswer:")).family == "mc"
    decision = make_router().route("a hard one", strategy=QualityStrategy(predictor=predictor))
    assert any("embed predictor" in note for note in decision.notes)
