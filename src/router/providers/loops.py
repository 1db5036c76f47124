"""An async SDK client per event loop, closed with its loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["LoopBound"]

T = TypeVar("T")


class LoopBound(Generic[T]):
    """An async SDK client per event loop: an `httpx.AsyncClient`'s connections belong to the loop
    that opened them, so a router used from a second `asyncio.run()` needs a new client, not
    "Event loop is closed" from the old one.

    With a `closer`, each client is closed as its loop shuts down (`asyncio.run()` closes the
    loop's async generators first, and one of them is this client's), so a router used across
    several `asyncio.run()` calls leaves no connection of a dead loop open."""

    def __init__(self, factory: Callable[[], T],
                 closer: Callable[[T], Awaitable[None]] | None = None) -> None:
        self._factory = factory
        self._closer = closer
        self._client: T | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: AsyncGenerator[None, None] | None = None

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._factory(), loop
            if self._closer is not None:
                self._watch = _closed_with_the_loop(self._closer, self._client)
        return self._client

    def current(self) -> T | None:
        """The client of the running loop, if one was made (for closing it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return self._client if self._loop is loop else None

    def forget(self) -> None:
        self._client = self._loop = self._watch = None


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
