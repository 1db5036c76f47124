"""Hooks, OpenTelemetry spans and Prometheus metrics, checked with the SDKs' in-memory exporter
and registry against the built-in mock (no network)."""

from __future__ import annotations

import dataclasses
import logging
import sys
from decimal import Decimal
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from router import BudgetExceeded, Router, ServerError
from router.decision import Attempt
from router.mock import mock_transport
from router.observability import (
    CallInfo,
    Hook,
    Hooks,
    LoggingHook,
    OpenTelemetryHook,
    PrometheusHook,
)
from router.observability.hooks import HookSet

PROMPT = "What is the capital of Australia? SECRET-PROMPT-TEXT"


class Recorder(Hook):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_decision(self, call: CallInfo, decision: Any) -> None:
        self.events.append(("decision", decision.deployment))

    def on_reply(self, call: CallInfo, reply: Any) -> None:
        self.events.append(("reply", reply.deployment))

    def on_error(self, call: CallInfo, error: BaseException) -> None:
        self.events.append(("error", type(error).__name__))


@pytest.fixture
def observed(make_router: Any) -> Any:
    def make(*hooks: Hook, transport: Any = None) -> Router:
        router: Router = make_router(hooks=list(hooks), transport=transport or mock_transport())
        return router

    return make


@pytest.fixture
def spans() -> tuple[InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider


def test_no_hooks_means_no_wrapper(router: Router) -> None:
    assert router._hooks is None
    assert HookSet.of([]) is None


def test_hooks_see_decision_then_reply(observed: Any) -> None:
    rec = Recorder()
    reply = observed(rec).complete(PROMPT, budget="0.001", max_tokens=50)
    assert rec.events == [("decision", reply.deployment), ("reply", reply.deployment)]


async def test_async_and_streams_are_observed(observed: Any) -> None:
    rec = Recorder()
    router = observed(rec)
    reply = await router.acomplete(PROMPT, budget="0.001", max_tokens=50)
    stream = router.stream(PROMPT, budget="0.001", max_tokens=50)
    assert "".join(stream)
    astream = router.astream(PROMPT, budget="0.001", max_tokens=50)
    assert "".join([d async for d in astream])
    kinds = [kind for kind, _ in rec.events]
    assert kinds == ["decision", "reply"] * 3
    assert rec.events[1] == ("reply", reply.deployment)
    assert stream.reply.cost > 0


def test_stream_stopped_early_reports_an_error(observed: Any) -> None:
    rec = Recorder()
    stream = iter(observed(rec).stream("Say many words " * 20, budget="0.01", max_tokens=60))
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    assert rec.events[-1] == ("error", "GeneratorExit")


def test_budget_refusal_is_an_error_after_the_decision(observed: Any) -> None:
    rec = Recorder()
    with pytest.raises(BudgetExceeded):
        observed(rec).complete(PROMPT, budget="0.0000001", max_tokens=100)
    assert rec.events == [("decision", None), ("error", "BudgetExceeded")]
    with pytest.raises(BudgetExceeded):
        observed(rec).stream(PROMPT, budget="0.0000001", max_tokens=100)
    assert rec.events[-1] == ("error", "BudgetExceeded")


def test_a_broken_hook_never_breaks_the_call(observed: Any, caplog: Any) -> None:
    def boom(call: CallInfo, reply: Any) -> None:
        raise RuntimeError("hook bug")

    rec = Recorder()
    with caplog.at_level(logging.ERROR, logger="router"):
        reply = observed(Hooks(on_reply=boom), rec).complete(PROMPT, budget="0.001", max_tokens=20)
    assert reply.text
    assert rec.events[-1] == ("reply", reply.deployment)
    assert "hook" in caplog.text
    assert "hook bug" in caplog.text


def test_hooks_must_be_hooks(make_router: Any) -> None:
    with pytest.raises(TypeError, match="Hook instances"):
        make_router(hooks=[print])


def test_otel_span_follows_genai_conventions(observed: Any, spans: Any) -> None:
    exporter, provider = spans
    reply = observed(OpenTelemetryHook(tracer_provider=provider)).complete(
        PROMPT, budget="0.001", max_tokens=50, temperature=0.2)
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    dep = next(d for d in reply.decision.candidates if d.deployment == reply.deployment).target
    assert span.name == f"chat {dep.model_id}"
    assert span.kind is SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == dep.model_id
    assert attrs["gen_ai.response.model"] == dep.model_id
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.usage.input_tokens"] == reply.usage.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == reply.usage.output_tokens
    assert attrs["gen_ai.response.finish_reasons"] == (reply.finish_reason.value,)
    assert attrs["gen_ai.provider.name"] == "openrouter"
    assert attrs["server.address"] == "openrouter.ai"
    assert attrs["router.cost_usd"] == float(reply.cost)
    assert attrs["router.deployment"] == reply.deployment
    assert attrs["router.strategy"] == "cheapest"
    assert attrs["router.budget_usd"] == 0.001
    assert attrs["router.attempts"] == 1
    assert [e.name for e in span.events] == ["router.attempt"]
    assert not any("SECRET-PROMPT-TEXT" in str(v) for v in attrs.values())


def test_otel_error_span(observed: Any, spans: Any) -> None:
    exporter, provider = spans
    with pytest.raises(BudgetExceeded):
        observed(OpenTelemetryHook(tracer_provider=provider)).complete(
            PROMPT, budget="0.0000001", max_tokens=100)
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "BudgetExceeded"


def test_otel_provider_error_records_status(make_router: Any, spans: Any) -> None:
    exporter, provider = spans
    failing = httpx.MockTransport(lambda r: httpx.Response(500, json={"error": {"message": "x"}}))
    router = make_router(hooks=[OpenTelemetryHook(tracer_provider=provider)], transport=failing)
    with pytest.raises(ServerError):
        router.complete(PROMPT, budget="0.001", max_tokens=20)
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ServerError"
    assert span.attributes["http.response.status_code"] == 500


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_prometheus_metrics(observed: Any) -> None:
    registry = CollectorRegistry()
    router = observed(PrometheusHook(registry=registry))
    reply = router.complete(PROMPT, budget="0.001", max_tokens=50)
    with pytest.raises(BudgetExceeded):
        router.complete(PROMPT, budget="0.0000001", max_tokens=100)
    md = {"model": reply.model, "deployment": reply.deployment}
    assert _sample(registry, "router_requests_total", **md, outcome="ok") == 1
    assert _sample(registry, "router_requests_total", model="none", deployment="none",
                   outcome="BudgetExceeded") == 1
    assert _sample(registry, "router_tokens_total", **md, kind="input") == reply.usage.input_tokens
    assert _sample(registry, "router_tokens_total", **md, kind="output") == reply.usage.output_tokens
    assert _sample(registry, "router_cost_usd_total", **md) == pytest.approx(float(reply.cost))
    assert _sample(registry, "router_request_duration_seconds_count", **md) == 1


def test_prometheus_fallbacks_and_budget_gauge(observed: Any) -> None:
    registry = CollectorRegistry()
    hook = PrometheusHook(registry=registry)
    reply = observed(hook).complete(PROMPT, budget="0.001", max_tokens=50)
    failed = Attempt(deployment="gpt-4o-mini@openai", model="gpt-4o-mini", outcome="RateLimitError")
    retried = dataclasses.replace(reply, decision=dataclasses.replace(
        reply.decision, attempts=(failed, *reply.decision.attempts)))
    hook.on_reply(HookSet([hook]).begin(_request(), retried.decision), retried)
    assert _sample(registry, "router_fallbacks_total", deployment="gpt-4o-mini@openai",
                   reason="RateLimitError") == 1
    hook.observe_budget("team:search", Decimal("12.5"))
    assert _sample(registry, "router_budget_remaining_usd", budget="team:search") == 12.5
    error = BudgetExceeded("no", budget="team:search", limit=Decimal(20), remaining=Decimal("0.4"))
    hook.on_error(HookSet([hook]).begin(_request(), reply.decision), error)
    assert _sample(registry, "router_budget_remaining_usd", budget="team:search") == 0.4
    assert PrometheusHook(registry=registry).metrics is hook.metrics  # shared, not duplicated


def _request() -> Any:
    from router.messages import build_request

    return build_request(PROMPT)


def test_logging_hook_leaves_prompts_out(observed: Any, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger="router"):
        reply = observed(LoggingHook()).complete(PROMPT, budget="0.001", max_tokens=20)
    assert f"ok: {reply.model} via {reply.deployment}" in caplog.text
    assert "SECRET-PROMPT-TEXT" not in caplog.text
    record = next(r for r in caplog.records if "ok:" in r.getMessage())
    assert Decimal(record.router["cost_usd"]) == reply.cost  # type: ignore[attr-defined]
    assert "E" not in record.router["cost_usd"]  # type: ignore[attr-defined]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="router"):
        observed(LoggingHook(include_prompt=True)).complete(PROMPT, budget="0.001", max_tokens=20)
    assert "SECRET-PROMPT-TEXT" in caplog.text


def test_logging_hook_logs_errors(observed: Any, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="router"), pytest.raises(BudgetExceeded):
        observed(LoggingHook()).complete(PROMPT, budget="0.0000001", max_tokens=100)
    assert "failed: BudgetExceeded" in caplog.text


@pytest.mark.parametrize(("make", "module", "extra"), [
    (lambda: PrometheusHook(registry=CollectorRegistry()), "prometheus_client", "prometheus"),
    (lambda: OpenTelemetryHook(), "opentelemetry.trace", "otel"),
])
def test_missing_extra_names_it(monkeypatch: Any, make: Any, module: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"pip install 'router\[{extra}\]'"):
        make()


BUDGETED = {
    "deployments": [{"model": "gpt-4o-mini", "provider": "openai", "api_key": "sk-test-0123456789"}],
    "budgets": [{"scope": "global", "limit": "5", "window": "day"},
                {"scope": "team", "limit": "1", "window": "day"}],
}


@pytest.mark.parametrize("mode", ["complete", "acomplete", "stream"])
def test_the_budget_gauge_follows_every_settled_call(mode: str) -> None:
    import asyncio

    registry = CollectorRegistry()
    router = Router(BUDGETED, hooks=[PrometheusHook(registry=registry)],
                    transport=mock_transport(), env={})
    costs = []
    for _ in range(2):
        if mode == "complete":
            costs.append(router.complete(PROMPT, team="search", max_tokens=20).cost)
        elif mode == "acomplete":
            costs.append(asyncio.run(router.acomplete(PROMPT, team="search", max_tokens=20)).cost)
        else:
            stream = router.stream(PROMPT, team="search", max_tokens=20)
            for _ in stream:
                pass
            assert stream.reply is not None
            costs.append(stream.reply.cost)
        spent = sum(costs, Decimal(0))
        # Set after the settlement, for each budget the call was reserved in, without any
        # observe_budget() by hand: what is left once this call's reservation became its cost.
        assert _sample(registry, "router_budget_remaining_usd", budget="global/day") == \
            pytest.approx(float(5 - spent))
        assert _sample(registry, "router_budget_remaining_usd", budget="team/day:search") == \
            pytest.approx(float(1 - spent))


def test_budgets_are_read_only_for_hooks_that_watch_them() -> None:
    seen: list[tuple[str, Decimal]] = []
    router = Router(BUDGETED, hooks=[Recorder(), Hooks(on_budget=lambda n, r: seen.append((n, r)))],
                    transport=mock_transport(), env={})
    reply = router.complete(PROMPT, max_tokens=20)
    assert seen == [("global/day", Decimal(5) - reply.cost)]
    assert HookSet.of([Recorder(), Hooks(on_reply=lambda c, r: None)]).budget_hooks == ()  # type: ignore[union-attr]


# -- the metrics add up to the ledger (the audit's case) -------------------------------------

from router.testing import FakeProviderServer, HttpError, StreamCut  # noqa: E402
from router.testing.pytest_plugin import fake_provider, fake_provider_session  # noqa: E402, F401


@pytest.mark.parametrize("adapter", ["openai", "mistral"])
def test_prometheus_cost_adds_up_to_the_ledger_and_books_each_attempt_on_its_deployment(
    fake_provider: FakeProviderServer, adapter: str  # noqa: F811
) -> None:
    import warnings

    from tests.resilience.conftest import BUDGET, config

    registry = CollectorRegistry()
    spans_out = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans_out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router(config(fake_provider, adapter, budgets=BUDGET, retries={"attempts": 1}),
                        env={}, hooks=[PrometheusHook(registry=registry),
                                       OpenTelemetryHook(tracer_provider=provider)])
    router.complete("Say something", max_tokens=20)                  # plain
    fake_provider.script(HttpError(status=503))
    router.complete("Say something", max_tokens=20)                  # 503, then the backup
    fake_provider.script(StreamCut(after_tokens=2))
    with pytest.raises(Exception, match="broke|cut|stream"):
        "".join(router.stream("Say something", max_tokens=20))       # billed for 2 tokens
    deltas = iter(router.stream("Say something", max_tokens=20))
    next(deltas)
    next(deltas)
    deltas.close()                                                   # abandoned, billed
    dropped = router.stream("Say something", max_tokens=20)
    del dropped                                                      # never read: costs nothing
    ledger_total = router.spend().total
    costs = {s.labels["deployment"]: s.value for m in registry.collect()
             if m.name == "router_cost_usd" for s in m.samples if s.name.endswith("_total")}
    assert Decimal(str(round(sum(costs.values()), 12))) == ledger_total > 0
    by_deployment = {dict(g.key)["deployment"]: g.cost
                     for g in router.spend(by=["deployment"]).groups}
    assert set(costs) == set(by_deployment) == {"primary", "backup"}
    for dep, cost in by_deployment.items():  # each attempt on its own deployment
        assert Decimal(str(round(costs[dep], 12))) == cost
    router.close()


def test_a_stream_dropped_unread_ends_its_span_and_request(observed: Any, spans: Any) -> None:
    exporter, provider = spans
    registry = CollectorRegistry()
    rec = Recorder()
    router = observed(rec, OpenTelemetryHook(tracer_provider=provider),
                      PrometheusHook(registry=registry))
    for _ in range(3):
        stream = router.stream(PROMPT, max_tokens=20)
        del stream
    assert len(exporter.get_finished_spans()) == 3  # none left open in the hook
    assert rec.events.count(("error", "GeneratorExit")) == 3
    cancelled = sum(s.value for m in registry.collect() if m.name == "router_requests"
                    for s in m.samples if s.name.endswith("_total")
                    and s.labels.get("outcome") == "cancelled")
    assert cancelled == 3


def test_per_user_budgets_stay_out_of_the_budget_gauge() -> None:
    # The audit's case: one series per user, labelled with their e-mail address.
    registry = CollectorRegistry()
    config = {**BUDGETED, "budgets": [*BUDGETED["budgets"],
                                      {"scope": "user", "limit": "1", "window": "day"}]}
    router = Router(config, hooks=[PrometheusHook(registry=registry)], transport=mock_transport(),
                    env={})
    for i in range(3):
        router.complete(PROMPT, user=f"user-{i}@example.com", team="search", max_tokens=20)
    budgets = {s.labels["budget"] for m in registry.collect()
               if m.name == "router_budget_remaining_usd" for s in m.samples}
    assert budgets == {"global/day", "team/day:search"}
