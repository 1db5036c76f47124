"""Prometheus metrics for routed calls: requests, tokens, cost, latency, fallbacks, budget left.

    hook = PrometheusHook()                  # the default registry; or registry=CollectorRegistry()
    router = Router(config, hooks=[hook])

Needs the `prometheus` extra. Labels are bounded: model, deployment, outcome (`ok` or the error
class), token kind, budget name (a budget kept per user is not exported: its series would grow with
the users and name them).
Money goes out as float USD, the only number Prometheus has.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from router.errors import BudgetExceeded
from router.extras import require
from router.observability.hooks import CallInfo, Hook

if TYPE_CHECKING:
    from router.types import Reply, Usage

__all__ = ["LATENCY_BUCKETS", "PrometheusHook"]

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# One set of metrics per registry: a second hook on the same registry shares them.
_metrics: dict[int, tuple[Any, dict[str, Any]]] = {}
_lock = threading.Lock()


class PrometheusHook(Hook):
    """Counts every call, and sets the remaining-budget gauge after every call that a shared
    budget applied to (`observe_budget()` sets it from outside too)."""

    def __init__(self, *, registry: Any = None, namespace: str = "router"):
        prom = require("prometheus_client", extra="prometheus", purpose="PrometheusHook")
        registry = prom.REGISTRY if registry is None else registry
        with _lock:
            entry = _metrics.get(id(registry))
            if entry is None or entry[0] is not registry:
                entry = (registry, _create(prom, registry, namespace))
                _metrics[id(registry)] = entry
        self.metrics: dict[str, Any] = entry[1]

    def on_reply(self, call: CallInfo, reply: Reply) -> None:
        m, model, dep = self.metrics, reply.model, reply.deployment
        m["requests"].labels(model, dep, "ok").inc()
        self._tokens(model, dep, reply.usage)
        self._costs(reply.decision.attempts)
        m["latency"].labels(model, dep).observe(call.elapsed())
        self._fallbacks(reply.decision.attempts)

    def on_error(self, call: CallInfo, error: BaseException) -> None:
        decision = getattr(error, "decision", None)
        attempts = list(decision.attempts) if decision is not None else []
        # labelled by the deployment that failed last (the first chosen, if none was called)
        failed = getattr(error, "deployment", None)
        last = next((a for a in reversed(attempts) if a.deployment == failed), None)
        chosen = call.decision.chosen
        model = last.model if last else chosen.model if chosen else "none"
        dep = last.deployment if last else chosen.deployment if chosen else "none"
        outcome = "cancelled" if isinstance(error, GeneratorExit) else type(error).__name__
        m = self.metrics
        m["requests"].labels(model, dep, outcome).inc()
        m["latency"].labels(model, dep).observe(call.elapsed())
        usage = getattr(error, "usage", None)
        if usage is not None and last is not None:  # tokens the failed call was billed for
            self._tokens(model, dep, usage)
        self._costs(attempts)
        if attempts:
            self._fallbacks(attempts)
        if isinstance(error, BudgetExceeded) and error.budget and error.budget != "request" \
                and error.remaining is not None:
            self.observe_budget(error.budget, error.remaining)

    def on_budget(self, name: str, remaining: Decimal) -> None:
        # A budget kept per user ("user/day:alice@example.com") would make a series per person,
        # named after them: not exported (the ledger reports it: `router spend`). Per team, tag,
        # model or deployment (sets the app or the config bounds) it is.
        budget_id, per_value, _ = name.partition(":")
        if per_value and budget_id.startswith("user"):
            return
        self.observe_budget(name, remaining)

    def observe_budget(self, name: str, remaining: Decimal) -> None:
        """Set `router_budget_remaining_usd{budget=name}` (e.g. from the spend ledger)."""
        self.metrics["budget"].labels(name).set(float(remaining))

    def _tokens(self, model: str, dep: str, usage: Usage) -> None:
        tokens = self.metrics["tokens"]
        tokens.labels(model, dep, "input").inc(usage.input_tokens)
        tokens.labels(model, dep, "output").inc(usage.output_tokens)
        if usage.cached_input_tokens:
            tokens.labels(model, dep, "cached_input").inc(usage.cached_input_tokens)

    def _costs(self, attempts: Any) -> None:
        # Each attempt's cost on its own deployment, failed ones (tokens received) included, so
        # that the counter adds up to what the ledger settled.
        for a in attempts:
            if a.cost:
                self.metrics["cost"].labels(a.model, a.deployment).inc(float(a.cost))

    def _fallbacks(self, attempts: Any) -> None:
        # Every failed attempt that another attempt followed is one fallback (or retry).
        for a in list(attempts)[:-1]:
            if a.outcome != "ok":
                self.metrics["fallbacks"].labels(a.deployment, a.outcome).inc()


def _create(prom: Any, registry: Any, ns: str) -> dict[str, Any]:
    md = ("model", "deployment")
    return {
        "requests": prom.Counter(f"{ns}_requests", "Routed calls by outcome",
                                 [*md, "outcome"], registry=registry),
        "tokens": prom.Counter(f"{ns}_tokens", "Tokens billed (input includes cached_input)",
                               [*md, "kind"], registry=registry),
        "cost": prom.Counter(f"{ns}_cost_usd", "USD spent, from reported usage", list(md),
                             registry=registry),
        "latency": prom.Histogram(f"{ns}_request_duration_seconds",
                                  "Seconds from the decision to the reply or error, retries "
                                  "included", list(md), buckets=LATENCY_BUCKETS, registry=registry),
        "fallbacks": prom.Counter(f"{ns}_fallbacks", "Failed attempts that another attempt "
                                  "followed", ["deployment", "reason"], registry=registry),
        "budget": prom.Gauge(f"{ns}_budget_remaining_usd", "USD left in a shared budget",
                             ["budget"], registry=registry),
    }
