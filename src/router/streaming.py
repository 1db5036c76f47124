"""Streaming replies: iterate for text deltas, then read `.reply` for usage and cost.

A failure before the first token is an ordinary failed attempt (the call state decides whether
another deployment takes over); after it, the stream raises `StreamError` with the partial text,
billed for what was received. A stream that ends without a finish reason is truncated, not done.
The attempt's time limit bounds a stream until its first text, the request's deadline the whole
of it (enforced on the bytes by the adapters' HTTP clients, and checked after every chunk).
Its budget reservation is settled when the stream ends, breaks or is abandoned: a stream left
mid-answer is billed for the tokens received, one never started gives its reservation back.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
)
from typing import Generic, Self, TypeVar

from router.calls import CallState, Fail, Try
from router.decision import Decision
from router.deployments import Deployment
from router.errors import InvalidRequestError, ProviderError, ResponseError, StreamError
from router.ledger.hold import Hold
from router.money import exact, format_usd, money_context
from router.providers.base import Provider, StreamAssembler
from router.types import Reply

__all__ = ["AsyncReplyStream", "ReplyStream"]

ProviderFor = Callable[[Deployment], Provider]
T = TypeVar("T")


class _Owned(Generic[T]):
    """An async generator iterated, and closed, by one owner (`aclosing`), kept out of the event
    loop's list of generators to close at shutdown. `asyncio.run()` closes everything on that list
    at once: an inner generator already being closed by its owner would fail ("aclose():
    asynchronous generator is already running"), or make its owner fail. A generator joins the
    list on its first step, so that one is made with the loop's `firstiter` hook off (its
    finalizer stays, for a generator dropped unclosed)."""

    __slots__ = ("_agen", "_step")

    def __init__(self, agen: AsyncGenerator[T, None]) -> None:
        self._agen = agen
        self._step: Callable[[], Awaitable[T]] = self._first

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Awaitable[T]:
        return self._step()

    def _first(self) -> Awaitable[T]:
        self._step = self._agen.__anext__
        hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=None, finalizer=hooks.finalizer)
        try:
            return self._agen.__anext__()
        finally:
            sys.set_asyncgen_hooks(*hooks)

    async def aclose(self) -> None:
        await self._agen.aclose()


class _Steps:
    """A stream's generator, run one step at a time in the money context (`router.money.MONEY`):
    what it settles does not depend on the caller's decimal context, which it leaves untouched
    between steps (a `with` around the `yield`s would leak into the caller's loop)."""

    __slots__ = ("_gen",)

    def __init__(self, gen: Generator[str, None, None]) -> None:
        self._gen = gen

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> str:
        with money_context():
            return next(self._gen)

    def close(self) -> None:
        with money_context():
            self._gen.close()

    def __del__(self) -> None:  # a stream left mid-answer settles as it is dropped
        self.close()


class _AsyncSteps:
    """The async twin of `_Steps`. Not an async generator itself: the one it steps stays the
    only one the event loop knows of (see `_Owned`)."""

    __slots__ = ("_agen",)

    def __init__(self, agen: AsyncGenerator[str, None]) -> None:
        self._agen = agen

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        with money_context():
            return await self._agen.__anext__()

    async def aclose(self) -> None:
        with money_context():
            await self._agen.aclose()


class _BaseStream:
    def __init__(self, call: CallState, provider_for: ProviderFor):
        self._call = call
        self._provider_for = provider_for
        self._reply: Reply | None = None
        self._started = False
        self._stopped = False  # the caller left it mid-stream: there will be no reply
        self._hold: Hold | None = None

    def holding(self, hold: Hold) -> Self:
        """Settle `hold` when this stream ends, breaks or is abandoned."""
        self._hold = hold
        hold.watch(self._call)
        # a stream dropped unread gives its reservation back (at exit, the TTL will do)
        weakref.finalize(self, hold.abandon).atexit = False
        return self

    @property
    def decision(self) -> Decision:
        """The routing decision, with every attempt made so far."""
        return self._reply.decision if self._reply else self._call.record()

    @property
    def reply(self) -> Reply:
        """The whole reply with usage and cost; available once iteration has finished."""
        if self._reply is None and self._stopped:
            raise InvalidRequestError(
                "the stream was abandoned before its end (closed, dropped or cancelled), so it "
                f"has no reply; what it received cost {format_usd(self._call.spent)}, billed to "
                "its budgets (.decision lists every attempt)", field="reply")
        if self._reply is None:
            raise InvalidRequestError(
                "the stream has not finished; iterate it to the end before reading .reply",
                field="reply",
            )
        return self._reply

    def _begin(self) -> None:
        if self._started:
            raise InvalidRequestError("a stream can be iterated only once", field="stream")
        self._started = True

    def _broke(self, action: Try, assembler: StreamAssembler, started: float,
               error: ProviderError, *, shown: bool) -> StreamError | None:
        """A provider error mid-stream: before any text was shown it is an ordinary failed
        attempt (billed for anything received; the call state may retry or fall back), after it
        the `StreamError` to raise."""
        partial = assembler.partial(latency=time.perf_counter() - started)
        if shown:
            return self._call.interrupted(action, partial, error)
        self._call.failed(action, error, latency=partial.latency,
                          cost=self._call.received_cost(action, partial))
        return None

    @exact  # also when an event loop's finalizer closes the stream, in no context of ours
    def _abandoned(self, action: Try, assembler: StreamAssembler, started: float,
                   exc: BaseException) -> None:
        """The stream was left mid-attempt (closed, dropped, cancelled): the tokens received
        were billed by the provider, so they are billed here too, like a broken stream's."""
        self._stopped = True
        self._call.abandoned(action, assembler.partial(latency=time.perf_counter() - started), exc)

    def _finish(self, action: Try, assembler: StreamAssembler, started: float, *,
                shown: bool) -> StreamError | None:
        """The stream ended: a reply if it said why, else a truncation (see `_broke`). A finished
        stream whose tool-call arguments are not JSON broke like any other (billed, retried)."""
        if assembler.finish is not None:
            try:
                completion = assembler.completion(
                    deployment=action.candidate.deployment, latency=time.perf_counter() - started
                )
            except ResponseError as exc:
                return self._broke(action, assembler, started, exc, shown=shown)
            self._reply = self._call.succeeded(action, completion)
            return None
        partial = assembler.partial(latency=time.perf_counter() - started)
        if shown:
            return self._call.interrupted(action, partial, None)
        candidate = action.candidate
        error = StreamError(
            "the stream ended without a finish reason before any text (truncated)",
            truncated=True, deployment=candidate.deployment, provider=candidate.target.provider,
            request_id=partial.request_id,
        )
        self._call.failed(action, error, latency=partial.latency,
                          cost=self._call.received_cost(action, partial))
        return None


class ReplyStream(_BaseStream):
    """A sync stream of text deltas (`str`)."""

    def __iter__(self) -> Iterator[str]:
        return _Steps(self._run())

    def _run(self) -> Generator[str, None, None]:
        self._begin()
        with self._hold.settling() if self._hold else contextlib.nullcontext():
            yield from self._deltas()

    def _deltas(self) -> Iterator[str]:
        call = self._call
        while True:
            action = call.next_action()
            if isinstance(action, Fail):
                raise action.error
            if self._hold is not None and not self._hold.covers(call, action):
                continue
            if action.wait:
                time.sleep(action.wait)
            assembler, started, shown = StreamAssembler(), time.perf_counter(), False
            provider = self._provider_for(action.candidate.target)
            try:
                with contextlib.closing(provider.stream(call.request, action.options)) as chunks:
                    for chunk in chunks:
                        assembler.add(chunk)
                        if chunk.text:
                            shown = True
                            yield chunk.text
                        if (overdue := call.overdue(action)) is not None:
                            raise overdue
            except ProviderError as exc:
                error = self._broke(action, assembler, started, exc, shown=shown)
                if error is None:
                    continue
                raise error from exc
            except BaseException as exc:  # the caller stopped reading (or was cancelled)
                self._abandoned(action, assembler, started, exc)
                raise
            error = self._finish(action, assembler, started, shown=shown)
            if error is not None:
                raise error
            if self._reply is not None:
                return


class AsyncReplyStream(_BaseStream):
    """An async stream of text deltas: `async for delta in router.astream(...)`."""

    def __aiter__(self) -> AsyncIterator[str]:
        return _AsyncSteps(self._run())

    async def _run(self) -> AsyncGenerator[str, None]:
        self._begin()
        settling = self._hold.asettling() if self._hold else contextlib.nullcontext()
        async with settling, contextlib.aclosing(_Owned(self._deltas())) as deltas:
            async for delta in deltas:
                yield delta

    async def _deltas(self) -> AsyncGenerator[str, None]:
        call = self._call
        while True:
            action = call.next_action()
            if isinstance(action, Fail):
                raise action.error
            if self._hold is not None and not await self._hold.acovers(call, action):
                continue
            if action.wait:
                await asyncio.sleep(action.wait)
            assembler, started, shown = StreamAssembler(), time.perf_counter(), False
            provider = self._provider_for(action.candidate.target)
            try:
                async with contextlib.aclosing(
                    _Owned(provider.astream(call.request, action.options))
                ) as chunks:
                    async for chunk in chunks:
                        assembler.add(chunk)
                        if chunk.text:
                            shown = True
                            yield chunk.text
                        if (overdue := call.overdue(action)) is not None:
                            raise overdue
            except ProviderError as exc:
                error = self._broke(action, assembler, started, exc, shown=shown)
                if error is None:
                    continue
                raise error from exc
            except BaseException as exc:  # the caller stopped reading (or was cancelled)
                self._abandoned(action, assembler, started, exc)
                raise
            error = self._finish(action, assembler, started, shown=shown)
            if error is not None:
                raise error
            if self._reply is not None:
                return
