from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from tests.quality.conftest import MODELS, STRONG, WEAK

from router.errors import ConfigError
from router.quality.evaluate import run_eval
from router.quality.replay import ReplayItem
from router.quality.traces import Outcome, ScoreError, TraceError, read_traces


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
    with pytest.raises(TraceError, match="neither output_tokens nor cost"):
        run_eval(path, models=MODELS)


def rows_file(tmp_path: Path, pairs: Sequence[tuple[float, float]], **extra: dict[str, object]
              ) -> Path:
    """A trace file with one line per (strong score, weak score), priced by tokens."""
    rows = []
    for i, (s, w) in enumerate(pairs):
        outcomes: dict[str, object] = {
            STRONG: {"score": s, "input_tokens": 100 * (i + 1), "output_tokens": 50},
            WEAK: {"score": w, "input_tokens": 100 * (i + 1), "output_tokens": 50}}
        outcomes.update(extra.get(str(i), {}))
        rows.append({"id": str(i), "messages": [{"role": "user", "content": f"question {i}"}],
                     "outcomes": outcomes})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_progress_covers_predicting_and_replaying(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    knobs = (0.8, 0.9, 0.95, 1.0)
    run_eval(rows_file(tmp_path, [(1, 0), (1, 1), (0, 1), (1, 0)]), models=MODELS, knobs=knobs,
             progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = [stage for stage, _, _ in seen]
    assert stages.index("read") < stages.index("price") < stages.index("predict") \
        < stages.index("replay")
    assert [s for s in seen if s[0] == "predict"][-1][1:] == (4, 4)
    assert [s for s in seen if s[0] == "replay"][-1][1:] == (len(knobs), len(knobs))


def test_strong_is_the_stronger_model_when_mean_scores_tie(tmp_path: Path) -> None:
    path = rows_file(tmp_path, [(1, 1), (1, 0), (0, 1), (1, 1), (0, 0)])  # both average 0.6
    result = run_eval(path, models=MODELS, knobs=(0.9, 1.0))
    assert (result.strong, result.cheap) == ("gpt-4o", "gpt-4o-mini")
    assert "tied with gpt-4o-mini" in result.chosen["strong"]
    data = result.to_json()
    assert data["chosen"]["strong"] == result.chosen["strong"]
    # always-cheap already keeps 100%: the saving is everything but the cheap model's cost
    strong, cheap = result.baselines["always:gpt-4o"], result.baselines["always:gpt-4o-mini"]
    assert data["random_savings_at_95"] == pytest.approx(float(1 - cheap.cost / strong.cost),
                                                         abs=1e-4)
    assert data["random_savings_at_95"] > 0.9
    given = run_eval(path, models=MODELS, knobs=(1.0,), strong="gpt-4o-mini", cheap="gpt-4o")
    assert given.chosen == {"strong": "given", "cheap": "given"}


@pytest.mark.parametrize(("strong", "hint"), [
    ("gpt-4", "map it first with --model gpt-4="),
    (STRONG, "the traces' name for 'gpt-4o'"),
])
def test_unmapped_strong_model_is_a_clear_error(tmp_path: Path, strong: str, hint: str) -> None:
    path = rows_file(tmp_path, [(1, 0), (1, 1)])
    with pytest.raises(ConfigError, match=r"^strong: .*not one of the mapped models "
                                          r"\(gpt-4o, gpt-4o-mini\)") as info:
        run_eval(path, models=MODELS, strong=strong)
    assert hint in str(info.value)
    with pytest.raises(ConfigError, match="^cheap: 'nope'"):
        run_eval(path, models=MODELS, cheap="nope")
    with pytest.raises(ConfigError, match="both 'gpt-4o'"):
        run_eval(path, models=MODELS, strong="gpt-4o", cheap="gpt-4o")


def test_unpriceable_line_names_file_and_line_and_is_skipped_on_request(tmp_path: Path) -> None:
    path = rows_file(tmp_path, [(1, 0), (1, 1), (0, 1)],
                     **{"1": {WEAK: {"score": 1, "input_tokens": 10}}})
    with pytest.raises(TraceError, match=rf"^{re.escape(str(path))}:2: .*Mixtral.* neither "
                                         "output_tokens nor cost"):
        run_eval(path, models=MODELS)
    result = run_eval(path, models=MODELS, skip_bad=True, knobs=(0.9,))
    assert result.n == 2
    assert [(b.line, "neither output_tokens nor cost" in b.reason) for b in result.skipped] == [
        (2, True)]
    # an unmapped model needs no price: it is not evaluated
    other = rows_file(tmp_path, [(1, 0), (1, 1)], **{"0": {"gpt-3.5": {"score": 1}}})
    assert run_eval(other, models=MODELS, knobs=(0.9,)).n == 2


def test_outcomes_of_unmapped_models_are_reported(tmp_path: Path) -> None:
    third = {"gpt-3.5-turbo": {"score": 0.5, "output_tokens": 3}}
    path = rows_file(tmp_path, [(1, 0), (1, 1), (0, 1)],
                     **{"0": third, "2": {**third, "claude": {"score": 1, "output_tokens": 3}}})
    result = run_eval(path, models=MODELS, knobs=(0.9,))
    assert result.unmapped == {"claude": 1, "gpt-3.5-turbo": 2}
    assert result.to_json()["unmapped"] == {"count": 2,
                                            "models": {"claude": 1, "gpt-3.5-turbo": 2}}
    traces = read_traces(path, models=list(MODELS.values())).traces
    assert run_eval(traces, models=MODELS, knobs=(0.9,)).unmapped == result.unmapped
    full = run_eval(path, models={**MODELS, "mistral-nemo": "claude"}, knobs=(0.9,),
                    skip_bad=True)
    assert full.unmapped == {"gpt-3.5-turbo": 1}  # the one line naming claude is the rest...
    assert [b.line for b in full.skipped] == [1, 2]  # ...lines without a claude outcome


def test_each_policy_reports_quality_cost_and_shares_at_the_target(tmp_path: Path) -> None:
    result = run_eval(tiny(tmp_path), models=MODELS, policies=[Always("cheap", "gpt-4o-mini")])
    random = result.curves["random"].summary
    at = random.at_target
    assert at is not None
    assert at.quality == pytest.approx(0.95 * 4 / 6)
    assert at.cost == random.cost_at_target
    assert at.shares == pytest.approx({"gpt-4o": 0.8, "gpt-4o-mini": 0.2})
    data = result.to_json()["policies"]["random"]["at_target"]
    assert data["shares"] == {"gpt-4o": 0.8, "gpt-4o-mini": 0.2}
    # a policy that never gets there on its own is anchored at always-strong, like RouteLLM's
    assert result.to_json()["policies"]["cheap"]["at_target"]["knob"] is None


def test_a_score_off_the_scale_is_refused_not_averaged(tmp_path: Path) -> None:
    pairs = [(1.0, float(i % 3 == 0)) for i in range(30)]
    path = rows_file(tmp_path, pairs, **{"4": {STRONG: {"score": 100.0, "output_tokens": 50}}})
    with pytest.raises(ScoreError, match=rf"^{re.escape(str(path))}:5: outcomes\."
                                         rf"{re.escape(STRONG)}\.score 100 is off the file's "
                                         r"score scale \[0, 1\]"):
        run_eval(path, models=MODELS, knobs=(0.9,))
    result = run_eval(path, models=MODELS, knobs=(0.9,), skip_bad=True)
    assert (result.n, [b.line for b in result.skipped]) == (29, [5])
    assert result.baselines["always:gpt-4o"].quality == 1.0
    assert result.to_json()["score_scale"] == [0, 1]


def test_negative_scores_and_a_strong_mean_of_zero_are_refused(tmp_path: Path) -> None:
    shifted = rows_file(tmp_path, [(0, -1), (-1, -1), (0, 0)])
    with pytest.raises(ScoreError, match=r":1: .*score must be 0 or more"):
        run_eval(shifted, models=MODELS)
    # skipping the negative lines leaves a strong model that scores nothing: no share of it
    with pytest.raises(ScoreError, match=r"rows\.jsonl: the strong model 'gpt-4o' has a mean "
                                         r"score of 0 .* 95% of its quality means nothing"):
        run_eval(shifted, models=MODELS, skip_bad=True)
    # the Python API checks traces built by hand the same way
    traces = list(read_traces(rows_file(tmp_path, [(1, 0), (1, 1)]),
                              models=list(MODELS.values())).traces)
    bad = dataclasses.replace(traces[1], outcomes={**traces[1].outcomes,
                                                   WEAK: Outcome(-0.5, output_tokens=3)})
    with pytest.raises(ScoreError, match=r"^line 2: .*score must be 0 or more"):
        run_eval([traces[0], bad], models=MODELS)
    assert run_eval([traces[0], bad], models=MODELS, skip_bad=True, knobs=(0.9,)).n == 1


def test_huge_token_counts_are_a_bad_line_not_an_internal_error(tmp_path: Path) -> None:
    path = rows_file(tmp_path, [(1, 0), (1, 1)],
                     **{"1": {WEAK: {"score": 1, "output_tokens": 10**30}}})
    with pytest.raises(TraceError, match=r":2: .*output_tokens must be at most"):
        run_eval(path, models=MODELS)


@pytest.mark.parametrize("target", [0.95, 0.955, 0.999, 0.9])
def test_json_keys_do_not_depend_on_the_target(gsm8k_file: Path, target: float) -> None:
    knobs = (0.8, 0.9, 0.95, 0.99, 1.0)
    data = run_eval(gsm8k_file, models=MODELS, knobs=knobs, target=target).to_json()
    reference = run_eval(gsm8k_file, models=MODELS, knobs=knobs).to_json()
    for key in ("savings_at_95", "random_savings_at_95", "oracle_savings_at_95",
                "call_savings_at_95"):
        assert data[key] == reference[key]  # always at 95%, whatever the target
    assert data["target"] == target
    at = {key for key in data if "_at_" in key}
    assert at == {"savings_at_95", "random_savings_at_95", "oracle_savings_at_95",
                  "call_savings_at_95", "savings_at_target", "random_savings_at_target",
                  "oracle_savings_at_target", "call_savings_at_target", "knob_at_target"}
    random = data["policies"]["random"]
    assert random["savings_at_95"] == reference["random_savings_at_95"]
    assert random["savings_at_target"] == data["random_savings_at_target"]
    if target == 0.95:
        assert data["savings_at_target"] == data["savings_at_95"]
    else:
        assert data["random_savings_at_target"] != data["random_savings_at_95"]


def test_two_catalog_models_on_one_trace_model_is_an_error(tmp_path: Path) -> None:
    path = rows_file(tmp_path, [(1, 0), (1, 1)])
    with pytest.raises(ConfigError, match=r"^models: 'gpt-4o' and 'gpt-4o-mini' are both mapped "
                                          rf"to the trace model '{re.escape(STRONG)}'"):
        run_eval(path, models={"gpt-4o": STRONG, "gpt-4o-mini": STRONG})


@pytest.mark.parametrize("target", [0, -1, 1.5, float("nan")])
def test_a_target_that_is_not_a_share_is_an_error(tmp_path: Path, target: float) -> None:
    with pytest.raises(ConfigError, match=r"^target: must be a share"):
        run_eval(rows_file(tmp_path, [(1, 0), (1, 1)]), models=MODELS, target=target)
