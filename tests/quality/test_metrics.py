from __future__ import annotations

from decimal import Decimal

import pytest

from router.quality.metrics import Point, apgr, cost_at_quality, cpt, savings_at


def line(n: int = 10) -> list[Point]:
    # quality 0.6 -> 0.8 linearly with cost 1 -> 10 and strong share 0 -> 1
    return [Point(0.6 + 0.2 * i / n, Decimal(1) + Decimal(9) * i / n, i / n) for i in range(n + 1)]


def test_random_line_recovers_half_the_gap() -> None:
    assert apgr(line(), weak=0.6, strong=0.8) == pytest.approx(0.5)


def test_cpt_interpolates_like_routellm() -> None:
    assert cpt(line(4), 0.5, weak=0.6, strong=0.8) == pytest.approx(0.5)
    assert cpt(line(4), 0.8, weak=0.6, strong=0.8) == pytest.approx(0.8)


def test_savings_at_target_interpolates_cost() -> None:
    points = line(2)  # (0.6, 1), (0.7, 5.5), (0.8, 10)
    assert cost_at_quality(points, 0.75) == pytest.approx(Decimal("7.75"))
    assert savings_at(points, 0.75, strong_cost=Decimal(10)) == pytest.approx(0.225)
    assert savings_at(points, 0.9, strong_cost=Decimal(10)) is None


def test_first_crossing_wins_on_a_bumpy_curve() -> None:
    bumpy = [Point(0.6, Decimal(1), 0.0), Point(0.8, Decimal(2), 0.2),
             Point(0.7, Decimal(3), 0.5), Point(0.8, Decimal(10), 1.0)]
    assert cost_at_quality(bumpy, 0.8) == Decimal(2)
