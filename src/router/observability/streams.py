"""Streams that report their end to the hooks: a reply, an error, or the caller stopping early."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from router.streaming import AsyncReplyStream, ProviderFor, ReplyStream

if TYPE_CHECKING:
    from router.calls import CallState
    from router.observability.hooks import CallInfo, HookSet

__all__ = ["ObservedAsyncReplyStream", "ObservedReplyStream"]


class ObservedReplyStream(ReplyStream):
    """A `ReplyStream` whose end (reply, error, or `GeneratorExit` on an early stop) hooks see."""

    def __init__(self, call: CallState, provider_for: ProviderFor, *, hooks: HookSet,
                 info: CallInfo):
        super().__init__(call, provider_for)
        self._hooks, self._info = hooks, info

    def __iter__(self) -> Iterator[str]:
        try:
            yield from super().__iter__()
        except BaseException as exc:
            self._hooks.error(self._info, exc)
            raise
        self._hooks.reply(self._info, self.reply)


class ObservedAsyncReplyStream(AsyncReplyStream):
    """The async twin of `ObservedReplyStream`."""

    def __init__(self, call: CallState, provider_for: ProviderFor, *, hooks: HookSet,
                 info: CallInfo):
        super().__init__(call, provider_for)
        self._hooks, self._info = hooks, info

    def __aiter__(self) -> AsyncIterator[str]:
        return self._observed()

    async def _observed(self) -> AsyncIterator[str]:
        try:
            async for delta in self._run():
                yield delta
        except BaseException as exc:
            self._hooks.error(self._info, exc)
            raise
        self._hooks.reply(self._info, self.reply)
