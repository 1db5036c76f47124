"""pytest fixtures for the fake provider.

Enable them with ``pytest_plugins = ["router.testing.pytest_plugin"]`` in the root
``conftest.py``. One server per session, reset before each test; a process per test module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router.testing.remote import FakeProviderProcess
from router.testing.threaded import FakeProviderServer

__all__ = ["fake_provider", "fake_provider_process", "fake_provider_session"]


@pytest.fixture(scope="session")
def fake_provider_session() -> Iterator[FakeProviderServer]:
    """The session's fake provider thread; prefer ``fake_provider``, which resets it."""
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def fake_provider(fake_provider_session: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """A fake provider with no scripts, an empty log and default settings."""
    fake_provider_session.reset()
    yield fake_provider_session
    fake_provider_session.reset()


@pytest.fixture(scope="module")
def fake_provider_process() -> Iterator[FakeProviderProcess]:
    """A fake provider in a child process (for multi-process tests), one per test module."""
    with FakeProviderProcess() as server:
        yield server
