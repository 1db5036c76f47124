"""What the replay evaluator reports: each policy's curve and metrics, as a table or JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from router.quality.metrics import Point, apgr, cpt, point_at_quality, share_at_quality
from router.quality.traces import BadLine

__all__ = ["REFERENCE_TARGET", "Curve", "EvalResult", "Summary", "summarise"]

#: RouteLLM's reference point: `savings_at_95` & co. are at 95% of the strong model's quality,
#: whatever the target (the target's own figures are `savings_at_target` & co.).
REFERENCE_TARGET = 0.95


@dataclass(frozen=True, slots=True)
class Summary:
    """Metrics of one policy's curve. Shares are 0-1; `None` when the curve never gets there."""

    apgr: float
    cpt50: float | None
    cpt80: float | None
    savings: float | None
    cost_at_target: Decimal | None
    knob_at_target: float | None = None
    #: RouteLLM's own measure: 1 - share of calls to the strong model at the target quality
    call_savings: float | None = None
    #: where the curve first reaches the target: quality, cost and share of calls per model
    at_target: Point | None = None


@dataclass(frozen=True, slots=True)
class Curve:
    policy: str
    points: tuple[Point, ...]
    #: at the evaluation's target
    summary: Summary
    #: at `REFERENCE_TARGET` (95%); None only on a hand-built curve
    at_95: Summary | None = None


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Everything a report needs; `to_json()` is what `router eval --json` prints."""

    n: int
    target: float
    strong: str
    cheap: str
    baselines: Mapping[str, Point]
    curves: Mapping[str, Curve]
    router: str
    skipped: tuple[BadLine, ...] = field(default=())
    #: trace model name -> traces with an outcome for it, for models not mapped (not evaluated)
    unmapped: Mapping[str, int] = field(default_factory=dict)
    #: "strong" / "cheap" -> how that model was chosen (given, or why it was picked)
    chosen: Mapping[str, str] = field(default_factory=dict)
    #: the top of the traces' score scale, [0, scale] (None when not inferred)
    scale: float | None = None

    def _at_95(self, curve: Curve) -> Summary | None:
        if curve.at_95 is not None:
            return curve.at_95
        return curve.summary if math.isclose(self.target, REFERENCE_TARGET) else None

    def to_json(self) -> dict[str, Any]:
        """The keys never depend on the target: `*_at_95` are at 95% of the strong model's
        quality, `*_at_target` at `target`."""
        mine = self.curves[self.router].summary
        mine_95, random_95, oracle_95 = (self._at_95(self.curves[name])
                                         for name in (self.router, "random", "oracle"))
        out: dict[str, Any] = {
            "apgr": _num(mine.apgr),
            "savings_at_95": _num(None if mine_95 is None else mine_95.savings),
            "cpt50": _num(mine.cpt50),
            "cpt80": _num(mine.cpt80),
            "random_savings_at_95": _num(None if random_95 is None else random_95.savings),
            "oracle_savings_at_95": _num(None if oracle_95 is None else oracle_95.savings),
            "call_savings_at_95": _num(None if mine_95 is None else mine_95.call_savings),
            "savings_at_target": _num(mine.savings),
            "random_savings_at_target": _num(self.curves["random"].summary.savings),
            "oracle_savings_at_target": _num(self.curves["oracle"].summary.savings),
            "call_savings_at_target": _num(mine.call_savings),
            "knob_at_target": mine.knob_at_target,
            "n": self.n,
            "skipped": [{"line": b.line, "reason": b.reason} for b in self.skipped],
            "unmapped": {"count": len(self.unmapped), "models": dict(self.unmapped)},
            "target": self.target,
            "score_scale": None if self.scale is None
            else [0, int(self.scale) if float(self.scale).is_integer() else self.scale],
            "strong": self.strong,
            "cheap": self.cheap,
            "chosen": dict(self.chosen),
            "baselines": {k: _point_json(p) for k, p in self.baselines.items()},
            "policies": {
                name: {
                    "apgr": _num(c.summary.apgr),
                    "cpt50": _num(c.summary.cpt50),
                    "cpt80": _num(c.summary.cpt80),
                    "savings_at_95": _num(None if (a := self._at_95(c)) is None else a.savings),
                    "call_savings_at_95": _num(None if a is None else a.call_savings),
                    "savings_at_target": _num(c.summary.savings),
                    "call_savings_at_target": _num(c.summary.call_savings),
                    "cost_at_target": _money(c.summary.cost_at_target),
                    "at_target": None if c.summary.at_target is None
                    else _point_json(c.summary.at_target),
                    "points": [_point_json(p) for p in c.points],
                }
                for name, c in self.curves.items()
            },
        }
        return out


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.quantize(Decimal("1e-9")).normalize(), "f")


def _point_json(p: Point) -> dict[str, Any]:
    return {
        "knob": p.knob,
        "quality": round(p.quality, 6),
        "cost": _money(p.cost),
        "shares": {k: round(v, 6) for k, v in p.shares.items()},
    }


def summarise(
    points: Sequence[Point], *, weak: Point, strong: Point, target: float
) -> Summary:
    goal = target * strong.quality
    # Like RouteLLM's thresholds, every curve spans all-cheap to all-strong.
    anchored = [weak, *points, strong]
    reached = [p for p in points if p.quality >= goal and p.knob is not None]
    share = share_at_quality(anchored, goal)
    at = point_at_quality(anchored, goal)
    return Summary(
        apgr=apgr(anchored, weak=weak.quality, strong=strong.quality),
        cpt50=cpt(anchored, 0.5, weak=weak.quality, strong=strong.quality),
        cpt80=cpt(anchored, 0.8, weak=weak.quality, strong=strong.quality),
        savings=None if at is None or strong.cost <= 0 else float(1 - at.cost / strong.cost),
        cost_at_target=None if at is None else at.cost,
        knob_at_target=min(reached, key=lambda p: p.cost).knob if reached else None,
        call_savings=None if share is None else 1.0 - share,
        at_target=at,
    )
