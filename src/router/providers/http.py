"""The HTTP clients the router hands the SDKs (`httpx`, or `httpx2` with `http_client: httpx2`).

One TLS context and pool limits for all of them, and a response hook that (1) reads the body of an
error status before the SDK sees it (mistralai cannot report an unread streamed one), and (2) bounds
every response body by the wall-clock `Deadline` of the attempt that sent it. Per-read timeouts
alone do not: a server that trickles bytes, or keeps a stream alive with SSE comments, resets them.
Below the hook, the sockets of their connection pools (`_Network`) give no connect, write or read
more than what is left of the current deadline, so a response head that trickles in, or a read
that waits for nothing, ends on time too.
"""

from __future__ import annotations

import contextvars
import functools
import math
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any, Literal

import httpcore
import httpcore2
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

    `attempt` seconds from `begins` (`time.monotonic()` when the attempt was planned; default:
    now) bound the attempt; `total` (what was left of the request's deadline then, `None`: no
    deadline) takes over once a stream has shown text (`relax()`): it can no longer fall back,
    so only the request's own deadline is left to stop it.
    """

    __slots__ = ("_attempt", "_token", "_total", "at")

    def __init__(self, attempt: float, total: float | None = None,
                 begins: float | None = None) -> None:
        self.at = (time.monotonic() if begins is None else begins) + attempt
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
        deadline, parts = self._deadline, iter(self._inner)
        while True:
            token = _CURRENT.set(deadline)  # a read that gets nothing ends on time too
            try:
                part = next(parts, None)
            finally:
                _CURRENT.reset(token)
            if part is None:
                return
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
        deadline, parts = self._deadline, aiter(self._inner)
        while True:
            token = _CURRENT.set(deadline)
            try:
                part = await anext(parts, None)
            finally:
                _CURRENT.reset(token)
            if part is None:
                return
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


def _limit(timeout: float | None, error: Any) -> float | None:
    """`timeout` for one socket operation, cut to what is left of the current deadline; `error`
    (a timeout of httpcore's) once nothing is left."""
    deadline = _CURRENT.get()
    if deadline is None:
        return timeout
    left = deadline.at - time.monotonic()
    if left <= 0:
        raise error(deadline.message())
    return left if timeout is None or left < timeout else timeout


def _timed_out(exc: Exception, core: ModuleType) -> Exception:
    """A read timeout cut short by the deadline, saying so."""
    deadline = _CURRENT.get()
    if deadline is not None and time.monotonic() >= deadline.at:
        return core.ReadTimeout(deadline.message())  # type: ignore[no-any-return]
    return exc


class _Socket:
    """A connection of an httpcore pool whose operations end by the current deadline."""

    __slots__ = ("_core", "_inner")

    def __init__(self, inner: Any, core: ModuleType) -> None:
        self._inner, self._core = inner, core

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        core = self._core
        try:
            return self._inner.read(max_bytes, _limit(timeout, core.ReadTimeout))  # type: ignore[no-any-return]
        except core.ReadTimeout as exc:
            raise _timed_out(exc, core) from None

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _limit(timeout, self._core.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> _Socket:
        return _Socket(self._inner.start_tls(ssl_context, server_hostname,
                                             _limit(timeout, self._core.ConnectTimeout)), self._core)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncSocket(_Socket):
    """The async twin of `_Socket`."""

    __slots__ = ()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # type: ignore[override]
        core = self._core
        try:
            return await self._inner.read(max_bytes, _limit(timeout, core.ReadTimeout))  # type: ignore[no-any-return]
        except core.ReadTimeout as exc:
            raise _timed_out(exc, core) from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # type: ignore[override]
        await self._inner.write(buffer, _limit(timeout, self._core.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext,  # type: ignore[override]
                        server_hostname: str | None = None,
                        timeout: float | None = None) -> _AsyncSocket:
        inner = await self._inner.start_tls(ssl_context, server_hostname,
                                            _limit(timeout, self._core.ConnectTimeout))
        return _AsyncSocket(inner, self._core)


class _Network:
    """An httpcore network backend whose connections are `_Socket`s."""

    def __init__(self, inner: Any, core: ModuleType) -> None:
        self._inner, self._core = inner, core

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None) -> _Socket:
        timeout = _limit(timeout, self._core.ConnectTimeout)
        inner = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Socket(inner, self._core)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> _Socket:
        timeout = _limit(timeout, self._core.ConnectTimeout)
        return _Socket(self._inner.connect_unix_socket(path, timeout, socket_options), self._core)

    def sleep(self, seconds: float) -> Any:
        return self._inner.sleep(seconds)


class _AsyncNetwork(_Network):
    """The async twin of `_Network`: its connections are `_AsyncSocket`s."""

    async def connect_tcp(self, host: str, port: int,  # type: ignore[override]
                          timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> _AsyncSocket:
        timeout = _limit(timeout, self._core.ConnectTimeout)
        inner = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncSocket(inner, self._core)

    async def connect_unix_socket(self, path: str,  # type: ignore[override]
                                  timeout: float | None = None,
                                  socket_options: Any = None) -> _AsyncSocket:
        timeout = _limit(timeout, self._core.ConnectTimeout)
        inner = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _AsyncSocket(inner, self._core)


def _bound_sockets(client: Any, core: ModuleType, network: type[_Network]) -> None:
    """Put `network` under every connection pool of `client` (proxies' too; a transport given
    instead, such as a mock, has none). httpx takes no backend of its own, hence the poke."""
    for transport in (client._transport, *client._mounts.values()):
        pool: Any = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _Network):
            pool._network_backend = network(backend, core)


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
    client: httpx.Client | httpx2.Client
    if stack == "httpx2":
        client = httpx2.Client(verify=_ssl_context(), timeout=timeout, limits=_LIMITS2,
                               event_hooks=_HOOKS2)
        _bound_sockets(client, httpcore2, _Network)
    else:
        client = httpx.Client(transport=transport, verify=_ssl_context(), timeout=timeout,
                              limits=_LIMITS, event_hooks=_HOOKS)
        _bound_sockets(client, httpcore, _Network)
    return client


def async_client(stack: HttpStack, *, transport: Any,
                 timeout: float) -> httpx.AsyncClient | httpx2.AsyncClient:
    """An async client of `stack` (`transport` replaces the network, `httpx` only)."""
    client: httpx.AsyncClient | httpx2.AsyncClient
    if stack == "httpx2":
        client = httpx2.AsyncClient(verify=_ssl_context(), timeout=timeout, limits=_LIMITS2,
                                    event_hooks=_AHOOKS2)
        _bound_sockets(client, httpcore2, _AsyncNetwork)
    else:
        client = httpx.AsyncClient(transport=transport, verify=_ssl_context(), timeout=timeout,
                                   limits=_LIMITS, event_hooks=_AHOOKS)
        _bound_sockets(client, httpcore, _AsyncNetwork)
    return client
