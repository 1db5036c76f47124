"""`Router`: the sync and async shells that carry out the pure decisions of `decision` and `calls`."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import IO, Any

from typing_extensions import Unpack

from router.breaker import BreakerStore, store_for_ledger
from router.budgets import LedgerErrorPolicy, check_budgets, check_ttl
from router.calls import CallState, Fail, call_state
from router.catalog import Catalog
from router.config import build_deployments
from router.decision import Decision, RoutingSettings, decide
from router.deployments import Deployment
from router.errors import ProviderError
from router.ledger import Ledger, open_ledger
from router.ledger.guard import BudgetGuard, Routing
from router.ledger.hold import Hold
from router.ledger.report import ExportFormat, SpendReport
from router.lifecycle import notices, substitute_retired, warn_notices
from router.messages import MessagesLike, build_request
from router.money import exact, parse_money
from router.observability.hooks import HookSet, HooksLike
from router.options import RequestOptions, check_options, parse_models, split_scope
from router.providers import HttpStack, Provider, make_provider
from router.resilience import Resilience
from router.settings import located_errors, resolve
from router.strategies import Filter, StrategyLike, call_strategy, resolve_strategy
from router.streaming import AsyncReplyStream, ReplyStream
from router.types import Reply, Request

__all__ = ["Router"]

log = logging.getLogger("router")

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Router:
    """Routes each request to the cheapest deployment that can take it within its budget.

    `Router()`: the built-in catalog, keys from the environment; `Router.from_config(path_or_dict)`:
    a config (precedence: arguments > environment > file > built-in, see `router.settings`).
    `transport` (e.g. `router.mock.mock_transport()`) replaces the network; `breaker_store`,
    `resilience` and `ledger` replace what the config's `breaker:`, `retries:`/`timeouts:` and
    `ledger:` would build; `hooks` (`router.observability`) see every decision, reply and error.
    """

    @exact
    def __init__(
        self,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        strategy: StrategyLike | None = None,
        filters: Sequence[Filter] = (),
        env: Mapping[str, str] | None = None,
        transport: Any = None,
        clock: Clock = _utcnow,
        breaker_store: BreakerStore | None = None,
        resilience: Resilience | None = None,
        hooks: HooksLike | None = None,
        ledger: Ledger | None = None,
    ):
        env = os.environ if env is None else env
        resolved = resolve(config, env=env)
        cfg, unset, source = resolved.config, resolved.unset, resolved.source
        self._key_hint = resolved.key_hint  # for MissingKeyError: MISTRAL_API_KEY alone
        self._catalog, self._deployments = build_deployments(cfg, unset, source)
        self._deployment_ids = tuple(d.id for d in self._deployments)
        self._settings: RoutingSettings = cfg.routing.settings()
        with located_errors(resolved):  # a bad option names the file (or variable) it came from
            self._strategy = resolve_strategy(strategy or cfg.routing.strategy,
                                              **cfg.routing.options)
        self._filters = tuple(filters)
        self._transport = transport
        self._http: HttpStack = cfg.http_client
        self._clock = clock
        self._providers: dict[str, Provider] = {}
        self._hooks = HookSet.of(hooks)
        check_budgets(cfg.budgets, models=[d.model for d in self._deployments],
                      deployments=[d.id for d in self._deployments], source=source)
        longest = max((d.timeout for d in self._deployments), default=0.0)
        deadline = (resilience.timeouts if resilience else
                    cfg.timeouts.timeouts(longest_attempt=longest)).total
        check_ttl(cfg.reservation_ttl, deadline, budgets=cfg.budgets, source=source, settings=()
                  if resilience else cfg.timeouts.deadline_settings(self._deployments))
        self._owns_ledger = ledger is None
        with located_errors(resolved):  # e.g. a SQLite file that cannot be created
            ledger = ledger or open_ledger(cfg.ledger, clock=time.time if clock is _utcnow
                                           else lambda: self._clock().timestamp())
        store = store_for_ledger(ledger) if breaker_store is None else breaker_store  # replicas agree
        self._resilience = resilience or Resilience.from_config(
            cfg.retries, cfg.breaker, cfg.timeouts, store=store, longest_attempt=longest)
        self._budgets = BudgetGuard(
            ledger, cfg.budgets, deployments=self._deployments, clock=clock, ttl=cfg.reservation_ttl,
            fail_open=cfg.on_ledger_error is LedgerErrorPolicy.FAIL_OPEN, hooks=self._hooks,
        )
        warn_notices(notices(self._deployments, self._clock().date()))

    @classmethod
    def from_config(
        cls, config: str | os.PathLike[str] | Mapping[str, Any], **kwargs: Any
    ) -> Router:
        """Build a router from a YAML/TOML/JSON file or a dict of the same shape."""
        return cls(config, **kwargs)

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def deployments(self) -> tuple[Deployment, ...]:
        return self._deployments

    @property
    def ledger(self) -> Ledger:
        return self._budgets.ledger

    @property
    def resilience(self) -> Resilience:
        """The retry policy, deadlines and circuit breaker every call follows."""
        return self._resilience

    def __repr__(self) -> str:
        names = ", ".join(d.id for d in self._deployments)
        return f"Router(strategy={self._strategy.name!r}, deployments=[{names}])"

    # -- deciding (pure, no network) -----------------------------------------------------------

    @exact
    def route(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: str | Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Unpack[RequestOptions],
    ) -> Decision:
        """The decision `complete()` would act on, without calling anything.

        Shared budgets count with what is left of them now; nothing is reserved.
        Raises `BudgetExceeded` or `NoRouteError` (carrying the decision) when nothing fits.
        """
        return self._budgets.plan(self._routing(messages, budget, models, strategy, options))

    def _routing(
        self,
        messages: MessagesLike,
        budget: Decimal | str | int | float | None,
        models: str | Iterable[str] | None,
        strategy: StrategyLike | None,
        options: Mapping[str, Any],
    ) -> Routing:
        """The call, ready to be decided within whatever the shared budgets leave of it.

        Every argument is checked here, before any budget is reserved or request sent."""
        check_options(options)
        options, who = split_scope(options)
        request = build_request(messages, **options)
        limit = None if budget is None else parse_money(budget, field="budget")
        today = self._clock().date()
        moved: list[str] = []
        if models is not None:
            models, moved = substitute_retired(parse_models(models), self._deployments, today,
                                               self._catalog)
        chosen = self._strategy if strategy is None else call_strategy(strategy)
        wanted = None if models is None else list(models)
        unavailable = self._unavailable()

        def decide_within(cap: Decimal | None, per_deployment: Mapping[str, Decimal]) -> Decision:
            decision = decide(request, self._deployments, strategy=chosen, budget=cap, today=today,
                              settings=self._settings, models=wanted, filters=self._filters,
                              unavailable=unavailable, deployment_budgets=per_deployment)
            if moved or self._key_hint:
                decision = decision.evolve(notes=(*moved, *decision.notes), key_hint=self._key_hint)
            log.debug("decision: %s", decision.deployment or "none")
            return decision

        return Routing(request, who, limit, decide_within)

    def _unavailable(self) -> dict[str, str] | None:
        breaker = self._resilience.breaker
        return None if breaker is None else breaker.unavailable(self._deployment_ids)

    def _call(self, request: Request, decision: Decision) -> CallState:
        return call_state(request, decision, resilience=self._resilience)

    def _provider(self, deployment: Deployment) -> Provider:
        provider = self._providers.get(deployment.id)
        if provider is None:
            provider = make_provider(deployment, transport=self._transport, http=self._http)
            self._providers[deployment.id] = provider
        return provider

    # -- calling ------------------------------------------------------------------------------

    @exact
    def complete(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: str | Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Unpack[RequestOptions],
    ) -> Reply:
        """Send the request to the best deployment within `budget` (USD) and return its reply.

        Options: max_tokens, tools, tool_choice, response_format, temperature, stop, user,
        team, tags, metadata. The worst case is reserved in every shared budget in scope first,
        and settled at the reply's cost afterwards (released if the call fails).
        """
        routing = self._routing(messages, budget, models, strategy, options)
        decision, hold = self._budgets.reserve(routing)
        with hold.settling():
            if self._hooks is not None:
                return self._hooks.call(routing.request, decision, partial(self._complete, hold=hold))
            return self._complete(routing.request, decision, hold=hold)

    def _complete(self, request: Request, decision: Decision, *, hold: Hold) -> Reply:
        call = hold.watch(self._call(request, decision))
        while True:
            action = call.next_action()
            if isinstance(action, Fail):  # raise, or return a cascade's paid answer
                return action.result()
            if not hold.covers(call, action):
                continue
            if action.wait:
                time.sleep(action.wait)
            started = time.perf_counter()
            try:
                completion = self._provider(action.candidate.target).complete(
                    request, action.options
                )
            except ProviderError as exc:
                call.failed(action, exc, latency=time.perf_counter() - started)
                continue
            reply = call.accept(action, completion)
            if reply is not None:
                return reply

    @exact
    async def acomplete(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: str | Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Unpack[RequestOptions],
    ) -> Reply:
        """The async twin of `complete()`; the same decisions, awaited I/O."""
        routing = self._routing(messages, budget, models, strategy, options)
        decision, hold = await self._budgets.areserve(routing)
        async with hold.asettling():
            if self._hooks is not None:
                return await self._hooks.acall(routing.request, decision,
                                               partial(self._acomplete, hold=hold))
            return await self._acomplete(routing.request, decision, hold=hold)

    async def _acomplete(self, request: Request, decision: Decision, *, hold: Hold) -> Reply:
        call = hold.watch(self._call(request, decision))
        while True:
            action = call.next_action()
            if isinstance(action, Fail):
                return action.result()
            if not await hold.acovers(call, action):
                continue
            if action.wait:
                await asyncio.sleep(action.wait)
            started = time.perf_counter()
            try:
                completion = await self._provider(action.candidate.target).acomplete(
                    request, action.options
                )
            except ProviderError as exc:
                call.failed(action, exc, latency=time.perf_counter() - started)
                continue
            reply = call.accept(action, completion)
            if reply is not None:
                return reply

    @exact
    def stream(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: str | Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Unpack[RequestOptions],
    ) -> ReplyStream:
        """Iterate to get text deltas; `.reply` afterwards holds usage and cost.

        The decision is made and its worst case reserved now (errors such as `BudgetExceeded`
        raise here); the call starts on the first iteration. A stream abandoned before its end
        is billed for what it received (a stream never iterated releases its reservation).
        """
        routing = self._routing(messages, budget, models, strategy, options)
        decision, hold = self._budgets.reserve(routing, stream=True)
        request = routing.request
        with hold.released_on_error():
            decision.require_streamable()
            if self._hooks is not None:
                return self._hooks.stream(request, decision, lambda: self._call(request, decision),
                                          self._provider).holding(hold)
            return ReplyStream(self._call(request, decision), self._provider).holding(hold)

    @exact
    def astream(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: str | Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncReplyStream:
        """The async twin of `stream()`: `async for delta in router.astream(...)`.

        Like `stream()` it decides and reserves before returning, so that errors raise here; with
        shared budgets that is one short blocking ledger call.
        """
        routing = self._routing(messages, budget, models, strategy, options)
        decision, hold = self._budgets.reserve(routing, stream=True, is_async=True)
        request = routing.request
        with hold.released_on_error():
            decision.require_streamable()
            if self._hooks is not None:
                make = partial(self._call, request, decision)
                return self._hooks.astream(request, decision, make, self._provider).holding(hold)
            return AsyncReplyStream(self._call(request, decision), self._provider).holding(hold)

    # -- spend --------------------------------------------------------------------------------

    @exact
    def spend(self, *, user: str | None = None, team: str | None = None, tags: Iterable[str] = (),
              since: dt.datetime | None = None, until: dt.datetime | None = None,
              by: Sequence[str] = ()) -> SpendReport:
        """Budgets in their current windows (those a call by `user`/`team`/`tags` would meet, if
        given) and spend settled in [since, until) by model, or by `by` (see `router.ledger.report`)."""
        return self._budgets.spend(self._clock(), user=user, team=team, tags=tags, since=since,
                                   until=until, by=by)

    async def aspend(self, *, user: str | None = None, team: str | None = None,
                     tags: Iterable[str] = (), since: dt.datetime | None = None,
                     until: dt.datetime | None = None, by: Sequence[str] = ()) -> SpendReport:
        """The async twin of `spend()` (run on a worker thread)."""
        return await asyncio.to_thread(self.spend, user=user, team=team, tags=tags,
                                       since=since, until=until, by=by)

    @exact
    def export_spend(self, target: str | os.PathLike[str] | IO[str], *,
                     format: ExportFormat | None = None, since: dt.datetime | None = None,
                     until: dt.datetime | None = None) -> int:
        """Write the ledger's entries settled in [since, until) as CSV or JSONL; return how many."""
        return self._budgets.export(target, format=format, since=since, until=until)

    def close(self) -> None:
        """Close the sync HTTP connections of every adapter (and the ledger the router opened)."""
        for provider in self._providers.values():
            provider.close()
        self._budgets.closing(self._budgets.flush())
        if self._owns_ledger:
            self.ledger.close()

    async def aclose(self) -> None:
        """Close the async HTTP connections of every adapter (and the ledger the router opened)."""
        for provider in self._providers.values():
            await provider.aclose()
        self._budgets.closing(await self._budgets.aflush())
        if self._owns_ledger:
            await self.ledger.aclose()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
