"""Real SDK clients pointed at the fake provider; SDK retries off, short timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest
from mistralai.client import Mistral

from router.testing import FakeProviderServer
from router.testing.pytest_plugin import fake_provider, fake_provider_session

__all__ = ["fake_provider", "fake_provider_session"]

TIMEOUT = 2.0


@pytest.fixture
def oai(fake_provider: FakeProviderServer) -> Iterator[openai.OpenAI]:
    with httpx.Client() as http:
        yield openai.OpenAI(
            base_url=fake_provider.base_url,
            api_key="sk-test",
            http_client=http,
            max_retries=0,
            timeout=TIMEOUT,
        )


@pytest.fixture
async def aoai(fake_provider: FakeProviderServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with httpx.AsyncClient() as http:
        yield openai.AsyncOpenAI(
            base_url=fake_provider.base_url,
            api_key="sk-test",
            http_client=http,
            max_retries=0,
            timeout=TIMEOUT,
        )


@pytest.fixture
def mistral(fake_provider: FakeProviderServer) -> Iterator[Mistral]:
    with httpx.Client() as http:
        yield Mistral(
            api_key="mk-test",
            server_url=fake_provider.url,
            client=http,
            timeout_ms=int(TIMEOUT * 1000),
        )


@pytest.fixture
async def amistral(fake_provider: FakeProviderServer) -> AsyncIterator[Mistral]:
    async with httpx.AsyncClient() as http:
        yield Mistral(
            api_key="mk-test",
            server_url=fake_provider.url,
            async_client=http,
            timeout_ms=int(TIMEOUT * 1000),
        )
