"""The shells' side of shared budgets: read what is left, decide, reserve; later settle or release.

`BudgetGuard.reserve()` / `areserve()` run one flow of ledger operations (a generator, as httpx's
auth flows) through a sync or an async driver, so `complete()` and `acomplete()` share every rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import os
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from router.budget_routing import Choice, Decide, choose
from router.budgets import Applied, Budget, CallScope, apply_budgets
from router.decision import Decision
from router.deployments import Deployment
from router.errors import BudgetExceeded, LedgerError, NoRouteError
from router.ledger import Labels, Ledger, Limit, MemoryLedger, Outcome
from router.ledger.base import MAX_UNITS, from_units
from router.ledger.hold import LEFT, Flow, Hold, _Op
from router.ledger.report import ExportFormat, SpendReport, export_entries, spend_report
from router.options import check_period, check_spend_query
from router.types import Request

if TYPE_CHECKING:
    from router.observability.hooks import HookSet

__all__ = ["BudgetGuard", "Routing"]

log = logging.getLogger("router")

_ATTEMPTS = 4  # re-plans when another process took the room between reading and reserving


@dataclass(frozen=True, slots=True)
class Routing:
    """One call, ready to be decided: `decide(budget, per_deployment)` is the pure decision."""

    request: Request
    scope: CallScope
    budget: Decimal | None
    decide: Decide


_NOTHING, _NO_LABELS = Applied(), Labels()
_READS = frozenset({"balances", "scan"})
_WRITES = frozenset({"settle", "record", "book"})  # spend that must not be lost
_CEILING = from_units(MAX_UNITS)


def _no_ceiling(limits: Sequence[Limit]) -> tuple[Limit, ...]:
    return tuple(dataclasses.replace(limit, limit=_CEILING) for limit in limits)


class BudgetGuard:
    """Keeps calls inside the configured budgets, with one ledger shared by every call."""

    def __init__(self, ledger: Ledger, budgets: Sequence[Budget], *,
                 deployments: Sequence[Deployment], clock: Callable[[], dt.datetime],
                 ttl: float = 900.0, fail_open: bool = False, hooks: HookSet | None = None):
        self.ledger = ledger
        self.budgets = tuple(budgets)
        self._pairs = tuple((d.id, d.model) for d in deployments)
        self._clock = clock
        self.ttl = ttl
        self._fail_open = fail_open
        # Settlements the ledger refused (it was down): retried before the next reservation, so
        # that no call of this router starts while spend it already made is unrecorded.
        self._pending: list[_Op] = []
        self._pending_lock = threading.Lock()
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
        if self._pending:
            yield from self._flush_flow()
        scope = routing.scope
        labels = Labels(user=scope.user, team=scope.team, tags=scope.tags)
        for attempt in range(_ATTEMPTS):
            applied, choice = yield from self._choose(routing)
            chosen = choice.decision.chosen
            assert chosen is not None
            try:
                reservation = yield _Op("reserve", (choice.limits, chosen.worst_case_cost),
                                        {"ttl": self.ttl, "labels": labels})
            except BudgetExceeded:
                if attempt == _ATTEMPTS - 1:
                    raise
                continue  # raced by another call: re-read and decide again
            return choice.decision, Hold(self, reservation, choice.decision, applied=applied,
                                         labels=labels)
        raise AssertionError("unreachable")

    def _unreserved(self, routing: Routing) -> tuple[Decision, Hold]:
        decision = routing.decide(routing.budget, {})
        decision.require_route()
        user, team, tags = routing.scope.user, routing.scope.team, routing.scope.tags
        return decision, Hold(self, None, decision, record=Labels(user, team, tags)
                              if user or team or tags else _NO_LABELS)

    def _flush_flow(self) -> Flow:
        """Retry the settlements the ledger refused earlier, oldest first, one at a time (a call
        cancelled meanwhile leaves the rest waiting); when the ledger still refuses, the
        reservation after this fails too (fail_closed) or goes ahead unbudgeted (fail_open)."""
        done_count = 0
        while True:
            with self._pending_lock:
                if not self._pending:
                    break
                op = self._pending.pop(0)
            try:
                done = yield _Op(op.method, op.args, op.kwargs, fallback=LEFT)
            except LedgerError:
                done = LEFT
            if done is LEFT:
                with self._pending_lock:
                    self._pending.insert(0, op)
                    left = len(self._pending)
                if not self._fail_open:
                    raise LedgerError(
                        f"the ledger at {self.ledger.url} could not record {left} "
                        "settlement(s) of earlier calls; no call starts until it can")
                return
            done_count += 1
        if done_count:
            log.info("the ledger recorded %d settlement(s) it had refused", done_count)

    @property
    def pending(self) -> int:
        """Settlements the ledger refused, waiting to be retried."""
        return len(self._pending)

    def flush(self) -> int:
        """Retry the waiting settlements now; return how many are still waiting."""
        if self._pending:
            with contextlib.suppress(LedgerError):
                self._drive(self._flush_flow())
        return self.pending

    async def aflush(self) -> int:
        if self._pending:
            with contextlib.suppress(LedgerError):
                await self._adrive(self._flush_flow())
        return self.pending

    def closing(self, left: int) -> None:
        """Say what is lost when the router closes with settlements still unrecorded."""
        if left:
            log.error("closing with %d settlement(s) the ledger at %s never recorded: that spend "
                      "is missing from its budgets", left, self.ledger.url)

    def _defer(self, op: _Op, exc: BaseException) -> None:
        with self._pending_lock:
            self._pending.append(op)
        res = op.args[0] if op.method == "settle" else None
        log.error("the ledger could not %s %s (%s: %s); kept, and retried before the next call",
                  op.method, f"reservation {res.id}" if res is not None else "a call's spend",
                  type(exc).__name__, exc)

    def _finish(self, op: _Op) -> None:
        """Carry out a call's last ledger operation; never raises (the call is over). A refused
        settlement is kept for later, a refused release left to expire after the TTL."""
        try:
            self._sync(op)(*op.args, **op.kwargs)
        except Exception as exc:  # the call's outcome must not be masked by the ledger's
            self._ended_badly(op, exc)

    async def _afinish(self, op: _Op) -> None:
        if getattr(self.ledger, "runs_inline", False):
            self._finish(op)
            return
        try:
            # Shielded: a task cancelled again while settling still records its spend.
            await self._aperform(op)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._ended_badly(op, exc)

    def _ended_badly(self, op: _Op, exc: Exception) -> None:
        if op.method == "release":
            log.warning("could not release reservation %s (%s); it expires after its TTL",
                        op.args[0].id, exc)
        else:
            self._defer(op, exc)

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
                reply = self._sync(op)(*op.args, **op.kwargs)
            except LedgerError as exc:
                reply, error = self._ledger_down(op, exc)
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
                reply, error = self._ledger_down(op, exc)
            except BudgetExceeded as exc:
                error = exc

    def _sync(self, op: _Op) -> Callable[..., Any]:
        return self._book if op.method == "book" else getattr(self.ledger, op.method)

    async def _aperform(self, op: _Op) -> Any:
        if getattr(self.ledger, "runs_inline", False):  # nothing to await: nothing to cancel
            return self._sync(op)(*op.args, **op.kwargs)
        work = self._abook if op.method == "book" else getattr(self.ledger, "a" + op.method)
        task = asyncio.ensure_future(work(*op.args, **op.kwargs))
        if op.method in _READS:
            return await task
        # Shielded: a write whose caller is cancelled still completes, and what it leaves is
        # taken care of (a reservation released, a refused settlement kept for later).
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(functools.partial(self._orphaned, op))
            raise

    def _orphaned(self, op: _Op, task: asyncio.Future[Any]) -> None:
        failed = task.cancelled() or task.exception() is not None
        if failed:
            if op.method in _WRITES:
                self._defer(op, asyncio.CancelledError() if task.cancelled()
                            else task.exception() or LedgerError("unknown"))
        elif op.method == "reserve":
            release = asyncio.ensure_future(self.ledger.arelease(task.result()))
            self._background.add(release)
            release.add_done_callback(self._background.discard)

    def _book(self, limits: Sequence[Limit], cost: Decimal, *, outcome: Outcome, model: str | None,
              deployment: str | None, labels: Labels) -> bool:
        """Book spend that was never reserved (made while the ledger was down, under fail_open):
        a reservation without a ceiling on the same counters, settled at once."""
        res = self.ledger.reserve(_no_ceiling(limits), cost, ttl=self.ttl, labels=labels)
        return self.ledger.settle(res, cost, outcome=outcome, model=model, deployment=deployment)

    async def _abook(self, limits: Sequence[Limit], cost: Decimal, *, outcome: Outcome,
                     model: str | None, deployment: str | None, labels: Labels) -> bool:
        res = await self.ledger.areserve(_no_ceiling(limits), cost, ttl=self.ttl, labels=labels)
        return await self.ledger.asettle(res, cost, outcome=outcome, model=model,
                                         deployment=deployment)

    def _ledger_down(self, op: _Op, exc: LedgerError) -> tuple[Any, LedgerError | None]:
        """What the flow gets back: the error (fail_closed), or the op's fallback (fail_open)."""
        if not self._fail_open:
            return None, exc
        log.warning("ledger unavailable, continuing without it (on_ledger_error: fail_open): %s",
                    exc)
        return op.fallback, None

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
              tags: Iterable[str] | None, since: dt.datetime | None, until: dt.datetime | None,
              by: Sequence[str] | None) -> SpendReport:
        """`Router.spend()` (its arguments checked as a call's): see `router.ledger.report`."""
        check_spend_query(user, team, tags, by)
        check_period(since, until)
        tags, by = tuple(tags or ()), tuple(by or ())
        scope = CallScope(user, team, tags) if user or team or tags else None
        return spend_report(self.ledger, self.budgets, now=now, deployments=self._pairs,
                            scope=scope, since=since, until=until, by=by)

    def export(self, target: str | os.PathLike[str] | IO[str], *, format: ExportFormat | None,
               since: dt.datetime | None, until: dt.datetime | None) -> int:
        """`Router.export_spend()`: the entries settled in [since, until), as CSV or JSONL."""
        check_period(since, until)
        entries = self.ledger.entries(since=since.timestamp() if since else None,
                                      until=until.timestamp() if until else None)
        return export_entries(entries, target, format=format)
