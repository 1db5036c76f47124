"""Trace files for offline replay: one JSON object per line with a prompt and each model's outcome.

Every bad line is reported with its number and the reason; it is skipped only when asked to.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from router.errors import InvalidRequestError, RouterError
from router.messages import parse_messages
from router.money import parse_money
from router.types import Message

__all__ = [
    "MAX_COST",
    "MAX_SCORE",
    "MAX_TOKENS",
    "BadLine",
    "Outcome",
    "ScoreError",
    "Trace",
    "TraceError",
    "TraceFile",
    "check_scores",
    "parse_trace",
    "read_traces",
    "score_scale",
]

#: Bounds on one outcome: beyond them a number is a typo or a corrupt line, not a call.
MAX_TOKENS = 10**12
MAX_COST = Decimal(10**6)  # dollars for one call
MAX_SCORE = 1e9  # the top of the largest score scale, [0, 10**9]

#: The score scales a file's scores are read on: [0, 1], [0, 10], [0, 100]... [0, 10**9].
SCALES: tuple[float, ...] = tuple(10.0**k for k in range(10))


class TraceError(RouterError, ValueError):
    """A trace line is unusable; `line` is 1-based (0: the file as a whole), `source` names the
    file."""

    def __init__(self, reason: str, *, line: int = 0, source: str = "") -> None:
        where = (f"{source}:{line}" if source else f"line {line}") if line else source
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.line = line
        self.source = source


class ScoreError(TraceError):
    """A score is unusable: negative, off the file's score scale (`line` names it), or the strong
    model's mean score is 0 or less (`line` is 0), so that a share of its quality means nothing."""


class _ScoreProblem(ValueError):
    """Raised while parsing a line; turned into a `ScoreError` naming the line."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one model did on one prompt. `score`: higher is better, 0 or more, one scale per
    file."""

    score: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Trace:
    id: str
    messages: tuple[Message, ...]
    outcomes: Mapping[str, Outcome]
    line: int = 0

    @property
    def prompt_text(self) -> str:
        return "\n".join(m.text for m in self.messages)


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class TraceFile:
    """The traces read, and the lines skipped (only ever non-empty with `skip_bad=True`).

    `unmapped`: trace model name -> number of traces with an outcome for it, for the models
    that the caller did not map (they are not evaluated; say so rather than drop them quietly).
    `scale`: the top of the score scale [0, scale] inferred from the scores (see `score_scale`).
    """

    traces: tuple[Trace, ...]
    skipped: tuple[BadLine, ...] = field(default=())
    source: str = ""
    unmapped: Mapping[str, int] = field(default_factory=dict)
    scale: float | None = None


def _big(value: int) -> str:
    return str(value) if value < 10**20 else f"a {len(str(value))}-digit number"


def _int_field(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{key} must be a whole number >= 0, got {value!r}")
    if value > MAX_TOKENS:
        raise ValueError(f"{where}.{key} must be at most {MAX_TOKENS:,} tokens, got {_big(value)}")
    return value


def _score_problem(score: float, where: str) -> str | None:
    if score < 0:
        return f"{where}.score must be 0 or more (higher is better), got {score:g}"
    if score > MAX_SCORE:
        return f"{where}.score must be at most {MAX_SCORE:g} (no score scale is larger), got {score:g}"
    return None


def _outcome_problem(outcome: Outcome, where: str) -> str | None:
    """Why a (possibly hand-built) outcome is unusable, or None."""
    score = outcome.score
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return f"{where}.score must be a finite number, got {score!r}"
    problem = _score_problem(float(score), where)
    if problem:
        return problem
    for key in ("input_tokens", "output_tokens"):
        value = getattr(outcome, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= MAX_TOKENS):
            return f"{where}.{key} must be a whole number from 0 to {MAX_TOKENS:,}, got {value!r}"
    cost = outcome.cost
    if cost is not None and (not isinstance(cost, Decimal) or not cost.is_finite()
                             or not 0 <= cost <= MAX_COST):
        return f"{where}.cost must be a finite amount from 0 to {MAX_COST:,} dollars, got {cost!r}"
    return None


def _outcome(raw: Any, where: str) -> Outcome:
    if not isinstance(raw, Mapping):
        raise ValueError(f'{where} must be an object like {{"score": 1.0}}')
    score = raw.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ValueError(f"{where}.score must be a finite number, got {score!r}")
    problem = _score_problem(float(score), where)
    if problem:
        raise _ScoreProblem(problem)
    cost: Decimal | None = None
    if raw.get("cost") is not None:
        try:
            cost = parse_money(raw["cost"], field=f"{where}.cost")
        except InvalidRequestError as exc:
            raise ValueError(str(exc)) from None
        if cost > MAX_COST:
            raise ValueError(f"{where}.cost must be at most {MAX_COST:,} dollars for one call, "
                             f"got {raw['cost']!r}")
    return Outcome(
        score=float(score),
        input_tokens=_int_field(raw, "input_tokens", where),
        output_tokens=_int_field(raw, "output_tokens", where),
        cost=cost,
    )


def parse_trace(
    text: str, *, line: int = 0, required: Collection[str] = (), source: str = ""
) -> Trace:
    """Parse one line; raise `TraceError` naming the line and the reason (`ScoreError` for a
    negative score).

    `required` lists the trace model names the caller maps: each must have an outcome.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(f"not JSON ({exc.msg} at column {exc.colno})", line=line, source=source) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise TraceError(f"not usable JSON ({exc})", line=line, source=source) from None
    try:
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
        messages = parse_messages(raw.get("messages") or raw.get("prompt") or [])
        outcomes = raw.get("outcomes")
        if not isinstance(outcomes, Mapping) or not outcomes:
            raise ValueError('misses "outcomes" (an object of model name -> {"score": ...})')
        parsed = {str(name): _outcome(value, f"outcomes.{name}") for name, value in outcomes.items()}
        missing = [name for name in required if name not in parsed]
        if missing:
            raise ValueError(
                f"has no outcome for mapped model(s) {', '.join(map(repr, missing))}; "
                f"it names {', '.join(map(repr, parsed))}"
            )
        # A mapped outcome is priced: without the answer's length or its cost there is nothing to
        # price it with (input tokens can be counted from the prompt, output tokens cannot).
        unpriced = [name for name in required
                    if parsed[name].output_tokens is None and parsed[name].cost is None]
        if unpriced:
            raise ValueError(
                f"outcome(s) {', '.join(map(repr, unpriced))} give neither output_tokens nor "
                "cost; add one of them so the call can be priced"
            )
    except _ScoreProblem as exc:
        raise ScoreError(str(exc), line=line, source=source) from None
    except (ValueError, InvalidRequestError) as exc:
        raise TraceError(str(exc), line=line, source=source) from None
    trace_id = raw.get("id")
    return Trace(
        id=str(trace_id) if trace_id is not None else f"line-{line}",
        messages=messages,
        outcomes=parsed,
        line=line,
    )


def score_scale(scores: Sequence[float]) -> float:
    """The top of the score scale [0, top] that a file's scores are on: the smallest of [0, 1],
    [0, 10], [0, 100]... that holds all the scores but at most 1% of them, and but one in a file
    of 20 scores or more (a single stray 100 among 64 scores of 1 to 10 is a typo, not the
    scale). The scores outside it are off the scale."""
    ordered = sorted(scores)
    n = len(ordered)
    allowed = max(1, n // 100) if n >= 20 else 0
    for top in SCALES:
        if n - bisect.bisect_right(ordered, top) <= allowed:
            return top
    return SCALES[-1]


def _where(trace: Trace) -> str:
    return "" if trace.line else f"trace {trace.id!r}: "


def check_scores(
    traces: Sequence[Trace],
    models: Collection[str] = (),
    *,
    skip_bad: bool = False,
    source: str = "",
) -> tuple[list[Trace], list[BadLine], float | None]:
    """Check the outcomes of `models` (trace model names; default: all), whether read from a
    file or built by hand: each must be usable (a score of 0 or more, token counts and cost in
    bounds) and its score on the scale that the file's scores are on (`score_scale`).

    Returns the traces kept, the lines skipped (`skip_bad`; else the first bad one raises a
    `TraceError`, a `ScoreError` for a score) and the top of the scale (None without scores).
    """
    skipped: list[BadLine] = []

    def names(trace: Trace) -> list[str]:
        return [m for m in models if m in trace.outcomes] if models else list(trace.outcomes)

    def reject(trace: Trace, reason: str, kind: type[TraceError]) -> None:
        if not skip_bad:
            raise kind(_where(trace) + reason, line=trace.line, source=source)
        skipped.append(BadLine(trace.line, _where(trace) + reason))

    usable: list[Trace] = []
    for trace in traces:
        problem = next((p for name in names(trace)
                        if (p := _outcome_problem(trace.outcomes[name], f"outcomes.{name}"))),
                       None)
        if problem is None:
            usable.append(trace)
        else:
            reject(trace, problem, ScoreError if ".score " in problem else TraceError)
    scores = [float(t.outcomes[name].score) for t in usable for name in names(t)]
    if not scores:
        return usable, skipped, None
    top = score_scale(scores)
    inside = sum(1 for s in scores if s <= top)
    kept: list[Trace] = []
    for trace in usable:
        off = [(name, trace.outcomes[name].score) for name in names(trace)
               if trace.outcomes[name].score > top]
        if not off:
            kept.append(trace)
            continue
        name, score = off[0]
        reject(trace, f"outcomes.{name}.score {score:g} is off the file's score scale "
                      f"[0, {top:g}] ({inside} of its {len(scores)} scores lie in it); fix or "
                      "drop the line", ScoreError)
    return kept, skipped, top


def _lines(path: str | Path | Iterable[str]) -> Iterator[str | bytes]:
    if isinstance(path, str | Path):
        # Bytes, decoded line by line: a line that is not UTF-8 is named, and can be skipped.
        with open(path, "rb") as handle:
            yield from handle
    else:
        yield from path


def _decode(raw: bytes, count: int) -> str:
    try:
        return raw.decode("utf-8-sig" if count == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        hint = ("; the file looks gzip-compressed: decompress it first"
                if count == 1 and raw.startswith(b"\x1f\x8b") else "")
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start + 1} of the line)"
                         f"{hint}") from None


def read_traces(
    path: str | Path | Iterable[str],
    *,
    models: Collection[str] = (),
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
) -> TraceFile:
    """Read a JSONL trace file (or an iterable of lines); blank lines are ignored.

    A bad line raises `TraceError` unless `skip_bad`, in which case it is listed in `skipped`.
    With `models` (the trace model names mapped), each must have an outcome that can be priced,
    and outcomes of other models are counted in `unmapped`. The scores of the mapped models (of
    all, without `models`) must be on one scale, inferred from them (`check_scores`).
    `progress` is called with the number of lines read so far, every 1,000 lines and at the end.
    """
    source = str(path) if isinstance(path, str | Path) else ""
    traces: list[Trace] = []
    skipped: list[BadLine] = []
    count = blank = 0
    seen: dict[str, int] = {}
    for count, raw in enumerate(_lines(path), start=1):
        if progress is not None and count % 1000 == 0:
            progress(count)
        try:
            text = _decode(raw, count) if isinstance(raw, bytes) else raw
        except ValueError as exc:
            if not skip_bad:
                raise TraceError(str(exc), line=count, source=source) from None
            skipped.append(BadLine(count, str(exc)))
            continue
        if not text.strip():
            blank += 1
            continue
        try:
            trace = parse_trace(text, line=count, required=models, source=source)
            if trace.id in seen:
                raise TraceError(
                    f"repeats id {trace.id!r} of line {seen[trace.id]}", line=count, source=source
                )
        except TraceError as exc:
            if not skip_bad:
                raise
            skipped.append(BadLine(exc.line, exc.reason))
            continue
        seen[trace.id] = count
        traces.append(trace)
    if progress is not None:
        progress(count)
    if count == 0:
        raise TraceError("the file is empty" if source else "no trace lines", source=source)
    if count == blank:
        raise TraceError(f"the {'file' if source else 'input'} has only blank lines",
                         source=source)
    traces, bad, scale = check_scores(traces, models, skip_bad=skip_bad, source=source)
    skipped = sorted([*skipped, *bad], key=lambda b: b.line)
    if not traces:
        lines = ", ".join(str(b.line) for b in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        raise TraceError(f"no usable trace: all {len(skipped)} trace line(s) are bad "
                         f"(lines {lines}; the first: {skipped[0].reason})", source=source)
    unmapped: dict[str, int] = {}
    if models:
        mapped = set(models)
        for trace in traces:
            for name in trace.outcomes:
                if name not in mapped:
                    unmapped[name] = unmapped.get(name, 0) + 1
    return TraceFile(tuple(traces), tuple(skipped), source, dict(sorted(unmapped.items())), scale)
