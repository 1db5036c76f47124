"""One deployment as a candidate for one request: whether it can take it at all, what it would
cost there with which output cap, and how that cap shrinks to fit what a budget leaves. Pure."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from router.catalog import ModelSpec
from router.deployments import Deployment, LifecycleState
from router.money import format_usd
from router.pricing import max_output_within, worst_case_cost
from router.reasons import NO_IMAGES, too_long
from router.strategies import RouteContext
from router.types import Request

__all__ = ["Candidate", "RoutingSettings", "price_candidate", "static_reason"]


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """Knobs of the decision that are not per call."""

    expected_output_tokens: int = 256  # how "estimated cost" prices output when max_tokens is unset
    min_output_tokens: int = 16  # below this, capping the output to fit a budget is pointless


@dataclass(frozen=True, slots=True)
class Candidate:
    """One deployment that can take the request, with what it would cost there."""

    model: str
    deployment: str
    input_tokens: int
    max_output_tokens: int  # the cap that will be sent
    worst_case_cost: Decimal
    estimated_cost: Decimal  # output priced at max_tokens, or at expected_output_tokens if unset
    output_capped: bool = False  # the router lowered the output cap to fit the budget
    target: Deployment = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    @property
    def spec(self) -> ModelSpec:
        return self.target.spec

    def after(self, spent: Decimal, budget: Decimal | None, *, may_cap: bool,
              min_output_tokens: int) -> Candidate:
        """This candidate for an attempt after `spent` of `budget`: `within` what is left when
        it does not fit whole, else (or when it cannot fit at all) as it is."""
        if budget is None or spent + self.worst_case_cost <= budget:
            return self
        fitted = self.within(budget - spent, may_cap=may_cap, min_output_tokens=min_output_tokens)
        return self if fitted is None else fitted

    def cap_note(self, spent: Decimal) -> str:
        """What a decision notes when an attempt goes out with this (lowered) cap."""
        return (f"{self.deployment}: output capped at {self.max_output_tokens} tokens (worst case "
                f"{format_usd(self.worst_case_cost)}) to fit what the budget had left after "
                f"{format_usd(spent)} spent")

    def within(self, left: Decimal, *, may_cap: bool, min_output_tokens: int) -> Candidate | None:
        """This candidate if its worst case fits in `left` USD; else, when the router chose its
        output cap (`may_cap`: the request set no max_tokens), the same with the cap lowered to
        fit, if that still leaves `min_output_tokens`; else `None`. A fallback or an escalation
        after money was spent gets what is left of the budget, not nothing."""
        if self.worst_case_cost <= left:
            return self
        if not may_cap:
            return None
        price = self.target.price
        cap = min(self.max_output_tokens, max_output_within(price, self.input_tokens, left))
        if cap < min_output_tokens:
            return None
        return dataclasses.replace(
            self, max_output_tokens=cap, output_capped=True,
            worst_case_cost=worst_case_cost(price, self.input_tokens, cap),
            estimated_cost=min(self.estimated_cost, worst_case_cost(price, self.input_tokens, cap)),
        )



def static_reason(
    dep: Deployment,
    request: Request,
    today: dt.date,
    keyed: bool,
    unavailable: Mapping[str, str] | None,
    image_at: str | None,
) -> tuple[str, str | None]:
    """Why `dep` cannot take `request` whatever it costs (kind, reason), else `("", None)`."""
    if unavailable and dep.id in unavailable:
        return "unavailable", unavailable[dep.id]
    if dep.lifecycle_state(today) is LifecycleState.RETIRED:
        life = dep.lifecycle
        assert life is not None
        assert life.shutdown_on is not None
        hint = life.hint()
        return "lifecycle", f"retired on {dep.host} since {life.shutdown_on.isoformat()}{hint}"
    if keyed and not dep.has_key:
        return "key", "no API key" + (f" (set {dep.key_env})" if dep.key_env else "")
    spec = dep.spec
    if image_at and not spec.takes_images:
        return "capability", f"{NO_IMAGES} ({image_at} is an image)"
    if request.tools and not spec.capabilities.tools:
        return "capability", "does not support tools"
    if request.response_format is not None and not spec.capabilities.structured_output:
        return "capability", "does not support structured output"
    if request.max_tokens is not None and request.max_tokens > dep.max_output_tokens:
        return "capability", (
            f"max_tokens {request.max_tokens} exceeds its max output of {dep.max_output_tokens}"
        )
    return "", None


def price_candidate(
    dep: Deployment, ctx: RouteContext, settings: RoutingSettings, budget: Decimal | None
) -> tuple[Candidate | None, str, str | None, Decimal | None]:
    """The candidate with its output cap and costs, or why it cannot fit (and what it would need)."""
    request = ctx.request
    input_tokens = ctx.tokens.for_model(dep.spec)
    room = dep.context_window - input_tokens
    wanted = request.max_tokens or settings.min_output_tokens
    if room < wanted:
        return None, "context", too_long(input_tokens, wanted, dep.context_window,
                                         min(wanted, settings.min_output_tokens)), None
    price = dep.price
    cap = request.max_tokens or min(dep.max_output_tokens, room)
    capped = False
    needed = worst_case_cost(price, input_tokens, wanted)
    if budget is not None:
        worst = worst_case_cost(price, input_tokens, cap)
        if worst > budget:
            if request.max_tokens is not None:
                return None, "budget", (
                    f"worst case {format_usd(worst)} exceeds the budget {format_usd(budget)}"
                ), needed
            cap = min(cap, max_output_within(price, input_tokens, budget))
            if cap < settings.min_output_tokens:
                return None, "budget", (
                    f"even {settings.min_output_tokens} output tokens would cost "
                    f"{format_usd(needed)}, over the budget {format_usd(budget)}"
                ), needed
            capped = True
    expected = min(cap, request.max_tokens or settings.expected_output_tokens)
    cand = Candidate(
        model=dep.model,
        deployment=dep.id,
        input_tokens=input_tokens,
        max_output_tokens=cap,
        worst_case_cost=worst_case_cost(price, input_tokens, cap),
        estimated_cost=worst_case_cost(price, input_tokens, expected),
        output_capped=capped,
        target=dep,
    )
    return cand, "", None, needed
