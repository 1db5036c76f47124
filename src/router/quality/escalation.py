"""A cascade's call: each answer is checked, a rejected one (paid for) escalates to a stronger
model within the budget, and when no stronger model can answer, the paid answer is returned.

The call state of `router.calls` with the cascade's decisions added; no I/O, like its base.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from router import pricing
from router.calls import CallState, Fail, Try
from router.decision import REJECTED, Attempt, Candidate
from router.errors import AnswerCheckError, NoRouteError, ProviderError, ResponseError, RouterError
from router.money import callers_context
from router.pricing import actual_cost
from router.quality.cascade import check_answer
from router.strategies import general_quality
from router.types import Completion, Reply

__all__ = ["CascadeCall"]


@dataclass(frozen=True, slots=True)
class _Kept:
    """A rejected answer, paid for: returned if the escalation cannot succeed."""

    action: Try
    completion: Completion
    reason: str  # why the check rejected it
    at: int  # its attempt's index


class CascadeCall(CallState):
    """Checks every answer with the decision's validators before it becomes the reply.

    A rejected answer is paid for and recorded (`outcome="rejected"`), and the first later
    candidate of a stronger model whose worst case fits the budget after what was spent is tried
    next. With none left, or when the escalation cannot succeed (every stronger candidate skipped
    by a shared budget, the breaker or a missing key; failed; out of time), the caller gets the last
    rejected answer rather than an error: its attempt becomes "ok", with a note saying why the
    check rejected it and why it was not escalated, and the reply's cost includes every attempt.
    """

    _kept: _Kept | None = None

    def accept(self, action: Try, completion: Completion) -> Reply | None:
        candidate = action.candidate
        try:
            with callers_context():  # user checks run in the app's decimal context
                verdict = check_answer(completion, self.request, self.decision.validators)
        except AnswerCheckError as exc:  # the answer was paid for: book it and say so
            cost = self._cost_of(candidate, completion)
            self.spent += cost
            self.attempts.append(Attempt(
                deployment=candidate.deployment, model=candidate.model,
                outcome=type(exc).__name__, error=str(exc), wait=action.wait,
                latency=completion.latency, cost=cost))
            exc.cost, exc.decision = self.spent, self.record()
            raise
        if verdict.ok:
            return self.succeeded(action, completion)
        cost = self._cost_of(candidate, completion)
        stronger = self._stronger_than(candidate, self.spent + cost)
        if stronger is None:
            left = " within the budget" if self.decision.budget is not None else ""
            return self.succeeded(action, completion, note=(
                f"kept although the answer check failed ({verdict.reason}): no stronger model "
                f"is left{left}"))
        self.spent += cost
        self.attempts.append(Attempt(
            deployment=candidate.deployment, model=candidate.model, outcome=REJECTED,
            error=verdict.reason, wait=action.wait, latency=completion.latency, cost=cost,
        ))
        self._kept = _Kept(action, completion, verdict.reason, len(self.attempts) - 1)
        self._last_error = None  # an answer came after it
        if self.resilience.breaker is not None:  # the deployment worked; the answer was weak
            self.resilience.breaker.record_success(candidate.deployment)
        self._next = self._plan(stronger)
        return None

    def _stronger_than(self, current: Candidate, spent: Decimal) -> int | None:
        """The first later candidate of a better model (catalog quality) that the budget allows
        after what was spent (the current answer included)."""
        floor, budget = general_quality(current.spec), self.decision.budget
        for index in range(self._index + 1, len(self.decision.candidates)):
            candidate = self.decision.candidates[index]
            if (candidate.model != current.model and general_quality(candidate.spec) > floor
                    and candidate.target.has_key
                    and (budget is None
                         or spent + self.fitted(candidate, spent).worst_case_cost <= budget)):
                return index  # the breaker is asked by _plan, which may skip on to the next
        return None

    @staticmethod
    def _cost_of(candidate: Candidate, completion: Completion) -> Decimal:
        return actual_cost(candidate.target.price, pricing.answer_usage(candidate, completion))

    # -- when the escalation cannot succeed ------------------------------------------------------

    def _exhausted(self) -> Fail:
        kept = self._kept
        if kept is None or self._last_error is not None:
            return super()._exhausted()
        # every stronger candidate was skipped (a shared budget, the breaker, a missing key)
        skipped = "; ".join(f"{a.deployment}: {a.error}" for a in self.attempts[kept.at + 1:])
        return self._keep(f"no stronger model could be called ({skipped})",
                          NoRouteError(f"every stronger candidate was skipped: {skipped}"))

    def _fail(self, error: ProviderError) -> Fail:
        fail = super()._fail(error)
        if self._kept is None:
            return fail
        return self._keep(f"the escalation failed ({error})", error)

    def _keep(self, why: str, error: RouterError) -> Fail:
        """Return the kept answer instead of `error`; its attempt becomes "ok", saying why."""
        kept, self._kept = self._kept, None
        assert kept is not None
        candidate = kept.action.candidate
        attempt = dataclasses.replace(
            self.attempts[kept.at], outcome="ok",
            error=f"kept although the answer check failed ({kept.reason}): {why}")
        usage = pricing.answer_usage(candidate, kept.completion)
        try:
            reply = self._reply(candidate, kept.completion, usage, attempt, at=kept.at)
        except ResponseError as exc:  # not in the shape asked for either: raise that
            return Fail(exc)
        return Fail(error, reply)
