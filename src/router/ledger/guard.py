"""The shells' side of shared budgets: read what is left, decide, reserve; later settle or release.

`BudgetGuard.reserve()` / `areserve()` run one flow of ledger operations (a generator, as httpx's
auth flows) through a sync or an async driver, so `complete()` and `acomplete()` share every rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from router.budget_routing import Choice, Decide, choose
from router.budgets import Applied, Budget, CallScope, apply_budgets
from router.calls import CallState, Try
from router.decision import Decision
from router.deployments import Deployment
from router.errors import BudgetExceeded, LedgerError, NoRouteError
from router.ledger import Labels, Ledger, MemoryLedger, Outcome, Reservation
from router.ledger.report import ExportFormat, SpendReport, export_entries, spend_report
from router.types import Request

if TYPE_CHECKING:
    from router.observability.hooks import HookSet

__all__ = ["BudgetGuard", "Hold", "Routing"]

log = logging.getLogger("router")

_ATTEMPTS = 4  # re-plans when another process took the room between reading and reserving


@dataclass(frozen=True, slots=True)
class Routing:
    """One call, ready to be decided: `decide(budget, per_deployment)` is the pure decision."""

    request: Request
    scope: CallScope
    budget: Decimal | None
    decide: Decide


@dataclass(frozen=True, slots=True)
class _Op:
    """A ledger call a flow asks its driver to make; `fallback` answers it when the ledger is down
    and the policy is fail_open."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    fallback: Any = None


Flow = Generator[_Op, Any, Any]
_NOTHING, _NO_LABELS = Applied(), Labels()


class BudgetGuard:
    """Keeps calls inside the configured budgets, with one ledger shared by every call."""

    def __init__(self, ledger: Ledger, budgets: Sequence[Budget], *,
                 deployments: Sequence[Deployment], clock: Callable[[], dt.datetime],
                 ttl: float = 900.0, fail_open: bool = False, hooks: HookSet | None = None):
        self.ledger = ledger
        self.budgets = tuple(budgets)
        self._pairs = tuple((d.id, d.model) for d in deployments)
        self._clock = clock
        self._ttl = ttl
        self._fail_open = fail_open
        self._background: set[asyncio.Future[Any]] = set()
        self._hooks = hooks
        # No budget to hold money in, and a ledger that cannot be down: a call only needs its
        # entry written when it ends (`MemoryLedger.record`), not a reservation and a settlement.
        self._record_only = not self.budgets and isinstance(ledger, MemoryLedger)

    def __repr__(self) -> str:
        return f"BudgetGuard({self.ledger!r}, {len(self.budgets)} budgets)"

    # -- flows (pure but for the ops they yield) ---------------------------------------------

    def _choose(self, routing: Routing) -> Generator[_Op, Any, tuple[Applied, Choice]]:
        if not self.budgets:  # nothing shared to count: the plain decision (still recorded)
            decision = routing.decide(routing.budget, {})
            decision.require_route()
            return _NOTHING, Choice(decision, ())
        now = self._clock()
        applied = apply_budgets(self.budgets, routing.scope, self._pairs, now)
        counters = applied.counters()
        balances = (yield _Op("balances", (counters,), fallback={})) if counters else {}
        choice = choose(routing.decide, budget=routing.budget, applied=applied, balances=balances,
                        now=now)
        return applied, choice

    def _plan_flow(self, routing: Routing) -> Flow:
        _, choice = yield from self._choose(routing)
        return choice.decision

    def _reserve_flow(self, routing: Routing) -> Flow:
        scope = routing.scope
        labels = Labels(user=scope.user, team=scope.team, tags=scope.tags)
        for attempt in range(_ATTEMPTS):
            _, choice = yield from self._choose(routing)
            chosen = choice.decision.chosen
            assert chosen is not None
            try:
                reservation = yield _Op("reserve", (choice.limits, chosen.worst_case_cost),
                                        {"ttl": self._ttl, "labels": labels})
            except BudgetExceeded:
                if attempt == _ATTEMPTS - 1:
                    raise
                continue  # raced by another call: re-read and decide again
            return choice.decision, Hold(self, reservation, choice.decision)
        raise AssertionError("unreachable")

    def _unreserved(self, routing: Routing) -> tuple[Decision, Hold]:
        decision = routing.decide(routing.budget, {})
        decision.require_route()
        user, team, tags = routing.scope.user, routing.scope.team, routing.scope.tags
        return decision, Hold(self, None, decision, record=Labels(user, team, tags)
                              if user or team or tags else _NO_LABELS)

    # -- drivers ----------------------------------------------------------------------------

    def _drive(self, flow: Flow) -> Any:
        reply: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as stop:
                return stop.value
            reply, error = None, None
            try:
                reply = getattr(self.ledger, op.method)(*op.args, **op.kwargs)
            except LedgerError as exc:
                reply = self._ledger_down(op, exc)
            except BudgetExceeded as exc:
                error = exc

    async def _adrive(self, flow: Flow) -> Any:
        reply: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as stop:
                return stop.value
            reply, error = None, None
            try:
                reply = await self._aperform(op)
            except LedgerError as exc:
                reply = self._ledger_down(op, exc)
            except BudgetExceeded as exc:
                error = exc

    async def _aperform(self, op: _Op) -> Any:
        if getattr(self.ledger, "runs_inline", False):  # nothing to await: nothing to cancel
            return getattr(self.ledger, op.method)(*op.args, **op.kwargs)
        call = getattr(self.ledger, "a" + op.method)(*op.args, **op.kwargs)
        if op.method != "reserve":
            return await call
        # A reservation made while its caller is being cancelled must not wait for the TTL.
        task = asyncio.ensure_future(call)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._release_orphan)
            raise

    def _release_orphan(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is None:
            release = asyncio.ensure_future(self.ledger.arelease(task.result()))
            self._background.add(release)
            release.add_done_callback(self._background.discard)

    def _ledger_down(self, op: _Op, exc: LedgerError) -> Any:
        if not self._fail_open:
            raise exc
        log.warning("ledger unavailable, continuing without it (on_ledger_error: fail_open): %s",
                    exc)
        return op.fallback

    # -- what the shells call ---------------------------------------------------------------

    def plan(self, routing: Routing) -> Decision:
        """The decision within what is left of every budget, without reserving (for `route()`)."""
        decision: Decision = self._drive(self._plan_flow(routing))
        return decision

    def reserve(self, routing: Routing, **kind: bool) -> tuple[Decision, Hold]:
        """Decide within what is left and hold the chosen candidate's worst case in every budget
        in scope, atomically; raises `BudgetExceeded` (or `LedgerError` when fail_closed).
        `kind` (stream, is_async) describes the call to hooks that see a refusal."""
        try:
            result: tuple[Decision, Hold] = self._unreserved(routing) if self._record_only \
                else self._drive(self._reserve_flow(routing))
        except NoRouteError as exc:
            self._refused(routing.request, exc, **kind)
            raise
        return result

    async def areserve(self, routing: Routing) -> tuple[Decision, Hold]:
        """The async twin of `reserve()`."""
        try:
            result: tuple[Decision, Hold] = self._unreserved(routing) if self._record_only \
                else await self._adrive(self._reserve_flow(routing))
        except NoRouteError as exc:
            self._refused(routing.request, exc, is_async=True)
            raise
        return result

    def _refused(self, request: Request, exc: NoRouteError, **kind: bool) -> None:
        """Hooks see a call refused before it starts as its decision, then the error."""
        if self._hooks is not None and exc.decision is not None:
            self._hooks.error(self._hooks.begin(request, exc.decision, **kind), exc)

    def spend(self, now: dt.datetime, *, user: str | None, team: str | None,
              tags: tuple[str, ...], since: dt.datetime | None, until: dt.datetime | None,
              by: tuple[str, ...]) -> SpendReport:
        """`Router.spend()`: see `router.ledger.report`."""
        scope = CallScope(user, team, tags) if user or team or tags else None
        return spend_report(self.ledger, self.budgets, now=now, deployments=self._pairs,
                            scope=scope, since=since, until=until, by=by)

    def export(self, target: str | os.PathLike[str] | IO[str], *, format: ExportFormat | None,
               since: dt.datetime | None, until: dt.datetime | None) -> int:
        """`Router.export_spend()`: the entries settled in [since, until), as CSV or JSONL."""
        entries = self.ledger.entries(since=since.timestamp() if since else None,
                                      until=until.timestamp() if until else None)
        return export_entries(entries, target, format=format)


class Hold:
    """A call's reservation, from before its first attempt until it is settled or released.

    The shell hands it the call's state (`watch`), runs the call inside `settling()`, and so the
    reservation is settled at `call.spent` or released however the call ends. Before an attempt
    whose worst case would take the call past what is held, it calls
    `cover(call.spent + candidate.worst_case_cost)`: that reserves the difference, atomically, or
    raises `BudgetExceeded`. With `record` (no budget applies) nothing is held: the call's entry
    is written, with these labels, when it ends.
    """

    def __init__(self, guard: BudgetGuard, reservation: Reservation | None, decision: Decision,
                 *, record: Labels | None = None):
        self._guard = guard
        self.reservation = reservation  # None: no budget applies, or ledger down and fail_open
        self._record = record
        self._decision = decision
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

    def _cover_flow(self, total: Decimal) -> Flow:
        res = self.reservation
        if res is not None and not self._closed and total > res.amount:
            self.reservation = yield _Op("extend", (res, total - res.amount), fallback=res)

    def _held_enough(self, total: Decimal) -> bool:  # always so for a call's first attempt
        return self.reservation is None or self._closed or total <= self.reservation.amount

    def cover(self, total: Decimal) -> None:
        """Make sure `total` USD is held for this call, extending the reservation if needed."""
        if not self._held_enough(total):
            self._guard._drive(self._cover_flow(total))

    async def acover(self, total: Decimal) -> None:
        if not self._held_enough(total):
            await self._guard._adrive(self._cover_flow(total))

    def covers(self, call: CallState, action: Try) -> bool:
        """Cover `action`'s worst case on top of what `call` has spent; when a shared budget
        refuses, record the attempt as skipped (the call state plans what is next) and say so."""
        if self.reservation is None:  # nothing held, nothing to extend
            return True
        try:
            self.cover(call.spent + action.candidate.worst_case_cost)
        except BudgetExceeded as exc:
            call.skipped(action, str(exc))
            return False
        return True

    async def acovers(self, call: CallState, action: Try) -> bool:
        """The async twin of `covers()`."""
        if self.reservation is None:
            return True
        try:
            await self.acover(call.spent + action.candidate.worst_case_cost)
        except BudgetExceeded as exc:
            call.skipped(action, str(exc))
            return False
        return True

    def _close_op(self, exc: BaseException | None) -> _Op | None:
        if self._closed:
            return None
        self._closed = True
        res, call = self.reservation, self._call
        if res is None and self._record is None:
            return None
        spent = call.spent if call is not None else Decimal(0)
        if exc is None:
            outcome = Outcome.OK
        elif isinstance(exc, asyncio.CancelledError | GeneratorExit | KeyboardInterrupt):
            outcome = Outcome.CANCELLED
        else:
            outcome = Outcome.FAILED
        if outcome is not Outcome.OK and spent == 0:
            return None if res is None else _Op("release", (res,))
        last = call.attempts[-1] if call is not None and call.attempts else None
        model = last.model if last else self._decision.model
        deployment = last.deployment if last else self._decision.deployment
        if res is None:
            return _Op("record", (spent,), {"outcome": outcome, "model": model,
                                            "deployment": deployment, "labels": self._record})
        return _Op("settle", (res, spent),
                   {"outcome": outcome, "model": model, "deployment": deployment})

    def close(self, exc: BaseException | None = None) -> None:
        """Settle at the call's spend (or release when a failed call spent nothing). Never raises:
        a settlement the ledger refuses is logged, and its reservation expires."""
        op = self._close_op(exc)
        if op is None:
            return
        try:
            getattr(self._guard.ledger, op.method)(*op.args, **op.kwargs)
        except Exception:  # the call is over, paid for or not: report, do not mask its outcome
            if self.reservation is None:
                log.exception("could not record the spend of a call")
            else:
                log.exception("could not %s reservation %s; it expires after its TTL", op.method,
                              op.args[0].id)
        if self._guard._hooks is not None:  # what the budgets have left, for hooks that watch
            self._guard._hooks.budgets_after(self._guard.ledger, self.reservation)

    async def aclose(self, exc: BaseException | None = None) -> None:
        if getattr(self._guard.ledger, "runs_inline", False):
            self.close(exc)
            return
        op = self._close_op(exc)
        if op is None:
            return
        work = getattr(self._guard.ledger, "a" + op.method)(*op.args, **op.kwargs)
        try:
            # Shielded: a task cancelled again while settling still records its spend.
            await asyncio.shield(work)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not %s reservation %s; it expires after its TTL", op.method,
                          op.args[0].id)
        if self._guard._hooks is not None:
            await self._guard._hooks.abudgets_after(self._guard.ledger, self.reservation)

    def abandon(self) -> None:
        """Release a reservation whose call never started (a stream never iterated)."""
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
