from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from tests.quality.conftest import MODELS, STRONG, WEAK

from router.quality.evaluate import run_eval
from router.quality.replay import ReplayItem
from router.quality.traces import TraceError


class Always:
    def __init__(self, name: str, model: str) -> None:
        self.name, self.model = name, model

    def route(self, items: Sequence[ReplayItem], knobs: Sequence[float]) -> list[list[str]]:
        return [[self.model] * len(items) for _ in knobs]


def tiny(tmp_path: Path) -> Path:
    rows = []
    for i, (s, w) in enumerate([(1, 1), (1, 0), (1, 0), (0, 0), (1, 1), (0, 1)]):
        rows.append({"id": str(i), "messages": [{"role": "user", "content": f"q{i}"}],
                     "outcomes": {STRONG: {"score": s, "input_tokens": 1000, "output_tokens": 0},
                                  WEAK: {"score": w, "input_tokens": 1000, "output_tokens": 0}}})
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_baselines_and_oracle_on_a_hand_checked_file(tmp_path: Path) -> None:
    result = run_eval(tiny(tmp_path), models=MODELS, policies=[Always("cheap", "gpt-4o-mini")])
    strong = result.baselines["always:gpt-4o"]
    assert strong.quality == pytest.approx(4 / 6)
    assert strong.cost == Decimal("0.015")  # 6 x 1000 tokens x $2.50 / 1M
    oracle = result.curves["oracle"].points
    # the oracle upgrades exactly the two prompts the strong model alone gets right
    assert max(p.quality for p in oracle) == pytest.approx(5 / 6)
    assert min(p.cost for p in oracle if p.quality >= 0.95 * 4 / 6) == Decimal("0.00325")
    random = result.curves["random"].summary
    # random needs p with (1-p)*3/6 + p*4/6 >= 0.95*4/6  ->  p = 0.8
    assert random.savings == pytest.approx(1 - (0.0009 + 0.8 * 0.0141) / 0.015)
    assert random.apgr == pytest.approx(0.5)


def test_to_json_has_the_promised_keys(gsm8k_file: Path) -> None:
    seen: list[str] = []
    result = run_eval(gsm8k_file, models=MODELS, knobs=(0.8, 0.9, 0.95, 1.0),
                      progress=lambda stage, done, total: seen.append(stage))
    data = result.to_json()
    for key in ("apgr", "savings_at_95", "cpt50", "cpt80", "random_savings_at_95",
                "oracle_savings_at_95"):
        assert key in data
    assert data["oracle_savings_at_95"] > data["random_savings_at_95"]
    assert data["n"] == 300
    assert {"read", "price"} <= set(seen)
    json.dumps(data)


def test_unmapped_model_is_reported_not_dropped(gsm8k_file: Path, tmp_path: Path) -> None:
    lines = gsm8k_file.read_text().splitlines()[:20]
    bad = json.loads(lines[4])
    del bad["outcomes"][WEAK]
    lines[4] = json.dumps(bad)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r":5: .*Mixtral"):
        run_eval(path, models=MODELS)
    result = run_eval(path, models=MODELS, skip_bad=True, knobs=(0.9,))
    assert result.n == 19
    assert result.to_json()["skipped"][0]["line"] == 5


def test_missing_output_tokens_and_cost_is_an_error(tmp_path: Path) -> None:
    row = {"id": "x", "messages": [{"role": "user", "content": "hi"}],
           "outcomes": {STRONG: {"score": 1}, WEAK: {"score": 0}}}
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(TraceError, match="neither cost nor output_tokens"):
        run_eval(path, models=MODELS)
