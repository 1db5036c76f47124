"""Streams that report their end to the hooks: a reply, an error, or the caller stopping early."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING

from router.streaming import AsyncReplyStream, ProviderFor, ReplyStream, _Owned

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

    def _run(self) -> Generator[str, None, None]:
        try:
            yield from super()._run()
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

    async def _run(self) -> AsyncGenerator[str, None]:
        try:
            async with contextlib.aclosing(_Owned(super()._run())) as deltas:
                async for delta in deltas:
                    yield delta
        except BaseException as exc:
            self._hooks.error(self._info, exc)
            raise
        self._hooks.reply(self._info, self.reply)
