"""The hook API: `on_decision`, `on_reply`, `on_error`, called around every routed call, and
`on_budget` with what a shared budget has left after each call in it settled.

    class Audit(Hook):
        def on_reply(self, call: CallInfo, reply: Reply) -> None:
            print(call.id, reply.model, reply.cost)

    router = Router(config, hooks=[Audit(), OpenTelemetryHook(), PrometheusHook()])

A hook that raises is logged and skipped: observing a call never breaks it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from router.money import callers_context

if TYPE_CHECKING:
    from router.calls import CallState
    from router.decision import Decision
    from router.ledger import Balance, Ledger, Reservation
    from router.streaming import AsyncReplyStream, ProviderFor, ReplyStream
    from router.types import Reply, Request

__all__ = ["CallInfo", "Hook", "HookSet", "Hooks", "HooksLike"]

log = logging.getLogger("router")


@dataclass(slots=True)
class CallInfo:
    """One call as hooks see it; `id` ties its decision to its reply or error."""

    id: str
    request: Request = field(repr=False)
    decision: Decision = field(repr=False)
    stream: bool = False
    is_async: bool = False
    started: float = 0.0  # epoch seconds
    started_ns: int = 0  # epoch nanoseconds (span start times)
    _t0: float = 0.0

    def elapsed(self) -> float:
        """Seconds since the decision."""
        return time.perf_counter() - self._t0


class Hook:
    """Override any of the three; the defaults do nothing."""

    def on_decision(self, call: CallInfo, decision: Decision) -> None:
        """The router chose (or failed to choose) where `call` goes; nothing was sent yet."""

    def on_reply(self, call: CallInfo, reply: Reply) -> None:
        """`call` succeeded; `reply.decision.attempts` lists every attempt (fallbacks included)."""

    def on_error(self, call: CallInfo, error: BaseException) -> None:
        """`call` failed with `error` (a `RouterError`, or cancellation)."""

    def on_budget(self, name: str, remaining: Decimal) -> None:
        """Shared budget `name` has `remaining` USD left after a call in it settled. The router
        reads the balances for this only when some hook overrides it."""


class Hooks(Hook):
    """A hook made of plain functions: `Hooks(on_reply=lambda call, reply: ...)`."""

    def __init__(
        self,
        *,
        on_decision: Callable[[CallInfo, Decision], None] | None = None,
        on_reply: Callable[[CallInfo, Reply], None] | None = None,
        on_error: Callable[[CallInfo, BaseException], None] | None = None,
        on_budget: Callable[[str, Decimal], None] | None = None,
    ):
        self._decision, self._reply, self._error = on_decision, on_reply, on_error
        self._budget = on_budget

    def on_decision(self, call: CallInfo, decision: Decision) -> None:
        if self._decision is not None:
            self._decision(call, decision)

    def on_reply(self, call: CallInfo, reply: Reply) -> None:
        if self._reply is not None:
            self._reply(call, reply)

    def on_error(self, call: CallInfo, error: BaseException) -> None:
        if self._error is not None:
            self._error(call, error)

    def on_budget(self, name: str, remaining: Decimal) -> None:
        if self._budget is not None:
            self._budget(name, remaining)


HooksLike = Hook | Sequence[Hook]


class HookSet:
    """The hooks of one router, and the wrappers `Router` runs its calls through."""

    __slots__ = ("budget_hooks", "hooks")

    def __init__(self, hooks: Sequence[Hook]):
        self.hooks = tuple(hooks)
        self.budget_hooks = tuple(h for h in self.hooks if _watches_budgets(h))

    @classmethod
    def of(cls, hooks: HooksLike | None) -> HookSet | None:
        """None when there is nothing to call, so an unobserved router pays one `if`."""
        if hooks is None:
            return None
        items = (hooks,) if isinstance(hooks, Hook) else tuple(hooks)
        for h in items:
            if not isinstance(h, Hook):
                raise TypeError(f"hooks must be Hook instances, got {type(h).__name__}")
        return cls(items) if items else None

    def begin(self, request: Request, decision: Decision, *, stream: bool = False,
              is_async: bool = False) -> CallInfo:
        now = time.time_ns()
        call = CallInfo(os.urandom(8).hex(), request, decision, stream, is_async,
                        now / 1e9, now, time.perf_counter())
        for h in self.hooks:
            _safely(h.on_decision, call, decision)
        return call

    def reply(self, call: CallInfo, reply: Reply) -> None:
        for h in self.hooks:
            _safely(h.on_reply, call, reply)

    def error(self, call: CallInfo, error: BaseException) -> None:
        for h in self.hooks:
            _safely(h.on_error, call, error)

    def budgets_after(self, ledger: Ledger, reservation: Reservation | None) -> None:
        """Tell the hooks that watch budgets what is left of the budgets a call was reserved in,
        now that it settled (read only when some hook watches)."""
        if not self.budget_hooks or reservation is None:
            return
        try:
            balances = ledger.balances(_counters(reservation))
        except Exception:  # the call is over: a failed read must not touch its outcome
            log.exception("could not read the budgets after a call")
            return
        self._budgets(reservation, balances)

    async def abudgets_after(self, ledger: Ledger, reservation: Reservation | None) -> None:
        if not self.budget_hooks or reservation is None:
            return
        try:
            balances = await ledger.abalances(_counters(reservation))
        except Exception:
            log.exception("could not read the budgets after a call")
            return
        self._budgets(reservation, balances)

    def _budgets(self, reservation: Reservation, balances: Mapping[str, Balance]) -> None:
        for limit in reservation.limits:
            used = sum((balances[c].spent + balances[c].reserved for c in limit.counters
                        if c in balances), Decimal(0))
            for h in self.budget_hooks:
                _safely(h.on_budget, limit.name, max(limit.limit - used, Decimal(0)))

    def call(self, request: Request, decision: Decision,
             run: Callable[[Request, Decision], Reply]) -> Reply:
        info = self.begin(request, decision)
        try:
            reply = run(request, decision)
        except BaseException as exc:
            self.error(info, exc)
            raise
        self.reply(info, reply)
        return reply

    async def acall(self, request: Request, decision: Decision,
                    run: Callable[[Request, Decision], Awaitable[Reply]]) -> Reply:
        info = self.begin(request, decision, is_async=True)
        try:
            reply = await run(request, decision)
        except BaseException as exc:
            self.error(info, exc)
            raise
        self.reply(info, reply)
        return reply

    def stream(self, request: Request, decision: Decision, make_call: Callable[[], CallState],
               provider_for: ProviderFor) -> ReplyStream:
        from router.observability.streams import ObservedReplyStream

        info = self.begin(request, decision, stream=True)
        try:
            return ObservedReplyStream(make_call(), provider_for, hooks=self, info=info)
        except BaseException as exc:
            self.error(info, exc)
            raise

    def astream(self, request: Request, decision: Decision, make_call: Callable[[], CallState],
                provider_for: ProviderFor) -> AsyncReplyStream:
        from router.observability.streams import ObservedAsyncReplyStream

        info = self.begin(request, decision, stream=True, is_async=True)
        try:
            return ObservedAsyncReplyStream(make_call(), provider_for, hooks=self, info=info)
        except BaseException as exc:
            self.error(info, exc)
            raise


def _watches_budgets(hook: Hook) -> bool:
    if isinstance(hook, Hooks):
        return hook._budget is not None
    return type(hook).on_budget is not Hook.on_budget


def _counters(reservation: Reservation) -> list[str]:
    return list(dict.fromkeys(c for limit in reservation.limits for c in limit.counters))


def _safely(fn: Callable[..., None], *args: object) -> None:
    try:
        with callers_context():  # the app's decimal context, not the router's
            fn(*args)
    except Exception:  # a broken hook must not break the call it observes
        log.exception("router hook %s failed", getattr(fn, "__qualname__", fn))
