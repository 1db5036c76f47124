"""Helpers for driving the Router against a ledger: configs, a movable clock, scripted transports."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import httpx

from router.mock import mock_transport

KEY = "sk-test-0123456789abcdef"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def config(budgets: list[dict[str, Any]], *, ledger: str = "memory", **extra: Any) -> dict[str, Any]:
    """Three deployments (gpt-4o-mini, gpt-4o on OpenAI; mistral-nemo on OpenRouter), one attempt
    per deployment and no circuit breaker unless `extra` says otherwise."""
    return {
        "retries": {"attempts": 1},
        "breaker": {"enabled": False},
        "deployments": [
            {"model": "gpt-4o-mini", "provider": "openai", "api_key": KEY},
            {"model": "gpt-4o", "provider": "openai", "api_key": KEY},
            {"model": "mistral-nemo", "provider": "openai", "api_key": KEY,
             "base_url": "https://openrouter.ai/api/v1"},
        ],
        "ledger": ledger,
        "budgets": budgets,
        **extra,
    }


# Counting tokens by UTF-8 bytes (a safe upper bound) spares a process the tokenizer load.
BYTES = {"gpt-4o-mini": {"tokenizer": "bytes"}}


def canned(request: httpx.Request) -> httpx.Response:
    """A fixed chat completion (5 input and 3 output tokens), without counting anything."""
    return httpx.Response(200, json={
        "id": "canned", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    })


class MovingClock:
    """The Router's clock (aware datetimes) that tests move by hand."""

    def __init__(self, now: dt.datetime = NOW):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Both(httpx.MockTransport):
    """A mock transport with a sync handler for `httpx.Client` and an async one for `AsyncClient`."""

    def __init__(self, sync: Callable[[httpx.Request], httpx.Response], asynchronous: Any):
        super().__init__(asynchronous)
        self._sync = sync

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._sync(request)


def _error(status: int) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": f"scripted {status}",
                                                  "type": "server_error"}})


class Scripted:
    """The built-in mock, with scripted failures and a hook that runs while a request is in flight.

    `fail` lists status codes for the next requests (None: answer normally).
    """

    def __init__(self, *, delay: float = 0.0):
        self.inner = mock_transport()
        self.fail: list[int | None] = []
        self.calls = 0
        self.arrived = 0  # async requests that reached the transport (before their delay)
        self.during: Callable[[httpx.Request], None] | None = None
        self.delay = delay

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.during is not None:
            self.during(request)
        status = self.fail.pop(0) if self.fail else None
        return _error(status) if status else self.inner.handle_request(request)

    def transport(self) -> Both:
        async def answer(request: httpx.Request) -> httpx.Response:
            self.arrived += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            return self._answer(request)

        return Both(self._answer, answer)


class Chaos:
    """The built-in mock with random provider failures (500) and, in async mode, random delays
    (so that tasks can be cancelled mid-flight). Seeded, so runs repeat."""

    def __init__(self, *, failure_rate: float, seed: int = 0, max_delay: float = 0.002):
        self.inner = mock_transport()
        self.failure_rate = failure_rate
        self.max_delay = max_delay
        self._random = random.Random(seed)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if self._random.random() < self.failure_rate:
            return _error(500)
        return self.inner.handle_request(request)

    def transport(self) -> Both:
        async def answer(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(self._random.random() * self.max_delay)
            return self._answer(request)

        return Both(self._answer, answer)
