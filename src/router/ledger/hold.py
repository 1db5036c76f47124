"""One call's hold on the shared budgets, from before its first attempt until it is settled.

A call holds the worst case of its next attempt in the budgets of that attempt's deployment. When
a fallback moves to a deployment under other budgets (another model with its own budget, say),
what the call spent so far is settled to the budgets it was held in, and the new deployment's
budgets are reserved before the attempt is sent: each model's and deployment's budget pays for, and
refuses, its own attempts. Each deployment a call used gets its own entry, so spend by model and
deployment is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from router.budgets import Applied
from router.calls import CallState, Try
from router.decision import REJECTED, SKIPPED, Candidate, Decision
from router.errors import BudgetExceeded, LedgerError
from router.ledger.base import Labels, Limit, Outcome, Reservation
from router.money import exact

if TYPE_CHECKING:
    from router.ledger.guard import BudgetGuard

__all__ = ["LEFT", "Flow", "Hold"]

log = logging.getLogger("router")

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class _Op:
    """A ledger call a flow asks its driver to make; `fallback` answers it when the ledger is down
    and the policy is fail_open."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    fallback: Any = None


@dataclass(frozen=True, slots=True)
class _Segment:
    """What a call spent on one deployment, held in that deployment's budgets."""

    reservation: Reservation | None
    spent: Decimal
    model: str | None
    deployment: str | None


Flow = Generator[_Op, Any, Any]
LEFT = object()  # the fallback of a settlement that the ledger refused: keep it for later


class Hold:
    """A call's reservation, from before its first attempt until it is settled or released.

    The shell hands it the call's state (`watch`), runs the call inside `settling()`, and so the
    reservation is settled at what the call spent or released however the call ends. Before each
    attempt it calls `covers(call, action)`: that holds the attempt's worst case on top of what
    the call has spent, atomically, in the budgets of the attempt's deployment, or records the
    attempt as skipped. With `record` (no budget applies) nothing is held: the call's entry is
    written, with these labels, when it ends. Without `applied` nothing is held either (no
    budget applies, or the ledger was down under fail_open).
    """

    def __init__(self, guard: BudgetGuard, reservation: Reservation | None, decision: Decision,
                 *, record: Labels | None = None, applied: Applied | None = None,
                 labels: Labels | None = None):
        self._guard = guard
        self.reservation = reservation  # the budgets of `_deployment`, for what it spends
        self._record = record
        self._decision = decision
        self._applied = applied
        self._labels = labels if labels is not None else (
            reservation.labels if reservation is not None else Labels())
        self._deployment = decision.deployment  # whose budgets `reservation` holds
        self._model = decision.model
        self._kept: list[_Segment] = []  # left for a stronger model, their answer kept
        self._base = _ZERO  # what the call had spent when `reservation` was made
        self._call: CallState | None = None
        self._closed = False

    def __repr__(self) -> str:
        amount = self.reservation.amount if self.reservation else None
        return f"Hold(amount={amount}, closed={self._closed})"

    @property
    def closed(self) -> bool:
        return self._closed

    def watch(self, call: CallState) -> CallState:
        """Settle at what `call` spends."""
        self._call = call
        return call

    # -- before each attempt ----------------------------------------------------------------

    def _cover_flow(self, total: Decimal) -> Flow:
        res = self.reservation
        need = total - self._base
        if res is not None and not self._closed and need > res.amount:
            self.reservation = yield _Op("extend", (res, need - res.amount), fallback=res)

    def _held_enough(self, total: Decimal) -> bool:  # always so for a call's first attempt
        res = self.reservation
        return res is None or self._closed or total - self._base <= res.amount

    def cover(self, total: Decimal) -> None:
        """Make sure `total` USD (what the call spends in all) is held, extending if needed."""
        if not self._held_enough(total):
            self._guard._drive(self._cover_flow(total))

    async def acover(self, total: Decimal) -> None:
        if not self._held_enough(total):
            await self._guard._adrive(self._cover_flow(total))

    def _limits(self, deployment: str | None) -> tuple[Limit, ...]:
        assert self._applied is not None
        return tuple(b.limit for b in self._applied.for_candidate(deployment or ""))

    def _move_flow(self, call: CallState, candidate: Candidate) -> Flow:
        """Settle what the call spent on the deployment it leaves (to that deployment's budgets,
        under its name), then hold `candidate`'s worst case in its own deployment's budgets. A
        deployment whose answer a check rejected stays held until the call ends: its answer is
        returned if the stronger model cannot answer, and its entry says so."""
        segment = self._current(call)
        # The segment is handed over here: settled below, or kept to retry when the ledger
        # refuses, or left to land by itself when the caller is cancelled meanwhile (async
        # writes are shielded). So the call's close must not book it again.
        self.reservation, self._base = None, call.spent
        op = None
        if self._answered(call):
            self._kept.append(segment)
        else:
            op = self._segment_op(segment, Outcome.FAILED)
        if op is not None and op.method == "release":
            yield _Op("release", op.args)  # nothing was spent there; a failed release expires
        elif op is not None:
            try:
                done = yield _Op(op.method, op.args, op.kwargs, fallback=LEFT)
            except LedgerError as exc:  # fail_closed: this call ends here, its spend is kept
                self._guard._defer(op, exc)
                raise
            if done is LEFT:  # fail_open: go on, and record the spend when the ledger is back
                self._guard._defer(op, LedgerError("the ledger is unavailable"))
        self._deployment, self._model = candidate.deployment, candidate.model
        self.reservation = yield _Op("reserve", (self._limits(candidate.deployment),
                                                 candidate.worst_case_cost),
                                     {"ttl": self._guard.ttl, "labels": self._labels})

    def _moves(self, action: Try) -> bool:
        return self._applied is not None and action.candidate.deployment != self._deployment

    def covers(self, call: CallState, action: Try) -> bool:
        """Hold `action`'s worst case on top of what `call` has spent; when a shared budget
        refuses, record the attempt as skipped (the call state plans what is next) and say so."""
        if self._applied is None or self._closed:  # nothing is held for this call
            return True
        try:
            if self._moves(action):
                self._guard._drive(self._move_flow(call, action.candidate))
            else:
                self.cover(call.spent + action.candidate.worst_case_cost)
        except BudgetExceeded as exc:
            call.skipped(action, str(exc))
            return False
        return True

    async def acovers(self, call: CallState, action: Try) -> bool:
        """The async twin of `covers()`."""
        if self._applied is None or self._closed:
            return True
        try:
            if self._moves(action):
                await self._guard._adrive(self._move_flow(call, action.candidate))
            else:
                await self.acover(call.spent + action.candidate.worst_case_cost)
        except BudgetExceeded as exc:
            call.skipped(action, str(exc))
            return False
        return True

    # -- when the call ends -----------------------------------------------------------------

    def _current(self, call: CallState | None) -> _Segment:
        spent = (call.spent if call is not None else _ZERO) - self._base
        return _Segment(self.reservation, spent, self._model, self._deployment)

    def _answered(self, call: CallState) -> bool:
        """The deployment being left gave an answer that a check rejected (a cascade)."""
        made = [a for a in call.attempts if a.outcome != SKIPPED]
        return bool(made) and made[-1].outcome == REJECTED and made[-1].deployment == self._deployment

    def _segment_op(self, segment: _Segment, outcome: Outcome) -> _Op | None:
        """Settle what the call spent on a deployment (or release when it spent nothing there and
        did not succeed). Spent while nothing was held (the ledger was down under fail_open):
        booked to that deployment's budgets once the ledger is back."""
        res, spent = segment.reservation, segment.spent
        names = {"model": segment.model, "deployment": segment.deployment}
        if res is None:
            if spent > 0 and self._applied is not None:
                return _Op("book", (self._limits(segment.deployment), spent),
                           {"outcome": outcome, "labels": self._labels, **names})
            return None
        if outcome is not Outcome.OK and spent == 0:
            return _Op("release", (res,))
        return _Op("settle", (res, spent), {"outcome": outcome, **names})

    def _record_ops(self, call: CallState | None, outcome: Outcome) -> list[_Op]:
        """The entries of a call no budget applies to: one per deployment it spent on."""
        spent_on: dict[tuple[str, str], Decimal] = {}
        for attempt in call.attempts if call is not None else ():
            if attempt.cost:
                key = (attempt.deployment, attempt.model)
                spent_on[key] = spent_on.get(key, _ZERO) + attempt.cost
        last = list(spent_on)[-1] if spent_on else None
        return [_Op("record", (cost,), {
            "outcome": outcome if key == last else Outcome.FAILED, "model": key[1],
            "deployment": key[0], "labels": self._record}) for key, cost in spent_on.items()]

    def _close_ops(self, exc: BaseException | None) -> list[_Op]:
        if self._closed:
            return []
        self._closed = True
        if exc is None:
            outcome = Outcome.OK
        elif isinstance(exc, asyncio.CancelledError | GeneratorExit | KeyboardInterrupt):
            outcome = Outcome.CANCELLED
        else:
            outcome = Outcome.FAILED
        call = self._call
        if self._record is not None:
            return self._record_ops(call, outcome)
        answered = self._deployment  # the deployment whose answer the caller got
        if outcome is Outcome.OK and call is not None:
            answered = next((a.deployment for a in reversed(call.attempts) if a.outcome == "ok"),
                            answered)
        ops = []
        for segment in (*self._kept, self._current(call)):
            own = outcome if outcome is not Outcome.OK or segment.deployment == answered \
                else Outcome.FAILED
            op = self._segment_op(segment, own)
            if op is not None:
                ops.append(op)
        return ops

    @exact
    def close(self, exc: BaseException | None = None) -> None:
        """Settle at the call's spend (or release when a failed call spent nothing). Never raises:
        a settlement the ledger refuses is kept and retried before this router's next
        reservation (see `BudgetGuard.pending`)."""
        ops = self._close_ops(exc)
        if not ops:
            return
        for op in ops:
            self._guard._finish(op)
        hooks = self._guard._hooks
        if hooks is not None:  # what the budgets have left, for hooks that watch
            hooks.budgets_after(self._guard.ledger, self.reservation)

    @exact
    async def aclose(self, exc: BaseException | None = None) -> None:
        ops = self._close_ops(exc)
        if not ops:
            return
        for op in ops:
            await self._guard._afinish(op)
        hooks = self._guard._hooks
        if hooks is not None:
            await hooks.abudgets_after(self._guard.ledger, self.reservation)

    def abandon(self) -> None:
        """Release a reservation whose call never started (a stream dropped unread). A stream
        that did start settles when its generator is closed, however late: releasing here first
        (the garbage collector may call this before it closes a generator in a cycle) would
        lose what the stream received."""
        if self._call is None or not self._call.started:
            self.close(GeneratorExit())

    def settling(self) -> Hold:
        """Settle or release when the block exits, however it exits (`with hold.settling():`;
        `async with hold.asettling():`). A class-based context manager: it runs on every call."""
        return self

    asettling = settling

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc_info: Any) -> None:  # (type, error, traceback)
        self.close(exc_info[1])

    async def __aenter__(self) -> Hold:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose(exc_info[1])

    @contextlib.contextmanager
    def released_on_error(self) -> Iterator[Hold]:
        """Release if the block raises (a stream failed to start); otherwise keep holding."""
        try:
            yield self
        except BaseException as exc:
            self.close(exc)
            raise
