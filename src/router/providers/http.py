"""The HTTP clients the router hands the SDKs (`httpx`, or `httpx2` with `http_client: httpx2`).

One TLS context and pool limits for all of them, and a response hook that (1) reads the body of an
error status before the SDK sees it (mistralai cannot report an unread streamed one), and (2) bounds
every response body by the wall-clock `Deadline` of the attempt that sent it. Per-read timeouts
alone do not: a server that trickles bytes, or keeps a stream alive with SSE comments, resets them.
"""

from __future__ import annotations

import contextvars
import functools
import math
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Literal

import httpx
import httpx2

__all__ = ["Deadline", "HttpStack", "async_client", "sync_client"]

HttpStack = Literal["httpx", "httpx2"]

# The openai SDK's own pool sizes. A smaller keep-alive pool than the concurrency closes and
# reopens connections on every burst, which costs more than the whole routing decision.
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
_LIMITS2 = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)

_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "router_attempt_deadline", default=None
)


class Deadline:
    """When an attempt must be over (`time.monotonic()`), for the responses of the requests sent
    while it is current (`with Deadline(...):` around the SDK call that sends them).

    `attempt` seconds bound the attempt; `total` (what is left of the request's deadline, `None`:
    no deadline) takes over once a stream has shown text (`relax()`): it can no longer fall back,
    so only the request's own deadline is left to stop it.
    """

    __slots__ = ("_attempt", "_token", "_total", "at")

    def __init__(self, attempt: float, total: float | None = None) -> None:
        self.at = time.monotonic() + attempt
        self._attempt: float | None = attempt  # None once relaxed
        self._total = total

    def relax(self) -> None:
        """From now on only the request's deadline applies (a stream has shown text)."""
        attempt, total = self._attempt, self._total
        if attempt is not None:  # not yet relaxed; the attempt began at `at - attempt`
            self.at = math.inf if total is None else self.at + max(total - attempt, 0.0)
            self._attempt = None

    def message(self) -> str:
        if self._attempt is not None:
            return f"the attempt's time limit of {self._attempt:g}s passed before the response was complete"
        return (f"the request's deadline passed while streaming ({self._total:g}s were left when the "
                "attempt began; raise timeouts.total for longer answers)")

    def __enter__(self) -> Deadline:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _CURRENT.reset(self._token)


class _Bounded(httpx.SyncByteStream, httpx2.SyncByteStream):
    """A response body that raises a read timeout of its stack once its deadline has passed."""

    def __init__(self, inner: Any, deadline: Deadline, error: Any, request: Any) -> None:
        self._inner, self._deadline, self._error, self._request = inner, deadline, error, request

    def __iter__(self) -> Iterator[bytes]:
        deadline = self._deadline
        for part in self._inner:
            if time.monotonic() >= deadline.at:
                raise self._error(deadline.message(), request=self._request)
            yield part

    def close(self) -> None:
        self._inner.close()


class _AsyncBounded(httpx.AsyncByteStream, httpx2.AsyncByteStream):
    """The async twin of `_Bounded`."""

    def __init__(self, inner: Any, deadline: Deadline, error: Any, request: Any) -> None:
        self._inner, self._deadline, self._error, self._request = inner, deadline, error, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        deadline = self._deadline
        async for part in self._inner:
            if time.monotonic() >= deadline.at:
                raise self._error(deadline.message(), request=self._request)
            yield part

    async def aclose(self) -> None:
        await self._inner.aclose()


def _bound(response: Any, error: Any, stream_type: type[Any]) -> bool:
    """Put the current deadline on `response`'s body; `True` if it is an error to read now."""
    deadline = _CURRENT.get()
    if deadline is not None:
        request = response.request
        if time.monotonic() >= deadline.at:  # the head alone took too long (httpx closes it)
            raise error(deadline.message(), request=request)
        response.stream = stream_type(response.stream, deadline, error, request)
    return bool(response.status_code >= 400)  # the SDKs build their error from the body


def _sync_hook(error: Any) -> Callable[[Any], None]:
    def on_response(response: Any) -> None:
        if _bound(response, error, _Bounded):
            response.read()

    return on_response


def _async_hook(error: Any) -> Callable[[Any], Awaitable[None]]:
    async def on_response(response: Any) -> None:
        if _bound(response, error, _AsyncBounded):
            await response.aread()

    return on_response


_HOOKS = {"response": [_sync_hook(httpx.ReadTimeout)]}
_HOOKS2 = {"response": [_sync_hook(httpx2.ReadTimeout)]}
_AHOOKS = {"response": [_async_hook(httpx.ReadTimeout)]}
_AHOOKS2 = {"response": [_async_hook(httpx2.ReadTimeout)]}


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
                             event_hooks=_HOOKS2)
    return httpx.Client(transport=transport, verify=_ssl_context(), timeout=timeout,
                        limits=_LIMITS, event_hooks=_HOOKS)


def async_client(stack: HttpStack, *, transport: Any,
                 timeout: float) -> httpx.AsyncClient | httpx2.AsyncClient:
    """An async client of `stack` (`transport` replaces the network, `httpx` only)."""
    if stack == "httpx2":
        return httpx2.AsyncClient(verify=_ssl_context(), timeout=timeout, limits=_LIMITS2,
                                  event_hooks=_AHOOKS2)
    return httpx.AsyncClient(transport=transport, verify=_ssl_context(), timeout=timeout,
                             limits=_LIMITS, event_hooks=_AHOOKS)
