"""Observing the router: hooks around every call, OpenTelemetry spans, Prometheus metrics, logs.

    from router.observability import LoggingHook, OpenTelemetryHook, PrometheusHook
    router = Router(config, hooks=[OpenTelemetryHook(), PrometheusHook(), LoggingHook()])

OpenTelemetry and Prometheus are optional extras (`router[otel]`, `router[prometheus]`), imported
only when their hook is created.
"""

from router.observability.hooks import CallInfo, Hook, Hooks, HookSet, HooksLike
from router.observability.logs import LoggingHook
from router.observability.otel import OpenTelemetryHook
from router.observability.prometheus import PrometheusHook

__all__ = [
    "CallInfo",
    "Hook",
    "HookSet",
    "Hooks",
    "HooksLike",
    "LoggingHook",
    "OpenTelemetryHook",
    "PrometheusHook",
]
