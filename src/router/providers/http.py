"""The HTTP clients the router hands the SDKs (`httpx`, or `httpx2` with `http_client: httpx2`).

One TLS context and pool limits for all of them, and a response hook that reads the body of an
error status before the SDK sees it (mistralai cannot report an unread streamed one).
"""

from __future__ import annotations

import functools
import ssl
from typing import Any, Literal

import httpx
import httpx2

__all__ = ["HttpStack", "async_client", "sync_client"]

HttpStack = Literal["httpx", "httpx2"]

# The openai SDK's own pool sizes. A smaller keep-alive pool than the concurrency closes and
# reopens connections on every burst, which costs more than the whole routing decision.
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
_LIMITS2 = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


def _sync_hook(response: Any) -> None:
    if response.status_code >= 400:  # the SDKs build their error from the body
        response.read()


async def _async_hook(response: Any) -> None:
    if response.status_code >= 400:
        await response.aread()


_HOOKS: dict[str, list[Any]] = {"response": [_sync_hook]}
_AHOOKS: dict[str, list[Any]] = {"response": [_async_hook]}


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: loading the CA bundle takes ~60 ms each time, which a
    router with a few deployments (and a client per event loop) would otherwise pay again and
    again."""
    return httpx.create_ssl_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR like httpx does


def sync_client(stack: HttpStack, *, transport: Any, timeout: float) -> httpx.Client | httpx2.Client:
    """A sync client of `stack` (`transport` replaces the network, `httpx` only)."""
    if stack == "httpx2":
        return httpx2.Client(verify=_ssl_context(), timeout=timeout, limits=_LIMITS2,
                             event_hooks=_HOOKS)
    return httpx.Client(transport=transport, verify=_ssl_context(), timeout=timeout,
                        limits=_LIMITS, event_hooks=_HOOKS)


def async_client(stack: HttpStack, *, transport: Any,
                 timeout: float) -> httpx.AsyncClient | httpx2.AsyncClient:
    """An async client of `stack` (`transport` replaces the network, `httpx` only)."""
    if stack == "httpx2":
        return httpx2.AsyncClient(verify=_ssl_context(), timeout=timeout, limits=_LIMITS2,
                                  event_hooks=_AHOOKS)
    return httpx.AsyncClient(transport=transport, verify=_ssl_context(), timeout=timeout,
                             limits=_LIMITS, event_hooks=_AHOOKS)
