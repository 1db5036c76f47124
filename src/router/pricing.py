"""What a request may cost before it is sent (worst case) and what it did cost (from usage, or
from the router's own count of what arrived when the provider reported none, which never goes
beyond the worst case: its tokenizer may be the bytes upper bound)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from router.catalog import Price
from router.tokens import count_tokens
from router.types import Completion, Usage

if TYPE_CHECKING:
    from router.decision import Candidate

__all__ = [
    "actual_cost",
    "answer_usage",
    "input_cost",
    "max_output_within",
    "received_cost",
    "received_usage",
    "worst_case_cost",
]

log = logging.getLogger("router")

_NO_USAGE = Usage()


def input_cost(price: Price, input_tokens: int) -> Decimal:
    """Input tokens at the full (uncached) input price: the most they can cost."""
    return input_tokens * price.input_per_token


def worst_case_cost(price: Price, input_tokens: int, max_output_tokens: int) -> Decimal:
    """The most a call can cost: every input token uncached, every allowed output token produced."""
    return input_tokens * price.input_per_token + max_output_tokens * price.output_per_token


def max_output_within(price: Price, input_tokens: int, budget: Decimal) -> int:
    """The largest output cap whose worst case stays within `budget` (0 when input alone exceeds it)."""
    left = budget - input_tokens * price.input_per_token
    if left < 0:
        return 0
    if price.output_per_token == 0:
        return 2**62
    return int(left / price.output_per_token)


def actual_cost(price: Price, usage: Usage) -> Decimal:
    """Exact USD cost of reported usage; cached input tokens at the cached price."""
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    return (
        (usage.input_tokens - cached) * price.input_per_token
        + cached * price.cached_per_token
        + usage.output_tokens * price.output_per_token
    )


def answer_usage(candidate: Candidate, completion: Completion) -> Usage:
    """A whole answer's usage. Some OpenAI-compatible servers report none: then what the router
    can count (with a warning), never zero."""
    usage = completion.usage
    if usage != _NO_USAGE or not (completion.text or completion.tool_calls):
        return usage
    log.warning("%s reported no usage; billing the router's own token count", candidate.deployment)
    return _counted(candidate, completion)


def received_usage(candidate: Candidate, partial: Completion) -> Usage:
    """What a stream cut short (broken, abandoned) delivered: its usage if that chunk came, else
    the input estimate and the tokens that arrived (the provider billed them both), at most the
    `max_tokens` sent."""
    return _counted(candidate, partial) if partial.usage == _NO_USAGE else partial.usage


def received_cost(candidate: Candidate, partial: Completion) -> Decimal:
    """The cost of `received_usage`; 0 when nothing arrived."""
    if partial.usage == _NO_USAGE and not (partial.text or partial.tool_calls):
        return Decimal(0)
    return actual_cost(candidate.target.price, received_usage(candidate, partial))


def _counted(candidate: Candidate, completion: Completion) -> Usage:
    """The router's own count: the input estimate the worst case used, and the output counted
    with the model's tokenizer, capped at the `max_tokens` sent (the provider stops there, and the
    count may be an upper bound: bytes, with no tokenizer installed), so that it never exceeds the
    worst case the budgets reserved."""
    tokenizer = candidate.spec.tokenizer
    out = count_tokens(completion.text, tokenizer) + sum(
        count_tokens(str(c.arguments), tokenizer) for c in completion.tool_calls
    )
    return Usage(input_tokens=candidate.input_tokens,
                 output_tokens=min(out, candidate.max_output_tokens))
