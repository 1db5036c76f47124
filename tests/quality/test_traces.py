from __future__ import annotations

import gzip
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from router.quality.traces import (
    Outcome,
    ScoreError,
    Trace,
    TraceError,
    check_scores,
    read_traces,
    score_scale,
)

GOOD = {
    "id": "a",
    "messages": [{"role": "user", "content": "2+2?"}],
    "outcomes": {"big": {"score": 1.0, "output_tokens": 3}, "small": {"score": 0, "cost": "0.0001"}},
}


def lines(*rows: object) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r) for r in rows]


def test_reads_outcomes_with_exact_cost() -> None:
    read = read_traces(lines(GOOD), models=["big", "small"])
    (trace,) = read.traces
    assert trace.outcomes["small"].cost == Decimal("0.0001")
    assert trace.outcomes["big"].output_tokens == 3
    assert trace.prompt_text == "2+2?"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("{not json", "not JSON"),
        ({"id": "b", "messages": [{"role": "user", "content": "x"}]}, 'misses "outcomes"'),
        ({**GOOD, "id": "c", "outcomes": {"big": {"score": 1}}}, "'small'"),
        ({**GOOD, "id": "d", "outcomes": {"big": {"score": "high"}, "small": {"score": 0}}},
         "score must be a finite number"),
        ({**GOOD, "id": "e", "messages": []}, "messages"),
    ],
)
def test_bad_line_names_its_number_and_reason(bad: object, words: str) -> None:
    with pytest.raises(TraceError) as info:
        read_traces(lines(GOOD, "", bad), models=["big", "small"])
    assert info.value.line == 3
    assert words in str(info.value)
    assert "line 3" in str(info.value)


def test_skip_bad_lists_every_skipped_line() -> None:
    read = read_traces(lines("[1]", GOOD, GOOD), models=["big"], skip_bad=True)
    assert len(read.traces) == 1
    assert [(b.line, "repeats id" in b.reason or "object" in b.reason) for b in read.skipped] == [
        (1, True),
        (3, True),
    ]


def test_a_file_with_nothing_usable_is_an_error() -> None:
    with pytest.raises(TraceError, match="no usable trace"):
        read_traces(lines("oops"), skip_bad=True)


def scored(*pairs: tuple[float, float], **outcome: object) -> list[str]:
    """One line per (big score, small score), numbered ids."""
    return lines(*({"id": str(i), "messages": [{"role": "user", "content": f"q{i}"}],
                    "outcomes": {"big": {"score": b, "output_tokens": 3, **outcome},
                                 "small": {"score": s, "output_tokens": 3}}}
                   for i, (b, s) in enumerate(pairs)))


def test_a_negative_score_is_refused_naming_the_line() -> None:
    with pytest.raises(ScoreError, match=r"^line 2: outcomes\.small\.score must be 0 or more"):
        read_traces(scored((1, 0), (1, -1)), models=["big", "small"])
    read = read_traces(scored((1, 0), (1, -1)), models=["big", "small"], skip_bad=True)
    assert [b.line for b in read.skipped] == [2]


def test_a_score_off_the_files_scale_is_refused_naming_line_score_and_scale() -> None:
    rows = scored(*[(1, i % 2) for i in range(40)])
    rows[6] = scored((100.0, 0))[0].replace('"id": "0"', '"id": "x"')
    with pytest.raises(ScoreError) as info:
        read_traces(rows, models=["big", "small"])
    assert info.value.line == 7
    assert "outcomes.big.score 100 is off the file's score scale [0, 1]" in str(info.value)
    read = read_traces(rows, models=["big", "small"], skip_bad=True)
    assert (len(read.traces), read.scale) == (39, 1)
    assert [b.line for b in read.skipped] == [7]
    assert "score 100" in read.skipped[0].reason


@pytest.mark.parametrize(("scores", "top"), [
    ([0.0, 1.0] * 50 + [100.0], 1),  # one stray score in 101: the scale stays [0, 1]
    ([float(1 + i % 10) for i in range(63)] + [100.0], 10),  # MT-Bench's 1-10, one typo
    ([5.0, 80.0, 3.0], 100),  # a tiny file: nothing is taken for a typo
    ([0.5] * 10, 1),
    ([250.0, 999.0] * 20, 1000),
])
def test_the_score_scale_is_inferred_from_the_scores(scores: list[float], top: float) -> None:
    assert score_scale(scores) == top


def test_hand_built_traces_are_checked_too() -> None:
    (trace,) = read_traces(lines(GOOD), models=["big", "small"]).traces
    bad = Trace("h", trace.messages, {**trace.outcomes, "big": Outcome(-2.0, output_tokens=3)})
    with pytest.raises(ScoreError, match=r"^trace 'h': outcomes\.big\.score must be 0 or more"):
        check_scores([trace, bad], ["big", "small"])
    huge = Trace("t", trace.messages, {**trace.outcomes, "big": Outcome(1.0, output_tokens=10**30)})
    kept, skipped, top = check_scores([trace, huge], ["big", "small"], skip_bad=True)
    assert (kept, top) == ([trace], 1)
    assert "output_tokens must be a whole number from 0 to 1,000,000,000,000" in skipped[0].reason


@pytest.mark.parametrize(("outcome", "words"), [
    ({"output_tokens": 10**30}, "output_tokens must be at most 1,000,000,000,000 tokens, got a "
                                "31-digit number"),
    ({"input_tokens": 10**12 + 1}, "input_tokens must be at most 1,000,000,000,000 tokens"),
    ({"cost": "1e30"}, "cost must be at most 1,000,000 dollars"),
    ({"cost": "NaN"}, "not a finite amount"),
    ({"cost": -1}, "must be zero or more"),
])
def test_token_counts_and_costs_are_bounded(outcome: dict[str, object], words: str) -> None:
    rows = scored((1, 0), (1, 1), **outcome)
    with pytest.raises(TraceError, match=r"^line 1: ") as info:
        read_traces(rows, models=["big", "small"])
    assert words in str(info.value)


def test_an_integer_too_long_for_python_is_a_bad_line() -> None:
    rows = [scored((1, 0))[0], '{"id": "z", "outcomes": {"big": {"score": ' + "1" * 5000 + "}}}"]
    with pytest.raises(TraceError, match=r"^line 2: not usable JSON"):
        read_traces(rows, models=["big"])


def test_a_file_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(scored((1, 0), (1, 1))).encode()))
    with pytest.raises(TraceError, match=rf"^{re.escape(str(path))}:1: not UTF-8 text .*"
                                         "gzip-compressed: decompress it first"):
        read_traces(path, models=["big", "small"])
    mixed = tmp_path / "mixed.jsonl"
    good = scored((1, 0), (1, 1))
    mixed.write_bytes(good[0].encode() + b"\n\xff\xfe oops\n" + good[1].encode() + b"\n")
    read = read_traces(mixed, models=["big", "small"], skip_bad=True)
    assert len(read.traces) == 2
    assert [(b.line, b.reason.startswith("not UTF-8 text")) for b in read.skipped] == [(2, True)]


def test_an_empty_file_says_so_without_a_line_number(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(TraceError) as info:
        read_traces(path)
    assert str(info.value) == f"{path}: the file is empty"
    assert info.value.line == 0
    path.write_text("\n  \n")
    with pytest.raises(TraceError, match=rf"^{re.escape(str(path))}: the file has only blank"):
        read_traces(path)
    path.write_text("oops\n[1]\n")
    with pytest.raises(TraceError, match=rf"^{re.escape(str(path))}: no usable trace: all 2 "
                                         r"trace line\(s\) are bad \(lines 1, 2;"):
        read_traces(path, skip_bad=True)
