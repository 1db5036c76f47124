"""The state of one routed call, shared by the sync and async shells: no I/O, no sleeping.

A shell asks `next_action()` what to do (call a candidate after a wait, or stop with an error),
carries it out, and reports back with `succeeded()`, `failed()` or `interrupted()`. Retries,
fallbacks, circuit breaking, deadlines and the budget across attempts are decided here, once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from decimal import Decimal

from tenacity import RetryCallState

from router import pricing
from router.actions import Fail, Try
from router.decision import SKIPPED, Attempt, Candidate, Decision
from router.errors import (
    MissingKeyError,
    NoRouteError,
    ProviderError,
    ProviderTimeout,
    ResponseError,
    StreamError,
)
from router.money import format_usd
from router.pricing import actual_cost
from router.providers.base import CallOptions
from router.reasons import missing_keys
from router.resilience import Resilience, counts_against, falls_back, out_of_time
from router.structured import parse_answer
from router.types import Completion, Reply, Request, Usage

__all__ = ["SKIPPED", "CallState", "Fail", "Try", "call_state"]

log = logging.getLogger("router")

_MIN_ATTEMPT = 0.001  # seconds: less than this left before the deadline is no time at all
_ZERO = Decimal(0)


def call_state(request: Request, decision: Decision, *,
               resilience: Resilience | None = None) -> CallState:
    """The state of a call on `decision`: a cascade's (which checks answers) if it has checks."""
    if decision.validators:
        from router.quality.escalation import CascadeCall

        return CascadeCall(request, decision, resilience=resilience)
    return CallState(request, decision, resilience=resilience)


class CallState:
    """Walks a decision's candidates for one request and turns the outcome into a `Reply`.

    Each candidate is retried per `resilience.retry` while its errors are retryable; then, if the
    error is the deployment's fault, the next candidate is tried, provided the money already spent
    plus its worst case stays within the decision's budget and its circuit is not open. No
    attempt starts after the overall deadline, and each gets at most the time that is left. The
    deadline counts from the first `next_action()`: a stream starts when it is first read.
    """

    def __init__(self, request: Request, decision: Decision, *,
                 resilience: Resilience | None = None):
        self.request = request
        self.decision = decision
        self.resilience = resilience if resilience is not None else Resilience()
        self.attempts: list[Attempt] = []
        self.spent = _ZERO
        self._clock = self.resilience.monotonic
        self._started = self._clock()
        self._index = -1
        self._retry: RetryCallState | None = None  # made on the first failure of a deployment
        self._tried_since = self._started  # when the current deployment was first planned
        self._last_error: ProviderError | None = None
        chosen = decision.require_route()
        self._next: Try | Fail | None = None  # None: the first attempt is planned when asked for
        self._asked = False
        self._notes: list[str] = []  # what the attempts changed in the plan (a lowered cap)
        self._begun = True
        if decision.missing_keys:
            self._next = Fail(MissingKeyError(missing_keys(decision)))
        elif not chosen.target.has_key:
            self._next = Fail(MissingKeyError(chosen.target.missing_key_hint()))
        else:
            self._begun = False

    def options_for(self, candidate: Candidate, remaining: float | None = None, *,
                    begins: float | None = None) -> CallOptions:
        timeout = self.resilience.timeouts.attempt_timeout(candidate.target.timeout, remaining)
        return CallOptions(max_tokens=candidate.max_output_tokens, timeout=timeout, total=remaining,
                           begins=begins)

    @property
    def started(self) -> bool:
        """Whether the call has been asked for its first action (a stream iterated)."""
        return self._asked

    def next_action(self) -> Try | Fail:
        self._asked = True
        action = self._next
        if action is None and not self._begun:  # the request starts now: so does its deadline
            self._begun = True
            self._started = self._tried_since = self._clock()
            action = self._next = self._plan(0)
        assert action is not None, "next_action() called after the call finished"
        return action

    def record(self) -> Decision:
        """The decision with every attempt made (or skipped) so far."""
        extra = {"notes": self.decision.notes + tuple(self._notes)} if self._notes else {}
        return self.decision.evolve(attempts=tuple(self.attempts), **extra)

    def remaining(self) -> float | None:
        """Seconds left before the overall deadline (`None`: no deadline)."""
        total = self.resilience.timeouts.total
        return None if total is None else total - (self._clock() - self._started)

    def overdue(self, action: Try) -> ProviderTimeout | None:
        """The error that stops a stream once the overall deadline has passed, else `None` (checked
        between chunks; `router.providers.http` checks it between bytes, e.g. keep-alive comments)."""
        total = self.resilience.timeouts.total
        if total is None or self._clock() - self._started < total:
            return None
        candidate = action.candidate
        return ProviderTimeout(
            f"the request's deadline of {total:g}s passed while streaming (raise timeouts.total "
            "for longer answers)",
            provider=candidate.target.provider, deployment=candidate.deployment)

    # -- planning -----------------------------------------------------------------------------

    def _plan(self, index: int, wait: float = 0.0) -> Try | Fail:
        """The next call: candidate `index` after `wait` (a retry when it is the current one),
        else the first later candidate that may be called now."""
        candidates = self.decision.candidates
        # Without fallbacks a request never leaves its first deployment, even when it is skipped.
        end = len(candidates) if self.resilience.retry.fallbacks else max(self._index, 0) + 1
        total = self.resilience.timeouts.total
        while index < end:
            candidate = self.fitted(candidates[index], self.spent)
            now = self._clock()
            remaining = None if total is None else total - (now - self._started)
            if remaining is not None and remaining - wait < _MIN_ATTEMPT:
                if wait and index == self._index:  # no time to wait for a retry: move on
                    self._give_up_on(candidate, "the deadline leaves no time to wait for a retry")
                    index, wait = index + 1, 0.0
                    continue
                return self._deadline_passed()
            reason = self._skip_reason(candidate)
            if reason is None:
                if candidate is not candidates[index]:
                    self._notes.append(candidate.cap_note(self.spent))
                if index != self._index:
                    self._index = index
                    self._retry, self._tried_since = None, now
                left = None if remaining is None else remaining - wait
                # its clock starts now, not when the adapter sends: a first SDK client counts too
                begins = time.monotonic() + wait  # the clock of the HTTP deadlines
                return Try(candidate, self.options_for(candidate, left, begins=begins), wait)
            self._skip(candidate, reason)
            index, wait = index + 1, 0.0
        return self._exhausted()

    def fitted(self, candidate: Candidate, spent: Decimal) -> Candidate:
        """`candidate` for an attempt after `spent`, its cap lowered to fit the budget's rest when
        the router chose it (`Candidate.after`); `_skip_reason` says why one does not fit."""
        return candidate.after(spent, self.decision.budget, may_cap=self.request.max_tokens is None,
                               min_output_tokens=self.decision.min_output_tokens)

    def _skip_reason(self, candidate: Candidate) -> str | None:
        """Why `candidate` may not be called now, or `None`. The breaker is asked last, because
        asking may claim its half-open probe."""
        if not candidate.target.has_key:
            return candidate.target.missing_key_hint()
        budget = self.decision.budget
        if budget is not None and self.spent + candidate.worst_case_cost > budget:
            return (
                f"spent {format_usd(self.spent)} + worst case "
                f"{format_usd(candidate.worst_case_cost)} would exceed the budget {format_usd(budget)}"
            )
        breaker = self.resilience.breaker
        return None if breaker is None else breaker.acquire(candidate.deployment)

    def _skip(self, candidate: Candidate, reason: str) -> None:
        log.info("skipping %s: %s", candidate.deployment, reason)
        self.attempts.append(Attempt(
            deployment=candidate.deployment, model=candidate.model, outcome=SKIPPED, error=reason,
        ))

    def _give_up_on(self, candidate: Candidate, reason: str) -> None:
        """Note on the last attempt why its deployment is not retried."""
        log.info("giving up on %s: %s", candidate.deployment, reason)
        if self.attempts and self.attempts[-1].deployment == candidate.deployment:
            last = self.attempts[-1]
            self.attempts[-1] = dataclasses.replace(last, error=f"{last.error}; not retried: {reason}")

    def _deadline_passed(self) -> Fail:
        total = self.resilience.timeouts.total
        made = sum(a.outcome != SKIPPED for a in self.attempts)
        last = self._last_error
        error = ProviderTimeout(
            f"the request's deadline of {total:g}s passed after {made} attempt"
            f"{'s' if made != 1 else ''}" + (f"; last error: {last}" if last else ""),
            provider=last.provider if last else None,
            deployment=last.deployment if last else None,
        )
        error.__cause__ = last
        return self._fail(error)

    def _exhausted(self) -> Fail:
        if self._last_error is not None:
            return self._fail(self._last_error)
        skipped = "; ".join(f"{a.deployment}: {a.error}" for a in self.attempts)
        return Fail(NoRouteError(f"every candidate was skipped: {skipped}", decision=self.record()))

    def _fail(self, error: ProviderError) -> Fail:
        """Give up with `error`, carrying the decision and what the request spent in all."""
        if self.spent:
            error.cost = self.spent
        error.decision = self.record()
        return Fail(error)

    # -- outcomes -------------------------------------------------------------------------------

    def skipped(self, action: Try, reason: str) -> None:
        """The shell could not start `action` (e.g. a shared budget would not cover
        `spent + action.candidate.worst_case_cost`): record it as skipped, plan what is next."""
        if self.resilience.breaker is not None:  # a probe it claimed is free for the next
            self.resilience.breaker.release(action.candidate.deployment)
        self._skip(action.candidate, reason)
        self._next = self._plan(self._index + 1)

    def failed(self, action: Try, error: ProviderError, *, latency: float = 0.0,
               cost: Decimal | None = None) -> None:
        """Record a failed attempt and decide what comes next. It is billed `cost` (tokens
        received), else at the usage the error reports (a whole answer that could not be used)."""
        candidate = action.candidate
        if cost is None:
            cost = _ZERO if error.usage is None else actual_cost(candidate.target.price, error.usage)
        if cost:
            error.cost = cost
        self.spent += cost
        self.attempts.append(Attempt(
            deployment=candidate.deployment, model=candidate.model,
            outcome=type(error).__name__, error=str(error), wait=action.wait,
            latency=latency, cost=cost,
        ))
        log.info("attempt on %s failed: %s", candidate.deployment, type(error).__name__)
        self._last_error = error
        breaker = self.resilience.breaker
        if breaker is not None:
            if counts_against(error) and not out_of_time(error, self.remaining()):
                breaker.record_failure(candidate.deployment, error)
            else:  # says nothing of the deployment: a probe it made is free for the next
                breaker.release(candidate.deployment)
        policy = self.resilience.retry
        if self._retry is None:
            self._retry = policy.start(self._tried_since)
        verdict = policy.after_failure(self._retry, error, self._clock())
        if not isinstance(verdict, str):
            self._next = self._plan(self._index, wait=verdict)
            return
        if policy.fallbacks and falls_back(error):
            self._give_up_on(candidate, verdict)
            self._next = self._plan(self._index + 1)
        else:
            self._next = self._fail(error)

    def accept(self, action: Try, completion: Completion) -> Reply | None:
        """An answer came: the reply (`succeeded`). A cascade (`router.quality.escalation`) first
        checks it, and `None` says a stronger model is to be tried next."""
        return self.succeeded(action, completion)

    def succeeded(self, action: Try, completion: Completion, *, note: str | None = None) -> Reply:
        """Price the completion and build the reply, with every attempt in its decision."""
        candidate = action.candidate
        usage = pricing.answer_usage(candidate, completion)
        cost = actual_cost(candidate.target.price, usage)
        self.spent += cost
        if cost > candidate.worst_case_cost:
            log.warning(
                "%s reported usage above the worst case the router allowed (%s > %s)",
                candidate.deployment, format_usd(cost), format_usd(candidate.worst_case_cost),
            )
        if self.resilience.breaker is not None:
            self.resilience.breaker.record_success(candidate.deployment)
        self._next = None
        return self._reply(candidate, completion, usage, Attempt(
            deployment=candidate.deployment, model=candidate.model, outcome="ok", error=note,
            wait=action.wait, latency=completion.latency, cost=cost,
        ))

    def _reply(self, candidate: Candidate, completion: Completion, usage: Usage, attempt: Attempt,
               *, at: int | None = None) -> Reply:
        """The reply, with `attempt` recorded (appended, or in place of attempt `at`). An answer
        not in the shape asked for raises `ResponseError`, answered and billed all the same."""
        try:
            parsed = parse_answer(self.request, candidate, completion)
        except ResponseError as exc:
            exc.usage, exc.cost = usage, self.spent
            self._record(dataclasses.replace(attempt, outcome=type(exc).__name__, error=str(exc)),
                         at)
            exc.decision = self.record()
            raise
        self._record(attempt, at)
        decision = self.record()
        return Reply(
            text=completion.text,
            model=candidate.model,
            deployment=candidate.deployment,
            cost=self.spent,  # every attempt this request was billed for (a cascade pays twice)
            usage=usage,
            finish_reason=completion.finish_reason,
            decision=decision,
            tool_calls=completion.tool_calls,
            parsed=parsed,
            request_id=completion.request_id,
            latency=completion.latency,
        )

    def _record(self, attempt: Attempt, at: int | None) -> None:
        if at is None:
            self.attempts.append(attempt)
        else:
            self.attempts[at] = attempt

    def received_cost(self, action: Try, partial: Completion) -> Decimal:
        """What the tokens of a broken stream cost: reported usage, else the router's count of
        what arrived (input included: the provider billed it); 0 when nothing arrived."""
        return pricing.received_cost(action.candidate, partial)

    def interrupted(
        self, action: Try, partial: Completion, error: ProviderError | None
    ) -> StreamError:
        """A stream broke after its first token (or ended without a finish reason): bill what was
        received, record the attempt, and return the `StreamError` to raise. Never retried: the
        caller has already seen part of the answer."""
        candidate = action.candidate
        usage = pricing.received_usage(candidate, partial)
        cost = actual_cost(candidate.target.price, usage)
        truncated = error is None
        detail = "" if error is None else str(error).removeprefix(f"{candidate.deployment}: ")
        reason = "ended without a finish reason (truncated)" if truncated else f"broke ({detail})"
        stream_error = StreamError(
            f"the stream {reason} after {len(partial.text)} characters",
            partial_text=partial.text, usage=usage, cost=cost, truncated=truncated,
            deployment=candidate.deployment,
            provider=candidate.target.provider,
            status_code=getattr(error, "status_code", None),
            request_id=partial.request_id,
        )
        self.spent += cost
        self.attempts.append(Attempt(
            deployment=candidate.deployment, model=candidate.model,
            outcome=type(stream_error).__name__, error=str(stream_error), wait=action.wait,
            latency=partial.latency, cost=cost,
        ))
        self._last_error = stream_error
        if self.resilience.breaker is not None and not out_of_time(error, self.remaining()):
            self.resilience.breaker.record_failure(candidate.deployment, stream_error)
        self._next = self._fail(stream_error)
        return stream_error

    def abandoned(self, action: Try, partial: Completion, exc: BaseException) -> None:
        """The caller left a stream mid-attempt (closed, dropped, cancelled): bill what arrived, as
        for a broken stream, and record it. The deployment did not fail: text that arrived proves
        it up (a probe closes its circuit); without any, a probe's claim is released."""
        cost = self.received_cost(action, partial)
        breaker = self.resilience.breaker
        if breaker is not None:
            if partial.text or partial.tool_calls:
                breaker.record_success(action.candidate.deployment)
            else:
                breaker.release(action.candidate.deployment)
        self.spent += cost
        stopped = isinstance(exc, GeneratorExit | KeyboardInterrupt | asyncio.CancelledError)
        self.attempts.append(Attempt(
            deployment=action.candidate.deployment, model=action.candidate.model,
            outcome="cancelled" if stopped else type(exc).__name__,
            error=f"the caller stopped reading after {len(partial.text)} characters" if stopped
            else str(exc), wait=action.wait, latency=partial.latency, cost=cost,
        ))
        self._next = None
