"""scripts/cascade_eval.py: the cascade replay's arithmetic, and that it reproduces the shipped
answer-check weights from GSM8K's train split (numpy; data from ../shared, never copied)."""

from __future__ import annotations

import importlib
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.quality.conftest import ROOT

from router.quality.answer_check import default_answer_checker


@pytest.fixture(scope="module")
def script() -> ModuleType:
    pytest.importorskip("numpy")
    sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module("cascade_eval")  # registered: its dataclass needs that


@pytest.fixture(scope="module")
def train_split(script: ModuleType, data_root: Path) -> Any:
    return script.load(data_root, "gsm8k", "train")


def test_the_cascade_always_pays_the_cheap_call(script: ModuleType, train_split: Any) -> None:
    np = pytest.importorskip("numpy")
    n = len(train_split.items)
    cheap = sum((i.options["gpt-4o-mini"].cost for i in train_split.items), Decimal(0))
    strong = sum((i.options["gpt-4o"].cost for i in train_split.items), Decimal(0))
    none = script.cascade_point(train_split, np.zeros(n, dtype=bool))
    every = script.cascade_point(train_split, np.ones(n, dtype=bool))
    assert none.cost == cheap
    assert none.quality == pytest.approx(float(train_split.scores("gpt-4o-mini").mean()))
    assert every.cost == cheap + strong
    assert every.quality == pytest.approx(float(train_split.scores("gpt-4o").mean()))
    assert every.strong_share == 1.0
    perfect = script.summary(train_split, script.curve(train_split, script.label(train_split)))
    assert 0.5 < perfect["savings"] < 1 - float(cheap / strong)


def test_training_reproduces_the_shipped_weights(script: ModuleType, data_root: Path) -> None:
    model, log = script.train(data_root, "gsm8k")
    shipped = default_answer_checker()
    assert model.coef == pytest.approx(shipped.coef, rel=1e-4, abs=1e-6)
    assert model.intercept == pytest.approx(shipped.intercept, rel=1e-4)
    assert model.threshold == pytest.approx(shipped.threshold, rel=1e-4)
    assert log["n_train"] > 600
