from __future__ import annotations

from pathlib import Path
from types import ModuleType


def test_contaminated_prompts_are_dropped(data_root: Path, converter: ModuleType) -> None:
    assert len(converter.convert(data_root, "gsm8k")) == 1319 - 12
    assert len(converter.convert(data_root, "mt_bench")) == 80 - 8


def test_mmlu_splits_by_subject(data_root: Path, converter: ModuleType) -> None:
    rows = converter.convert(data_root, "mmlu")
    assert len(rows) == 14042 - 5
    split_of = {}
    for row in rows:
        subject, split = row["meta"]["group"], row["meta"]["split"]
        assert split_of.setdefault(subject, split) == split
    assert 20 < sum(s == "test" for s in split_of.values()) < 37


def test_mt_bench_line_adds_up_both_turns(data_root: Path, converter: ModuleType) -> None:
    row = converter.convert(data_root, "mt_bench")[0]
    strong = row["outcomes"][converter.STRONG]
    assert 1 <= strong["score"] <= 10
    assert strong["input_tokens"] > 2 * 10
    assert strong["output_tokens"] > 50
    assert len(row["messages"]) == 1  # routed on the first turn, as RouteLLM does
