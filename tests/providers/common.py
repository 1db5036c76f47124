"""Run one router call in any mode (sync, async, stream, astream) so tests cover them all alike."""

from __future__ import annotations

import asyncio
import datetime as dt
import warnings
from typing import Any

from tests.conftest import MISTRAL_URL, OPENAI_URL, frozen

from router import Reply, Router
from router.resilience import Resilience, RetryPolicy

# Mistral's own API served NeMo until 2026-07-31: test the Mistral adapter before that date.
BEFORE_RETIREMENT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

PROVIDERS: dict[str, dict[str, Any]] = {
    "openai": {
        "url": OPENAI_URL,
        "config": {"deployments": [{"model": "gpt-4o-mini", "provider": "openai",
                                    "api_key": "sk-test-0123456789abcdef"}]},
        "model": "gpt-4o-mini",
    },
    "mistral": {
        "url": MISTRAL_URL,
        "config": {"deployments": [{"model": "mistral-nemo", "provider": "mistral",
                                    "api_key": "mistral-test-0123456789"}]},
        "model": "mistral-nemo",
    },
}


def make(provider: str, **kwargs: Any) -> Router:
    # One attempt, no fallback, no breaker: these tests pin each adapter's mapping of one fault;
    # retries and fallbacks have their own suite in tests/resilience/.
    kwargs.setdefault("resilience", Resilience(retry=RetryPolicy(attempts=1, fallbacks=False)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(PROVIDERS[provider]["config"], env={}, clock=frozen(BEFORE_RETIREMENT), **kwargs)


def call(router: Router, mode: str, messages: Any = "Hello?", **kwargs: Any) -> Reply:
    """One request in `mode`; streams are drained and their final reply returned."""
    if mode == "sync":
        return router.complete(messages, **kwargs)
    if mode == "async":
        return asyncio.run(router.acomplete(messages, **kwargs))
    if mode == "stream":
        s = router.stream(messages, **kwargs)
        deltas = list(s)
        assert "".join(deltas) == s.reply.text
        return s.reply

    async def drain() -> Reply:
        s = router.astream(messages, **kwargs)
        deltas = [d async for d in s]
        assert "".join(deltas) == s.reply.text
        return s.reply

    return asyncio.run(drain())
