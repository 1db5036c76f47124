"""Cost-quality curve metrics: APGR and CPT as RouteLLM defines them, and savings at a quality target.

RouteLLM (`routellm/evals/evaluate.py`) interpolates linearly with `np.interp` over the points of a
policy sorted by strong-call share. We do the same in pure Python, taking the first crossing of the
target when a curve is not monotone (where `np.interp` would be undefined).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = [
    "Point",
    "apgr",
    "cost_at_quality",
    "cpt",
    "point_at_quality",
    "savings_at",
    "share_at_quality",
]


@dataclass(frozen=True, slots=True)
class Point:
    """One policy at one setting: mean quality, total cost, and the share of calls per model."""

    quality: float
    cost: Decimal
    strong_share: float
    knob: float | None = None
    shares: Mapping[str, float] = field(default_factory=dict)


def _first_crossing(xs: Sequence[float], ys: Sequence[float], target: float) -> float | None:
    """Smallest x (points in the given order) at which y reaches `target`, linearly interpolated."""
    if not xs:
        return None
    if ys[0] >= target:
        return xs[0]
    for i in range(1, len(xs)):
        if ys[i] >= target:
            y0, y1 = ys[i - 1], ys[i]
            t = 1.0 if y1 == y0 else (target - y0) / (y1 - y0)
            return xs[i - 1] + t * (xs[i] - xs[i - 1])
    return None


def _by_share(points: Sequence[Point]) -> list[Point]:
    return sorted(points, key=lambda p: (p.strong_share, p.cost))


def share_at_quality(points: Sequence[Point], target: float) -> float | None:
    """Strong-call share (0-1) at which the curve first reaches quality `target`."""
    ordered = _by_share(points)
    return _first_crossing([p.strong_share for p in ordered], [p.quality for p in ordered], target)


def cpt(points: Sequence[Point], fraction: float, *, weak: float, strong: float) -> float | None:
    """RouteLLM's CPT(x%): strong-call share needed to recover `fraction` of the quality gap."""
    return share_at_quality(points, weak + fraction * (strong - weak))


def apgr(points: Sequence[Point], *, weak: float, strong: float) -> float:
    """RouteLLM's average performance gap recovered: trapezoid area over strong-call share."""
    ordered = _by_share(points)
    xs = [p.strong_share for p in ordered]
    ys = [p.quality for p in ordered]
    area = sum((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2 for i in range(1, len(xs)))
    width = xs[-1] - xs[0] if xs else 0.0
    if width <= 0 or strong == weak:
        return float("nan")
    return (area - weak * width) / ((strong - weak) * width)


def point_at_quality(points: Sequence[Point], target: float) -> Point | None:
    """Where the curve (sorted by cost) first reaches quality `target`: cost, strong share and
    shares per model interpolated linearly from the point before; the knob is the setting that
    reaches it. None when the curve never gets there."""
    ordered = sorted(points, key=lambda p: (p.cost, -p.quality))
    for i, point in enumerate(ordered):
        if point.quality >= target:
            if i == 0:
                return point
            before = ordered[i - 1]
            span = point.quality - before.quality
            t = 1.0 if span == 0 else (target - before.quality) / span
            names = dict.fromkeys([*before.shares, *point.shares])
            return Point(
                quality=target,
                cost=before.cost + Decimal(repr(t)) * (point.cost - before.cost),
                strong_share=before.strong_share + t * (point.strong_share - before.strong_share),
                knob=point.knob,
                shares={
                    name: before.shares.get(name, 0.0)
                    + t * (point.shares.get(name, 0.0) - before.shares.get(name, 0.0))
                    for name in names
                },
            )
    return None


def cost_at_quality(points: Sequence[Point], target: float) -> Decimal | None:
    """Lowest total cost at which the curve (sorted by cost) first reaches quality `target`."""
    point = point_at_quality(points, target)
    return None if point is None else point.cost


def savings_at(points: Sequence[Point], target: float, *, strong_cost: Decimal) -> float | None:
    """1 - cost / always-strong cost at quality `target`; None when the curve never reaches it."""
    cost = cost_at_quality(points, target)
    if cost is None or strong_cost <= 0:
        return None
    return float(1 - cost / strong_cost)
