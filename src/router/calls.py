"""The state of one routed call, shared by the sync and async shells: no I/O, no sleeping.

A shell asks `next_action()` what to do (call a candidate, or stop with an error), carries it out,
and reports back with `succeeded()` or `failed()`. Retries and fallbacks are decided here, once.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from decimal import Decimal

from pydantic import ValidationError

from router.decision import Attempt, Candidate, Decision
from router.errors import MissingKeyError, ProviderError, ResponseError, RouterError, StreamError
from router.pricing import actual_cost
from router.providers.base import CallOptions
from router.tokens import count_tokens
from router.types import Completion, Reply, Request, Usage

__all__ = ["CallState", "Fail", "Try"]

log = logging.getLogger("router")


@dataclass(frozen=True, slots=True)
class Try:
    """Call `candidate` after sleeping `wait` seconds."""

    candidate: Candidate
    options: CallOptions
    wait: float = 0.0


@dataclass(frozen=True, slots=True)
class Fail:
    """Stop: raise `error`."""

    error: RouterError


class CallState:
    """Walks a decision's candidates for one request and turns the outcome into a `Reply`."""

    def __init__(self, request: Request, decision: Decision):
        self.request = request
        self.decision = decision
        self.attempts: list[Attempt] = []
        self.spent = Decimal(0)
        self._next: Try | Fail | None = None
        chosen = decision.require_route()
        if decision.missing_keys:
            self._next = Fail(MissingKeyError(
                "no API key is set for any deployment; set "
                + " or ".join(decision.missing_keys)
                + " (route() works without keys; complete() needs one)"
            ))
        elif not chosen.target.has_key:
            self._next = Fail(MissingKeyError(chosen.target.missing_key_hint()))
        else:
            self._next = Try(chosen, self.options_for(chosen))

    def options_for(self, candidate: Candidate) -> CallOptions:
        return CallOptions(max_tokens=candidate.max_output_tokens, timeout=candidate.target.timeout)

    def next_action(self) -> Try | Fail:
        action = self._next
        assert action is not None, "next_action() called after the call finished"
        return action

    def failed(self, action: Try, error: ProviderError, *, latency: float = 0.0,
               cost: Decimal = Decimal(0)) -> None:
        """Record a failed attempt and decide what comes next (here: give up)."""
        self.spent += cost
        self.attempts.append(Attempt(
            deployment=action.candidate.deployment, model=action.candidate.model,
            outcome=type(error).__name__, error=str(error), wait=action.wait,
            latency=latency, cost=cost,
        ))
        log.info("attempt on %s failed: %s", action.candidate.deployment, type(error).__name__)
        self._next = Fail(error)

    def succeeded(self, action: Try, completion: Completion) -> Reply:
        """Price the completion and build the reply, with every attempt in its decision."""
        candidate = action.candidate
        usage = completion.usage
        if usage == Usage() and (completion.text or completion.tool_calls):
            usage = self._estimated_usage(candidate, completion)
        cost = actual_cost(candidate.target.price, usage)
        self.spent += cost
        if cost > candidate.worst_case_cost:
            log.warning(
                "%s reported usage above the worst case the router allowed (%s > %s)",
                candidate.deployment, cost, candidate.worst_case_cost,
            )
        self.attempts.append(Attempt(
            deployment=candidate.deployment, model=candidate.model, outcome="ok",
            wait=action.wait, latency=completion.latency, cost=cost,
        ))
        decision = dataclasses.replace(self.decision, attempts=tuple(self.attempts))
        return Reply(
            text=completion.text,
            model=candidate.model,
            deployment=candidate.deployment,
            cost=cost,
            usage=usage,
            finish_reason=completion.finish_reason,
            decision=decision,
            tool_calls=completion.tool_calls,
            parsed=self._parse(candidate, completion),
            request_id=completion.request_id,
            latency=completion.latency,
        )

    def interrupted(
        self, action: Try, partial: Completion, error: ProviderError | None
    ) -> StreamError:
        """A stream broke after its first token (or ended without a finish reason): bill what was
        received, record the attempt, and return the `StreamError` to raise."""
        candidate = action.candidate
        usage = partial.usage
        if usage == Usage():
            usage = self._estimated_usage(candidate, partial)
        cost = actual_cost(candidate.target.price, usage)
        truncated = error is None
        reason = "ended without a finish reason (truncated)" if truncated else f"broke: {error}"
        stream_error = StreamError(
            f"the stream {reason} after {len(partial.text)} characters",
            partial_text=partial.text, usage=usage, cost=cost, truncated=truncated,
            deployment=candidate.deployment,
            provider=candidate.target.provider,
            status_code=getattr(error, "status_code", None),
            request_id=partial.request_id,
        )
        self.failed(action, stream_error, latency=partial.latency, cost=cost)
        self._next = Fail(stream_error)
        return stream_error

    def _estimated_usage(self, candidate: Candidate, completion: Completion) -> Usage:
        """Some OpenAI-compatible servers report no usage: bill what we can count, never zero."""
        log.warning("%s reported no usage; billing the router's own token count",
                    candidate.deployment)
        out = count_tokens(completion.text, candidate.spec.tokenizer) + sum(
            count_tokens(str(c.arguments), candidate.spec.tokenizer) for c in completion.tool_calls
        )
        return Usage(input_tokens=candidate.input_tokens, output_tokens=out)

    def _parse(self, candidate: Candidate, completion: Completion) -> object:
        fmt = self.request.response_format
        if fmt is None or fmt.model is None or completion.tool_calls:
            return None
        try:
            return fmt.model.model_validate_json(completion.text)
        except ValidationError as exc:
            raise ResponseError(
                f"the answer does not match {fmt.model.__name__} "
                f"(finish reason {completion.finish_reason.value}): {exc.errors()[0]['msg']}",
                deployment=candidate.deployment,
            ) from exc
