"""An async SDK client per event loop, closed with its loop."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["LoopBound"]

T = TypeVar("T")


class LoopBound(Generic[T]):
    """An async SDK client per event loop: an `httpx.AsyncClient`'s connections belong to the loop
    that opened them, so a router used from a second `asyncio.run()` (or from loops in several
    threads) needs a client of each loop, not "Event loop is closed" from another's.

    With a `closer`, each client is closed as its loop shuts down (`asyncio.run()` closes the
    loop's async generators first, and one of them is this client's), so a router used across
    several `asyncio.run()` calls leaves no connection of a dead loop open; a loop that still
    runs keeps its client."""

    def __init__(self, factory: Callable[[], T],
                 closer: Callable[[T], Awaitable[None]] | None = None) -> None:
        self._factory = factory
        self._closer = closer
        self._client: T | None = None  # the last loop's, for the common case of one loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[T, AsyncGenerator[None, None] | None]
        ] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._client is not None:
            return self._client
        entry = self._by_loop.get(loop)
        if entry is None:
            client = self._factory()
            watch = None if self._closer is None else _closed_with_the_loop(self._closer, client)
            entry = self._by_loop[loop] = (client, watch)
        self._client, self._loop = entry[0], loop
        return entry[0]

    def current(self) -> T | None:
        """The client of the running loop, if one was made (for closing it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        entry = self._by_loop.get(loop)
        return entry[0] if entry is not None else None

    def forget(self) -> None:
        self._client = self._loop = None
        self._by_loop.clear()


def _closed_with_the_loop(closer: Callable[[T], Awaitable[None]],
                          client: T) -> AsyncGenerator[None, None]:
    """An async generator of the running loop that closes `client` when the loop closes it (at
    shutdown; or when dropped, while the loop still runs). Started here, synchronously: its
    first step only registers it with the loop and stops at the `yield`."""

    async def watch() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await closer(client)  # idempotent: the router's own aclose() may have come first

    agen = watch()
    with contextlib.suppress(StopIteration):
        agen.__anext__().send(None)
    return agen
