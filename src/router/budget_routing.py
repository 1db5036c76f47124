"""Routing within what is left of the shared budgets, as a pure function: `reject` budgets refuse
a call that would not fit, `downgrade` budgets route among the models that still fit, and paced
budgets that run ahead prefer cheaper models.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from router.budgets import Applied, Bucket, OnExceed, pace, remaining
from router.decision import Candidate, Decision
from router.errors import BudgetExceeded, NoRouteError
from router.ledger.base import Balance, Limit
from router.money import format_usd

__all__ = ["Choice", "Decide", "cheaper_first", "choose"]

def cheaper_first(decision: Decision, note: str) -> Decision:
    """The same candidates, cheapest estimate first (a model's deployments stay together)."""
    ranked = sorted(decision.candidates, key=lambda c: (c.estimated_cost, c.worst_case_cost))
    groups: dict[str, list[Candidate]] = {}
    for c in ranked:
        groups.setdefault(c.model, []).append(c)
    order = tuple(c for group in groups.values() for c in group)
    return dataclasses.replace(decision, candidates=order, notes=(*decision.notes, note))


Decide = Callable[[Decimal | None, Mapping[str, Decimal]], Decision]


@dataclass(frozen=True, slots=True)
class Choice:
    """The decision to carry out, and the limits its reservation must fit in."""

    decision: Decision
    limits: tuple[Limit, ...]


def choose(decide: Decide, *, budget: Decimal | None, applied: Applied,
           balances: Mapping[str, Balance], now: dt.datetime) -> Choice:
    """Route within what is left of every budget in scope, or raise `BudgetExceeded` naming the
    budget that tripped. `decide(budget, per_deployment_budgets)` is the pure routing decision."""
    left = {b.name: remaining(b, balances) for b in applied}

    def room(buckets: Iterable[Bucket], start: Decimal | None) -> Decimal | None:
        amounts = [left[b.name] for b in buckets]
        if start is not None:
            amounts.append(start)
        return min(amounts) if amounts else None

    def per_deployment(kinds: tuple[OnExceed, ...]) -> dict[str, Decimal]:
        out = {}
        for dep, buckets in applied.by_deployment.items():
            amount = room((b for b in buckets if b.budget.on_exceed in kinds), None)
            if amount is not None:
                out[dep] = amount
        return out

    down = (OnExceed.DOWNGRADE,)
    common_down = room((b for b in applied.common if b.budget.on_exceed is OnExceed.DOWNGRADE),
                       budget)
    preferred = _paced(decide(common_down, per_deployment(down)), applied, balances, now)
    rejecting = [b for b in applied.common if b.budget.on_exceed is OnExceed.REJECT]
    decision = preferred
    if any(b.budget.on_exceed is OnExceed.REJECT for b in applied):
        cap, per_all = room(rejecting, common_down), per_deployment(tuple(OnExceed))
        if _all_fit(preferred, cap, per_all):  # deciding again would change only the budget
            decision = preferred.evolve(budget=cap)
        else:
            decision = _paced(decide(cap, per_all), applied, balances, now)
        first = preferred.chosen
        if first is not None and (decision.chosen is None or decision.chosen.model != first.model):
            raise _rejected(first, applied, left, preferred)
    if decision.chosen is None:
        raise _no_room(decision, applied, left, budget)
    buckets = applied.for_candidate(decision.chosen.deployment)
    return Choice(decision, tuple(b.limit for b in buckets))


def _all_fit(decision: Decision, cap: Decimal | None, per: Mapping[str, Decimal]) -> bool:
    """Every candidate's worst case already fits `cap` and its deployment's own room."""
    for c in decision.candidates:
        own = per.get(c.deployment)
        if (cap is not None and c.worst_case_cost > cap) or (own is not None
                                                            and c.worst_case_cost > own):
            return False
    return bool(decision.candidates)


def _paced(decision: Decision, applied: Applied, balances: Mapping[str, Balance],
           now: dt.datetime) -> Decision:
    if decision.chosen is None:
        return decision
    for bucket in applied.for_candidate(decision.chosen.deployment):
        note = pace(bucket, balances, now)
        if note:
            return cheaper_first(decision, note)
    return decision


def _rejected(first: Candidate, applied: Applied, left: Mapping[str, Decimal],
              decision: Decision) -> BudgetExceeded:
    buckets = [b for b in applied.for_candidate(first.deployment)
               if b.budget.on_exceed is OnExceed.REJECT]
    tight = min(buckets, key=lambda b: left[b.name])
    rest = left[tight.name]
    return BudgetExceeded(
        f"budget {tight.name!r} has {format_usd(rest)} left of {format_usd(tight.limit.limit)}; "
        f"{first.model} needs up to {format_usd(first.worst_case_cost)} for this request "
        "(on_exceed: reject; use on_exceed: downgrade to route to a cheaper model instead)",
        decision=decision, budget=tight.name, limit=tight.limit.limit, remaining=rest,
        cheapest_cost=first.worst_case_cost,
    )


def _no_room(decision: Decision, applied: Applied, left: Mapping[str, Decimal],
             budget: Decimal | None) -> NoRouteError:
    try:
        decision.require_route()
    except BudgetExceeded as exc:
        buckets = list(applied)
        if not buckets:
            return exc
        tight = min(buckets, key=lambda b: left[b.name])
        rest = left[tight.name]
        if budget is not None and budget <= rest:
            return exc  # the per-request budget is the tighter one
        cheapest = f"; the cheapest possible costs {format_usd(exc.cheapest_cost)}" if (
            exc.cheapest_cost is not None) else ""
        return BudgetExceeded(
            f"budget {tight.name!r} has {format_usd(rest)} left of "
            f"{format_usd(tight.limit.limit)}: no model fits{cheapest}",
            decision=decision, budget=tight.name, limit=tight.limit.limit, remaining=rest,
            cheapest_cost=exc.cheapest_cost,
        )
    except NoRouteError as exc:  # not about money
        return exc
    raise AssertionError("a decision without candidates always has an error")
