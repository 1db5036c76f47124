"""What a request may cost before it is sent (worst case) and what it did cost (from usage)."""

from __future__ import annotations

from decimal import Decimal

from router.catalog import Price
from router.types import Usage

__all__ = ["actual_cost", "input_cost", "max_output_within", "worst_case_cost"]


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
