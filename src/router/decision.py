"""The routing decision, as a pure function: request + deployments + budget -> ordered candidates.

Every deployment left out gets a reason (lifecycle, key, capability, context, budget, strategy), so
`str(decision)` explains the choice. No I/O happens here; `Router.complete` and `acomplete` share it.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from router.candidates import Candidate, RoutingSettings, price_candidate, static_reason
from router.deployments import Deployment
from router.errors import BudgetExceeded, InvalidRequestError, NoRouteError
from router.money import exact, format_usd
from router.reasons import NO_IMAGES, first_image
from router.strategies import Filter, RouteContext, Strategy
from router.tokens import RequestTokens
from router.types import Request

__all__ = ["DEFAULT_SETTINGS", "REJECTED", "SKIPPED", "Attempt", "Candidate", "Decision",
           "RoutingSettings", "decide"]

SKIPPED = "skipped"  # the outcome of an attempt the router chose not to make
REJECTED = "rejected"  # an answer paid for, that a check turned down (it may still be returned)
DEFAULT_SETTINGS = RoutingSettings()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call the router made while serving a request."""

    deployment: str
    model: str
    outcome: str  # "ok", the error class name, or SKIPPED (with the reason in `error`)
    error: str | None = None
    wait: float = 0.0  # seconds slept before this attempt
    latency: float = 0.0
    cost: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Decision:
    """Which deployments may serve a request, in the order they will be tried, and why others not."""

    candidates: tuple[Candidate, ...]
    excluded: Mapping[str, str]  # model name -> reason (only models with no eligible deployment)
    excluded_deployments: Mapping[str, str]  # deployment id -> reason
    strategy: str
    budget: Decimal | None = None
    max_tokens: int | None = None
    min_output_tokens: int = 16  # the least output cap the router lowers a candidate's to
    notes: tuple[str, ...] = ()
    missing_keys: tuple[str, ...] = ()  # set when no deployment had a key: a plan, not callable
    attempts: tuple[Attempt, ...] = ()
    # deployment id -> why, as a word: lifecycle, key, capability, context, budget, filter, strategy
    exclusion_kinds: Mapping[str, str] = field(default_factory=dict)
    cheapest_cost: Decimal | None = None  # least worst-case cost of any capable deployment
    models: tuple[str, ...] | None = None  # the call's `models=`; None: every configured model
    key_hint: str | None = None  # why a key that is set serves nothing (e.g. MISTRAL_API_KEY)
    # Answer checks of a cascade strategy: a rejected answer escalates to a stronger model.
    validators: tuple[Callable[..., Any], ...] = field(default=(), repr=False, compare=False)

    @property
    def spent(self) -> Decimal:
        """What every attempt cost together (failed attempts cost only tokens they received)."""
        return sum((a.cost for a in self.attempts), Decimal(0))

    @property
    def chosen(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def model(self) -> str | None:
        return self.candidates[0].model if self.candidates else None

    @property
    def deployment(self) -> str | None:
        return self.candidates[0].deployment if self.candidates else None

    def __str__(self) -> str:
        lines = []
        budget = f" within {format_usd(self.budget)}" if self.budget is not None else ""
        if self.chosen:
            c = self.chosen
            lines.append(
                f"{c.model} via {c.deployment} ({self.strategy}{budget}): "
                f"est. {format_usd(c.estimated_cost)}, worst case {format_usd(c.worst_case_cost)} "
                f"for {c.input_tokens} input + up to {c.max_output_tokens} output tokens"
            )
        else:
            lines.append(f"no deployment can take this request ({self.strategy}{budget})")
        for i, c in enumerate(self.candidates[1:], start=2):
            lines.append(
                f"  {i}. {c.model} via {c.deployment}: est. {format_usd(c.estimated_cost)}, "
                f"worst {format_usd(c.worst_case_cost)}"
            )
        for dep, reason in self.excluded_deployments.items():
            lines.append(f"  - {dep}: {reason}")
        lines += [f"  note: {n}" for n in self.notes]
        for a in self.attempts:
            if a.outcome == SKIPPED:
                lines.append(f"  skipped {a.deployment}: {a.error}")
                continue
            lines.append(
                f"  attempt {a.deployment}: {a.outcome}"
                + (f" ({a.error})" if a.error else "")
                + (f" after waiting {a.wait:.2f}s" if a.wait else "")
                + f", cost {format_usd(a.cost)}"
            )
        return "\n".join(lines)

    def evolve(self, **changes: Any) -> Decision:
        """A copy with `changes`; cheaper than `dataclasses.replace` on the per-request path."""
        if not _DECISION_FIELD_SET.issuperset(changes):
            unknown = changes.keys() - _DECISION_FIELD_SET
            raise TypeError(f"Decision has no field(s) {', '.join(unknown)}")
        new = object.__new__(Decision)
        for name, value in zip(_DECISION_FIELDS, _decision_values(self)):  # noqa: B905 (same length)
            _set(new, name, value)
        for name, value in changes.items():
            _set(new, name, value)
        return new

    def require_streamable(self) -> None:
        """Raise if the strategy needs whole answers (a cascade's checks) to work."""
        if self.validators:
            raise InvalidRequestError(
                f"strategy {self.strategy!r} checks whole answers before escalating, which a "
                "stream has already shown; use complete()/acomplete(), or another strategy",
                field="strategy",
            )

    def require_route(self) -> Candidate:
        """The first candidate, or the error that explains why there is none."""
        if self.candidates:
            return self.candidates[0]
        raise _no_route_error(self)


_DECISION_FIELDS = Decision.__slots__
_DECISION_FIELD_SET = frozenset(_DECISION_FIELDS)
_decision_values = operator.attrgetter(*_DECISION_FIELDS)
_set = object.__setattr__

Check = Callable[[Deployment, RouteContext], str | None]


@exact
def decide(
    request: Request,
    deployments: Sequence[Deployment],
    *,
    strategy: Strategy,
    budget: Decimal | None,
    today: dt.date,
    settings: RoutingSettings = DEFAULT_SETTINGS,
    models: Collection[str] | None = None,
    unavailable: Mapping[str, str] | None = None,
    filters: Sequence[Filter] = (),
    tokens: RequestTokens | None = None,
    deployment_budgets: Mapping[str, Decimal] | None = None,
) -> Decision:
    """Pick and order the deployments for `request`. Pure: the same inputs give the same decision.

    `deployment_budgets` (deployment id -> USD) caps single deployments below `budget`: what is
    left of shared budgets scoped to a model or a deployment.
    """
    if models is not None:
        known = {d.model for d in deployments}
        unknown = [m for m in models if m not in known]
        if unknown:
            raise InvalidRequestError(
                f"no deployment serves {', '.join(map(repr, unknown))}; "
                f"configured models: {', '.join(sorted(known))}",
                field="models",
            )
    ctx = RouteContext(request, budget, today, tokens or RequestTokens(request),
                       expected_output_tokens=settings.expected_output_tokens)
    excluded: dict[str, str] = {}
    kinds: dict[str, str] = {}
    capable: list[Candidate] = []
    keyed = any(d.has_key for d in deployments if models is None or d.model in models)
    image_at = first_image(request) if request.has_images else None
    own_budgets = deployment_budgets or {}
    cheapest_needed: Decimal | None = None
    for dep in deployments:
        if models is not None and dep.model not in models:
            continue
        kind, reason = static_reason(dep, request, today, keyed, unavailable, image_at)
        if reason is None:
            own = own_budgets.get(dep.id) if own_budgets else None
            limit = own if budget is None or (own is not None and own < budget) else budget
            cand, kind, reason, needed = price_candidate(dep, ctx, settings, limit)
            if needed is not None and (cheapest_needed is None or needed < cheapest_needed):
                cheapest_needed = needed
            if cand is not None:
                for flt in filters:
                    reason = flt(cand, ctx)
                    if reason:
                        kind = "filter"
                        break
                else:
                    capable.append(cand)
        if reason:
            excluded[dep.id] = reason
            kinds[dep.id] = kind
    ranking = strategy.rank(capable, ctx) if capable else None
    order: tuple[Candidate, ...] = ()
    notes: list[str] = []
    if ranking is not None:
        excluded.update(ranking.excluded)
        kinds.update(dict.fromkeys(ranking.excluded, "strategy"))
        order = _group_by_model(ranking.order)
        notes += ranking.notes
    notes += [
        f"the {name} tokenizer is not installed: input tokens counted as UTF-8 bytes, an upper "
        "bound, so estimates run high (pip install 'router[tokenizers]' for exact counts)"
        for name in ctx.tokens.byte_bound
    ]
    if order and order[0].output_capped:
        c = order[0]
        notes.append(
            f"max_tokens was not set: output capped at {c.max_output_tokens} tokens "
            f"so the worst case fits the budget"
        )
    # Only keys that would help: those of the deployments that would serve, best first (not of
    # other models', nor of retired or incapable deployments).
    missing = () if keyed else tuple(
        dict.fromkeys(c.target.key_env or c.deployment for c in order if not c.target.has_key)
    )
    served = {c.model for c in order}
    by_model: dict[str, list[str]] = {}
    for dep in deployments:
        if dep.model not in served and dep.id in excluded:
            by_model.setdefault(dep.model, []).append(dep.id)
    model_reasons = {
        model: _summarise([excluded[d] for d in ids], ids) for model, ids in by_model.items()
    }
    return Decision(
        candidates=order,
        excluded=model_reasons,
        excluded_deployments=excluded,
        strategy=strategy.name,
        budget=budget,
        max_tokens=request.max_tokens,
        min_output_tokens=settings.min_output_tokens,
        notes=tuple(notes),
        missing_keys=missing,
        exclusion_kinds=kinds,
        cheapest_cost=cheapest_needed,
        models=None if models is None else tuple(models),
        validators=tuple(getattr(strategy, "validators", ())),
    )


def _group_by_model(order: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """Keep the strategy's order of models, but try every deployment of a model before the next."""
    if len(order) < 2:
        return tuple(order)
    groups: dict[str, list[Candidate]] = {}
    for c in order:
        groups.setdefault(c.model, []).append(c)
    return tuple(c for group in groups.values() for c in group)


def _summarise(reasons: list[str], ids: list[str]) -> str:
    unique = list(dict.fromkeys(reasons))
    if len(unique) == 1:
        return unique[0]
    return "; ".join(f"{i}: {r}" for i, r in zip(ids, reasons, strict=True))


def _no_route_error(decision: Decision) -> NoRouteError:
    detail = "; ".join(f"{m}: {r}" for m, r in decision.excluded.items()) or "no deployments"
    if "budget" in decision.exclusion_kinds.values():
        budget = decision.budget if decision.budget is not None else Decimal(0)
        cheapest = decision.cheapest_cost
        needed = f"; the cheapest possible costs {format_usd(cheapest)}" if cheapest else ""
        return BudgetExceeded(
            f"no model fits the budget {format_usd(budget)}{needed} ({detail}). "
            "Raise the budget or lower max_tokens.",
            decision=decision,
            budget="request",
            limit=budget,
            remaining=budget,
            cheapest_cost=cheapest,
        )
    fix = ""
    if any(r.startswith(NO_IMAGES) for r in decision.excluded_deployments.values()):
        fix = (". Configure a deployment of a model that takes images (such as gpt-4o-mini), "
               "or remove the image")
    return NoRouteError(f"no deployment can take this request: {detail}{fix}", decision=decision)
