"""The fake provider server, routers pointed at it, and a way to run one request in any mode."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.conftest import frozen

from router import ProviderError, Reply, Router
from router.testing import FakeProviderServer
from router.testing.pytest_plugin import fake_provider, fake_provider_session

__all__ = ["fake_provider", "fake_provider_session"]

MODELS = {"openai": "gpt-4o-mini", "mistral": "mistral-nemo"}

# Tiny backoff so that the suite stays fast; the attempt timeout is what "slow" has to beat.
FAST: dict[str, Any] = {
    "retries": {"attempts": 2, "initial_backoff": 0.001, "max_backoff": 0.005, "jitter": 0,
                "max_retry_after": 0.5},
    "timeouts": {"attempt": 0.4, "total": 5},
    "breaker": {"failures": 10, "cooldown": 30},
}


BUDGET: list[dict[str, Any]] = [{"scope": "global", "limit": "10", "window": "month"}]

# The fault matrix's attempt limit: it also covers a cold first attempt (SDK client, connect), which
# on a loaded 2-core machine once took more than 0.4 s and turned a retry into a fallback.
MATRIX_TIMEOUTS: dict[str, float] = {"attempt": 0.8, "total": 5}


def config(server: FakeProviderServer, adapter: str, **sections: Any) -> dict[str, Any]:
    """Two deployments of one model on the fake server, told apart by their URL path."""
    deployments = []
    for name in ("primary", "backup"):
        root = f"{server.url}/{name}"
        deployments.append({
            "id": name, "model": MODELS[adapter], "provider": adapter, "api_key": "test-key",
            "base_url": root + "/v1" if adapter == "openai" else root,
        })
    return {"deployments": deployments, **FAST, **sections}


def make_router(server: FakeProviderServer, adapter: str, **sections: Any) -> Router:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(config(server, adapter, **sections), env={}, clock=frozen())


@pytest.fixture(params=["openai", "mistral"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["httpx", "httpx2"])
def stack(request: pytest.FixtureRequest) -> str:
    """The HTTP stack under the SDKs (`http_client`): every fault must map the same on both."""
    return str(request.param)


@pytest.fixture
def router(fake_provider: FakeProviderServer, adapter: str, stack: str) -> Iterator[Router]:
    """A router on the fake provider with a shared budget: every call reserves, then settles in its
    ledger, which the fault matrix checks against what the server served."""
    r = make_router(fake_provider, adapter, http_client=stack, budgets=BUDGET,
                    timeouts=MATRIX_TIMEOUTS)
    yield r
    r.close()


def served_by(server: FakeProviderServer) -> list[str]:
    """Which deployment each request reached, in order."""
    return [r.path.split("/")[1] for r in server.requests]


@dataclass
class Outcome:
    """A request's result: its reply or the error it raised, and the text a caller saw."""

    reply: Reply | None
    error: ProviderError | None
    shown: str


def run(router: Router, mode: str, messages: Any = "Say something", **kw: Any) -> Outcome:
    """One request in `mode` (sync, async, stream, astream); a `ProviderError` is returned."""
    shown: list[str] = []

    async def drain() -> Reply:
        s = router.astream(messages, **kw)
        async for delta in s:
            shown.append(delta)
        return s.reply

    try:
        if mode == "sync":
            reply = router.complete(messages, **kw)
        elif mode == "async":
            reply = asyncio.run(router.acomplete(messages, **kw))
        elif mode == "stream":
            s = router.stream(messages, **kw)
            shown.extend(s)
            reply = s.reply
        else:
            reply = asyncio.run(drain())
    except ProviderError as exc:
        return Outcome(None, exc, "".join(shown))
    return Outcome(reply, None, "".join(shown))
