"""`Router`: the sync and async shells that carry out the pure decisions of `decision` and `calls`."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from router.breaker import BreakerStore
from router.calls import CallState, Fail
from router.catalog import Catalog
from router.config import build_deployments
from router.decision import Decision, RoutingSettings, decide
from router.deployments import Deployment
from router.errors import InvalidRequestError, ProviderError
from router.lifecycle import notices, substitute_retired
from router.messages import MessagesLike, build_request
from router.money import parse_money
from router.observability.hooks import HookSet, HooksLike
from router.providers import Provider, make_provider
from router.resilience import Resilience
from router.settings import resolve_config
from router.strategies import Filter, StrategyLike, resolve_strategy
from router.streaming import AsyncReplyStream, ReplyStream
from router.types import Reply, Request

__all__ = ["ModelLifecycleWarning", "Router"]

log = logging.getLogger("router")

Clock = Callable[[], dt.datetime]


class ModelLifecycleWarning(UserWarning):
    """A configured deployment is deprecated (shutdown announced) or already retired."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Router:
    """Routes each request to the cheapest deployment that can take it within its budget.

    `Router()` uses the built-in catalog and keys from the environment (`OPENAI_API_KEY`,
    `OPENROUTER_API_KEY`, `MISTRAL_API_KEY`); `Router.from_config(path_or_dict)` uses a config.
    `transport` (an `httpx` transport such as `router.mock.mock_transport()`) replaces the network.
    Retries, fallbacks, circuit breaking and deadlines follow the config's `retries:`, `breaker:`
    and `timeouts:`; `breaker_store` shares breaker state (e.g. `RedisBreakerStore`), and
    `resilience` replaces all of it (e.g. tenacity strategies of your own).
    `hooks` (see `router.observability`) see every call's decision and its reply or error.
    Config precedence: arguments > environment (`ROUTER_CONFIG`, `ROUTER_SECTION__KEY`) > file >
    built-in (see `router.settings`).
    """

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
    ):
        env = os.environ if env is None else env
        cfg, unset, source = resolve_config(config, env=env)
        self._catalog, self._deployments = build_deployments(cfg, unset, source)
        self._settings: RoutingSettings = cfg.routing.settings()
        self._strategy = resolve_strategy(strategy or cfg.routing.strategy, **cfg.routing.options)
        self._filters = tuple(filters)
        self._transport = transport
        self._clock = clock
        self._providers: dict[str, Provider] = {}
        self._resilience = resilience or Resilience.from_config(
            cfg.retries, cfg.breaker, cfg.timeouts, store=breaker_store,
            longest_attempt=max((d.timeout for d in self._deployments), default=0.0),
        )
        self._hooks = HookSet.of(hooks)
        self._warn_lifecycle()

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
    def resilience(self) -> Resilience:
        """The retry policy, deadlines and circuit breaker every call follows."""
        return self._resilience

    def __repr__(self) -> str:
        names = ", ".join(d.id for d in self._deployments)
        return f"Router(strategy={self._strategy.name!r}, deployments=[{names}])"

    # -- deciding (pure, no network) -----------------------------------------------------------

    def route(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Any,
    ) -> Decision:
        """The decision `complete()` would act on, without calling anything.

        Raises `BudgetExceeded` or `NoRouteError` (carrying the decision) when nothing fits.
        """
        _, decision = self._decide(messages, budget, models, strategy, options)
        decision.require_route()
        return decision

    def _decide(
        self,
        messages: MessagesLike,
        budget: Decimal | str | int | float | None,
        models: Iterable[str] | None,
        strategy: StrategyLike | None,
        options: Mapping[str, Any],
    ) -> tuple[Request, Decision]:
        options = dict(options)
        scope: dict[str, Any] = {k: options.pop(k) for k in ("user", "team", "tags") if k in options}
        _check_scope(scope)
        request = build_request(messages, **options)
        limit = None if budget is None else parse_money(budget, field="budget")
        moved: list[str] = []
        if models is not None:
            models, moved = substitute_retired(list(models), self._deployments, self._clock().date())
        decision = decide(
            request,
            self._deployments,
            strategy=self._strategy if strategy is None else resolve_strategy(strategy),
            budget=limit,
            today=self._clock().date(),
            settings=self._settings,
            models=None if models is None else list(models),
            filters=self._filters,
            unavailable=self._unavailable(),
        )
        if moved:
            decision = dataclasses.replace(decision, notes=(*moved, *decision.notes))
        log.debug("decision: %s", decision.deployment or "none")
        return request, decision

    def _unavailable(self) -> dict[str, str] | None:
        breaker = self._resilience.breaker
        return None if breaker is None else breaker.unavailable(d.id for d in self._deployments)

    def _call(self, request: Request, decision: Decision) -> CallState:
        return CallState(request, decision, resilience=self._resilience)

    def _provider(self, deployment: Deployment) -> Provider:
        provider = self._providers.get(deployment.id)
        if provider is None:
            provider = make_provider(deployment, transport=self._transport)
            self._providers[deployment.id] = provider
        return provider

    # -- calling ------------------------------------------------------------------------------

    def complete(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Any,
    ) -> Reply:
        """Send the request to the best deployment within `budget` (USD) and return its reply.

        Options: max_tokens, tools, tool_choice, response_format, temperature, stop, user,
        team, tags, metadata.
        """
        request, decision = self._decide(messages, budget, models, strategy, options)
        if self._hooks is not None:
            return self._hooks.call(request, decision, self._complete)
        return self._complete(request, decision)

    def _complete(self, request: Request, decision: Decision) -> Reply:
        call = self._call(request, decision)
        while True:
            action = call.next_action()
            if isinstance(action, Fail):
                raise action.error
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
            return call.succeeded(action, completion)

    async def acomplete(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Any,
    ) -> Reply:
        """The async twin of `complete()`; the same decisions, awaited I/O."""
        request, decision = self._decide(messages, budget, models, strategy, options)
        if self._hooks is not None:
            return await self._hooks.acall(request, decision, self._acomplete)
        return await self._acomplete(request, decision)

    async def _acomplete(self, request: Request, decision: Decision) -> Reply:
        call = self._call(request, decision)
        while True:
            action = call.next_action()
            if isinstance(action, Fail):
                raise action.error
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
            return call.succeeded(action, completion)

    def stream(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Any,
    ) -> ReplyStream:
        """Iterate to get text deltas; `.reply` afterwards holds usage and cost.

        The decision is made now (errors such as `BudgetExceeded` raise here); the call starts
        on the first iteration.
        """
        request, decision = self._decide(messages, budget, models, strategy, options)
        if self._hooks is not None:
            return self._hooks.stream(request, decision, lambda: self._call(request, decision),
                                      self._provider)
        return ReplyStream(self._call(request, decision), self._provider)

    def astream(
        self,
        messages: MessagesLike,
        *,
        budget: Decimal | str | int | float | None = None,
        models: Iterable[str] | None = None,
        strategy: StrategyLike | None = None,
        **options: Any,
    ) -> AsyncReplyStream:
        """The async twin of `stream()`: `async for delta in router.astream(...)`."""
        request, decision = self._decide(messages, budget, models, strategy, options)
        if self._hooks is not None:
            return self._hooks.astream(request, decision, lambda: self._call(request, decision),
                                       self._provider)
        return AsyncReplyStream(self._call(request, decision), self._provider)

    # -- lifecycle ----------------------------------------------------------------------------

    def _warn_lifecycle(self) -> None:
        for notice in notices(self._deployments, self._clock().date()):
            log.warning("%s", notice.message)
            warnings.warn(notice.message, ModelLifecycleWarning, stacklevel=3)

    def close(self) -> None:
        """Close the sync HTTP connections of every adapter."""
        for provider in self._providers.values():
            provider.close()

    async def aclose(self) -> None:
        """Close the async HTTP connections of every adapter."""
        for provider in self._providers.values():
            await provider.aclose()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _check_scope(scope: Mapping[str, Any]) -> None:
    for key in ("user", "team"):
        value = scope.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidRequestError("must be a non-empty string", field=key)
    tags = scope.get("tags")
    if tags is not None and (
        isinstance(tags, str) or not all(isinstance(t, str) and t for t in tags)
    ):
        raise InvalidRequestError('must be a list of strings, e.g. ["summarise"]', field="tags")

