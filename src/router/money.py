"""Money as exact `Decimal` USD: parsing budgets and prices, per-token arithmetic, and printing.

Floats are accepted at the edge only (a caller's `budget=0.002`) and converted through their
shortest decimal repr, so `0.1` becomes `Decimal("0.1")`, never `0.1000000000000000055...`.

Amounts stay exact and unrounded. Python prints any `Decimal` below 0.000001 in exponent form
(`Decimal('3.4E-7')`, whatever its precision), so everything the router writes for people or files
goes through `format_usd` (`$0.00000034`) or `plain_usd` (`0.00000034`): never `str(amount)`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    getcontext,
    localcontext,
)
from typing import Any, TypeVar, cast

from router.errors import InvalidRequestError

__all__ = ["MILLION", "MONEY", "ZERO", "callers_context", "exact", "format_usd", "money_context",
           "parse_money", "per_million", "plain_usd"]

ZERO = Decimal(0)
MILLION = Decimal(1_000_000)

#: The decimal context of all the router's money arithmetic, whatever the caller's thread has set
#: (a finance app may lower the precision or round down, which would understate a worst case):
#: 60 digits hold any amount a ledger can, exactly, down to a fraction of a nano-dollar.
MONEY = Context(prec=60, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999,
                traps=[InvalidOperation, DivisionByZero, Overflow])

F = TypeVar("F", bound=Callable[..., Any])

# The context of the code that called into the router, for the user code the router calls back.
_CALLER: ContextVar[Context | None] = ContextVar("router_caller_decimal_context", default=None)


class money_context:
    """`with money_context():` computes money in `MONEY` inside the block, noting the caller's
    context for `callers_context()`. A class, not a generator: it runs on every stream step."""

    __slots__ = ("_inner", "_token")

    def __enter__(self) -> None:
        self._token = _CALLER.set(getcontext()) if _CALLER.get() is None else None
        self._inner = localcontext(MONEY)
        self._inner.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._inner.__exit__(None, None, None)
        if self._token is not None:
            _CALLER.reset(self._token)


def callers_context() -> contextlib.AbstractContextManager[Context]:
    """The decimal context of the code that called into the router (a copy), for the user code
    it calls back: hooks, answer checks, `response_format` models."""
    return localcontext(_CALLER.get() or getcontext())


def exact(fn: F) -> F:
    """Run `fn` (a function or a coroutine function) in `money_context()`; the caller's context
    is restored when it returns."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with money_context():
                return await fn(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with money_context():
            return fn(*args, **kwargs)

    return cast(F, run)

MoneyLike = str | Decimal | int | float


def parse_money(value: object, *, field: str, allow_zero: bool = True) -> Decimal:
    """Parse a USD amount; raise `InvalidRequestError` naming `field` when it is not a usable number.

    Config loaders catch the error and re-raise it as a `ConfigError` with the key path.
    """
    if isinstance(value, bool):
        raise InvalidRequestError(
            f"expected a USD amount such as \"0.002\", got {value!r}", field=field
        )
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().removeprefix("$").replace("_", "")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise InvalidRequestError(
                f"{value!r} is not a number; write a USD amount such as \"0.002\"", field=field
            ) from None
    else:
        raise InvalidRequestError(
            f"expected a USD amount (str, Decimal, int or float), got {type(value).__name__}",
            field=field,
        )
    if not amount.is_finite():
        raise InvalidRequestError(f"{value!r} is not a finite amount", field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidRequestError(
            f"{value!r} must be {'zero or more' if allow_zero else 'more than zero'}", field=field
        )
    return amount


def per_million(tokens: int, price_per_million: Decimal) -> Decimal:
    """Cost of `tokens` at a price quoted per 1M tokens, exact."""
    return tokens * price_per_million / MILLION


def plain_usd(amount: Decimal) -> str:
    """`0.00000034`: an amount in plain digits (never `3.4E-7`), without trailing zeros; for
    JSON, CSV and anything a program reads back with `Decimal(text)`."""
    return format(amount.normalize(MONEY), "f") if amount else "0"


def format_usd(amount: Decimal) -> str:
    """`$0.00000034` style, for people: plain digits, without trailing noise."""
    text = plain_usd(amount)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"
