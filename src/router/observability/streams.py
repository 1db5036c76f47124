"""Streams that report their end to the hooks: a reply, an error, or the caller stopping early."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING

from router.streaming import AsyncReplyStream, ProviderFor, ReplyStream, _Owned

if TYPE_CHECKING:
    from router.calls import CallState
    from router.observability.hooks import CallInfo, HookSet

__all__ = ["ObservedAsyncReplyStream", "ObservedReplyStream"]


def _dropped_unread(hooks: HookSet, info: CallInfo, call: CallState) -> None:
    """A stream dropped before it was read ends for the hooks too (its span, its request count):
    as an early stop, having cost nothing."""
    if not call.started:
        hooks.error(info, GeneratorExit())


def _ended(hooks: HookSet, info: CallInfo, call: CallState, exc: BaseException) -> None:
    """Tell the hooks; an early stop (`GeneratorExit`, a cancellation) carries what the stream
    was billed for and its decision, as a router error does."""
    if not hasattr(exc, "decision"):
        exc.decision = call.record()  # type: ignore[attr-defined]
        exc.cost = call.spent or None  # type: ignore[attr-defined]
    hooks.error(info, exc)


class ObservedReplyStream(ReplyStream):
    """A `ReplyStream` whose end (reply, error, or `GeneratorExit` on an early stop) hooks see."""

    def __init__(self, call: CallState, provider_for: ProviderFor, *, hooks: HookSet,
                 info: CallInfo):
        super().__init__(call, provider_for)
        self._hooks, self._info = hooks, info
        weakref.finalize(self, _dropped_unread, hooks, info, call).atexit = False

    def _run(self) -> Generator[str, None, None]:
        try:
            yield from super()._run()
        except BaseException as exc:
            _ended(self._hooks, self._info, self._call, exc)
            raise
        self._hooks.reply(self._info, self.reply)


class ObservedAsyncReplyStream(AsyncReplyStream):
    """The async twin of `ObservedReplyStream`."""

    def __init__(self, call: CallState, provider_for: ProviderFor, *, hooks: HookSet,
                 info: CallInfo):
        super().__init__(call, provider_for)
        self._hooks, self._info = hooks, info
        weakref.finalize(self, _dropped_unread, hooks, info, call).atexit = False

    async def _run(self) -> AsyncGenerator[str, None]:
        try:
            async with contextlib.aclosing(_Owned(super()._run())) as deltas:
                async for delta in deltas:
                    yield delta
        except BaseException as exc:
            _ended(self._hooks, self._info, self._call, exc)
            raise
        self._hooks.reply(self._info, self.reply)
