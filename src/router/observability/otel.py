"""OpenTelemetry spans for routed calls, after the GenAI semantic conventions, plus `router.*`
attributes for cost and the decision. Needs the `otel` extra; prompt text is never recorded.

    router = Router(config, hooks=[OpenTelemetryHook()])   # the global tracer provider
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from router.extras import require
from router.observability.hooks import CallInfo, Hook

if TYPE_CHECKING:
    from router.decision import Decision
    from router.deployments import Deployment
    from router.types import Reply

__all__ = ["OpenTelemetryHook", "provider_name", "served_deployment"]

# gen_ai.provider.name well-known values; other hosts are named as the router knows them.
_PROVIDERS = {"openai": "openai", "mistral": "mistral_ai", "azure": "azure.ai.openai"}

AttributeValue = str | bool | int | float | list[str]


def provider_name(dep: Deployment) -> str:
    """The `gen_ai.provider.name` of a deployment's host (`openrouter`, `custom` as is)."""
    return _PROVIDERS.get(dep.host, dep.host)


def served_deployment(decision: Decision, deployment_id: str) -> Deployment | None:
    """The deployment that answered, among the decision's candidates."""
    return next((c.target for c in decision.candidates if c.deployment == deployment_id), None)


class OpenTelemetryHook(Hook):
    """One CLIENT span per call, named `chat {model}`, parented to the caller's current span.

    Money goes out as float USD (span attributes have no decimal type); `reply.cost` stays exact.
    """

    def __init__(self, *, tracer_provider: Any = None):
        trace = require("opentelemetry.trace", extra="otel", purpose="OpenTelemetryHook")
        from router import __version__

        self._trace = trace
        self._tracer = trace.get_tracer("router", __version__, tracer_provider=tracer_provider)
        self._spans: dict[str, Any] = {}
        self._lock = threading.Lock()

    def on_decision(self, call: CallInfo, decision: Decision) -> None:
        chosen = decision.chosen
        attrs: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.stream": call.stream,
            "router.strategy": decision.strategy,
            "router.candidates": [c.deployment for c in decision.candidates],
            "router.excluded": [f"{d}: {r}" for d, r in decision.excluded_deployments.items()],
        }
        request = call.request
        if request.temperature is not None:
            attrs["gen_ai.request.temperature"] = request.temperature
        if request.stop:
            attrs["gen_ai.request.stop_sequences"] = list(request.stop)
        if decision.budget is not None:
            attrs["router.budget_usd"] = float(decision.budget)
        name = "chat"
        if chosen is not None:
            dep = chosen.target
            name = f"chat {dep.model_id}"
            attrs.update(_target(dep))
            attrs["gen_ai.request.max_tokens"] = chosen.max_output_tokens
            attrs["router.estimated_cost_usd"] = float(chosen.estimated_cost)
            attrs["router.worst_case_cost_usd"] = float(chosen.worst_case_cost)
            attrs["router.output_capped"] = chosen.output_capped
            attrs["router.input_tokens_estimate"] = chosen.input_tokens
        span = self._tracer.start_span(
            name, kind=self._trace.SpanKind.CLIENT, attributes=attrs, start_time=call.started_ns
        )
        with self._lock:
            self._spans[call.id] = span

    def on_reply(self, call: CallInfo, reply: Reply) -> None:
        span = self._pop(call)
        if span is None:
            return
        usage = reply.usage
        attrs: dict[str, AttributeValue] = {
            "gen_ai.response.finish_reasons": [reply.finish_reason.value],
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cached_input_tokens,
            "router.model": reply.model,
            "router.deployment": reply.deployment,
            "router.cost_usd": float(reply.cost),
            "router.attempts": len(reply.decision.attempts),
            "router.fallbacks": sum(a.outcome != "ok" for a in reply.decision.attempts),
        }
        if usage.reasoning_tokens:
            attrs["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
        if reply.request_id:
            attrs["gen_ai.response.id"] = reply.request_id
        dep = served_deployment(reply.decision, reply.deployment)
        if dep is not None:
            attrs["gen_ai.response.model"] = dep.model_id
        _attempt_events(span, reply.decision)
        span.set_attributes(attrs)
        span.end()

    def on_error(self, call: CallInfo, error: BaseException) -> None:
        span = self._pop(call)
        if span is None:
            return
        decision = getattr(error, "decision", None) or call.decision
        _attempt_events(span, decision)
        span.set_attribute("error.type", type(error).__name__)
        cost = getattr(error, "cost", None)  # what the failed request was billed for in all
        span.set_attribute("router.cost_usd", float(cost) if cost is not None else 0.0)
        usage = getattr(error, "usage", None)
        if usage is not None:  # a stream broken mid-answer, or a whole answer that was unusable
            span.set_attributes({"gen_ai.usage.input_tokens": usage.input_tokens,
                                 "gen_ai.usage.output_tokens": usage.output_tokens})
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            span.set_attribute("http.response.status_code", status)
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
        span.end()

    def _pop(self, call: CallInfo) -> Any:
        with self._lock:
            return self._spans.pop(call.id, None)


def _target(dep: Deployment) -> Mapping[str, AttributeValue]:
    url = urlsplit(dep.base_url)
    attrs: dict[str, AttributeValue] = {
        "gen_ai.provider.name": provider_name(dep),
        "gen_ai.request.model": dep.model_id,
        "router.model": dep.model,
        "router.deployment": dep.id,
        "server.address": url.hostname or "",
    }
    port = url.port or (443 if url.scheme == "https" else 80)
    attrs["server.port"] = port
    return attrs


def _attempt_events(span: Any, decision: Decision) -> None:
    for a in decision.attempts:
        attrs: dict[str, AttributeValue] = {
            "router.deployment": a.deployment, "router.model": a.model, "router.outcome": a.outcome,
            "router.latency_s": a.latency, "router.wait_s": a.wait, "router.cost_usd": float(a.cost),
        }
        if a.error:
            attrs["error.type"] = a.outcome
        span.add_event("router.attempt", attributes=attrs)
