"""Faults that need no real socket, injected with respx side effects at the providers' real URLs."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import httpx
import pytest
import respx
from tests.conftest import MISTRAL_URL, OPENAI_URL, chat_json, frozen
from tests.providers.common import BEFORE_RETIREMENT

from router import ProviderConnectionError, ProviderTimeout, RateLimitError, Router

URLS = {"openai": OPENAI_URL, "mistral": MISTRAL_URL}
CONFIGS: dict[str, dict[str, Any]] = {
    "openai": {"model": "gpt-4o-mini", "provider": "openai", "api_key": "sk-test-0123456789"},
    "mistral": {"model": "mistral-nemo", "provider": "mistral", "api_key": "k"},
}


def make(adapter: str) -> Router:
    cfg = {
        "deployments": [CONFIGS[adapter]],
        "retries": {"attempts": 3, "initial_backoff": 0.002, "max_backoff": 0.01, "jitter": 0},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Mistral's own API served NeMo until 2026-07-31: call it before that date.
        return Router(cfg, env={}, clock=frozen(BEFORE_RETIREMENT))


def complete(router: Router, mode: str) -> Any:
    if mode == "sync":
        return router.complete("Hi")
    return asyncio.run(router.acomplete("Hi"))


@pytest.fixture(params=["openai", "mistral"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("fault", "error"), [
    (httpx.ConnectError("connection refused"), ProviderConnectionError),
    (httpx.ConnectTimeout("connect timed out"), ProviderTimeout),
    (httpx.ReadTimeout("read timed out"), ProviderTimeout),
    (httpx.RemoteProtocolError("server disconnected"), ProviderConnectionError),
])
def test_transport_faults_are_retried(
    adapter: str, mode: str, fault: Exception, error: type[Exception]
) -> None:
    router = make(adapter)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URLS[adapter]).mock(
            side_effect=[fault, fault, httpx.Response(200, json=chat_json())]
        )
        reply = complete(router, mode)
    assert route.call_count == 3
    assert [a.outcome for a in reply.decision.attempts] == [error.__name__] * 2 + ["ok"]
    assert reply.decision.spent == reply.cost


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_retry_after_date_falls_back_to_the_backoff(adapter: str, mode: str) -> None:
    router = make(adapter)
    limited = httpx.Response(429, headers={"retry-after": "Wed, 25 Nov 2026 12:00:05 GMT"},
                             json={"error": {"message": "slow down"}})
    with respx.mock as mock:
        mock.post(URLS[adapter]).mock(side_effect=[limited, httpx.Response(200, json=chat_json())])
        reply = complete(router, mode)
    first, second = reply.decision.attempts
    assert first.outcome == RateLimitError.__name__
    assert second.wait == pytest.approx(0.002)


def test_when_retries_run_out_the_error_says_what_was_tried(adapter: str) -> None:
    router = make(adapter)
    with respx.mock as mock:
        mock.post(URLS[adapter]).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(ProviderConnectionError) as info:
            router.complete("Hi")
    decision = info.value.decision
    assert decision is not None
    assert len(decision.attempts) == 3
    assert "not retried: 3 attempts made" in str(decision)
    assert info.value.__cause__ is not None  # the SDK's or httpx's own error, chained
