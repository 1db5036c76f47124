"""Trace files for offline replay: one JSON object per line with a prompt and each model's outcome.

Every bad line is reported with its number and the reason; it is skipped only when asked to.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from router.errors import InvalidRequestError, RouterError
from router.messages import parse_messages
from router.money import parse_money
from router.types import Message

__all__ = [
    "BadLine",
    "Outcome",
    "Trace",
    "TraceError",
    "TraceFile",
    "parse_trace",
    "read_traces",
]


class TraceError(RouterError, ValueError):
    """A trace line is unusable; `line` is 1-based, `source` names the file."""

    def __init__(self, reason: str, *, line: int, source: str = "") -> None:
        where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        self.line = line
        self.source = source


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one model did on one prompt. `score`: higher is better, one scale per file."""

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
    """

    traces: tuple[Trace, ...]
    skipped: tuple[BadLine, ...] = field(default=())
    source: str = ""
    unmapped: Mapping[str, int] = field(default_factory=dict)


def _int_field(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{key} must be a whole number >= 0, got {value!r}")
    return value


def _outcome(raw: Any, where: str) -> Outcome:
    if not isinstance(raw, Mapping):
        raise ValueError(f'{where} must be an object like {{"score": 1.0}}')
    score = raw.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ValueError(f"{where}.score must be a finite number, got {score!r}")
    cost: Decimal | None = None
    if raw.get("cost") is not None:
        try:
            cost = parse_money(raw["cost"], field=f"{where}.cost")
        except InvalidRequestError as exc:
            raise ValueError(str(exc)) from None
    return Outcome(
        score=float(score),
        input_tokens=_int_field(raw, "input_tokens", where),
        output_tokens=_int_field(raw, "output_tokens", where),
        cost=cost,
    )


def parse_trace(
    text: str, *, line: int = 0, required: Collection[str] = (), source: str = ""
) -> Trace:
    """Parse one line; raise `TraceError` naming the line and the reason.

    `required` lists the trace model names the caller maps: each must have an outcome.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceError(f"not JSON ({exc.msg} at column {exc.colno})", line=line, source=source) from None
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
    except (ValueError, InvalidRequestError) as exc:
        raise TraceError(str(exc), line=line, source=source) from None
    trace_id = raw.get("id")
    return Trace(
        id=str(trace_id) if trace_id is not None else f"line-{line}",
        messages=messages,
        outcomes=parsed,
        line=line,
    )


def _lines(path: str | Path | Iterable[str]) -> Iterator[str]:
    if isinstance(path, str | Path):
        with open(path, encoding="utf-8") as handle:
            yield from handle
    else:
        yield from path


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
    and outcomes of other models are counted in `unmapped`.
    `progress` is called with the number of lines read so far, every 1,000 lines and at the end.
    """
    source = str(path) if isinstance(path, str | Path) else ""
    traces: list[Trace] = []
    skipped: list[BadLine] = []
    unmapped: dict[str, int] = {}
    mapped = set(models)
    count = 0
    seen: dict[str, int] = {}
    for count, text in enumerate(_lines(path), start=1):
        if progress is not None and count % 1000 == 0:
            progress(count)
        if not text.strip():
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
        if mapped:
            for name in trace.outcomes:
                if name not in mapped:
                    unmapped[name] = unmapped.get(name, 0) + 1
    if progress is not None:
        progress(count)
    if not traces:
        raise TraceError("no usable trace in the file", line=count, source=source)
    return TraceFile(tuple(traces), tuple(skipped), source, dict(sorted(unmapped.items())))
