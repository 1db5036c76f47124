from __future__ import annotations

import json
from decimal import Decimal

import pytest

from router.quality.traces import TraceError, read_traces

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
