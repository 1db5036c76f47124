"""Streaming replies: iterate for text deltas, then read `.reply` for usage and cost.

A failure before the first token is an ordinary failed attempt (the call state decides whether
another deployment takes over); after it, the stream raises `StreamError` with the partial text,
billed for what was received. A stream that ends without a finish reason is truncated, not done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

from router.calls import CallState, Fail, Try
from router.deployments import Deployment
from router.errors import InvalidRequestError, ProviderError
from router.providers.base import Provider, StreamAssembler
from router.types import Reply

__all__ = ["AsyncReplyStream", "ReplyStream"]

ProviderFor = Callable[[Deployment], Provider]


class _BaseStream:
    def __init__(self, call: CallState, provider_for: ProviderFor):
        self._call = call
        self._provider_for = provider_for
        self._reply: Reply | None = None
        self._started = False

    @property
    def decision(self):  # type: ignore[no-untyped-def]
        """The routing decision (attempts are added once the stream finishes)."""
        return self._reply.decision if self._reply else self._call.decision

    @property
    def reply(self) -> Reply:
        """The whole reply with usage and cost; available once iteration has finished."""
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

    def _finish(self, action: Try, assembler: StreamAssembler, started: float) -> None:
        completion = assembler.completion(
            deployment=action.candidate.deployment, latency=time.perf_counter() - started
        )
        if assembler.finish is None:
            raise self._call.interrupted(action, completion, None)
        self._reply = self._call.succeeded(action, completion)


class ReplyStream(_BaseStream):
    """A sync stream of text deltas (`str`)."""

    def __iter__(self) -> Iterator[str]:
        self._begin()
        call = self._call
        while True:
            action = call.next_action()
            if isinstance(action, Fail):
                raise action.error
            if action.wait:
                time.sleep(action.wait)
            assembler, started = StreamAssembler(), time.perf_counter()
            provider = self._provider_for(action.candidate.target)
            try:
                for chunk in provider.stream(call.request, action.options):
                    assembler.add(chunk)
                    if chunk.text:
                        yield chunk.text
            except ProviderError as exc:
                if not assembler.parts:
                    call.failed(action, exc, latency=time.perf_counter() - started)
                    continue
                partial = assembler.completion(deployment=action.candidate.deployment,
                                               latency=time.perf_counter() - started)
                raise call.interrupted(action, partial, exc) from exc
            self._finish(action, assembler, started)
            return


class AsyncReplyStream(_BaseStream):
    """An async stream of text deltas: `async for delta in router.astream(...)`."""

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        self._begin()
        call = self._call
        while True:
            action = call.next_action()
            if isinstance(action, Fail):
                raise action.error
            if action.wait:
                await asyncio.sleep(action.wait)
            assembler, started = StreamAssembler(), time.perf_counter()
            provider = self._provider_for(action.candidate.target)
            try:
                async for chunk in provider.astream(call.request, action.options):
                    assembler.add(chunk)
                    if chunk.text:
                        yield chunk.text
            except ProviderError as exc:
                if not assembler.parts:
                    call.failed(action, exc, latency=time.perf_counter() - started)
                    continue
                partial = assembler.completion(deployment=action.candidate.deployment,
                                               latency=time.perf_counter() - started)
                raise call.interrupted(action, partial, exc) from exc
            self._finish(action, assembler, started)
            return
