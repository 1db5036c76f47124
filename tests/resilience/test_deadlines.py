"""Deadlines are wall clock, whatever the server does to keep a connection busy: a body trickled
one byte at a time, or a stream kept alive with SSE comments, ends with the attempt's time limit
(each read arrives well within the per-read timeout, so that alone never fires). On both HTTP
stacks, both adapters, sync and async, plain and streaming."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import frozen
from tests.resilience.conftest import config, run
from tests.resilience.stalling import stalling_server

from router import ProviderTimeout, Router
from router.testing import FakeProviderServer, Ok

ATTEMPT, TOTAL = 0.1, 0.3
SLACK = 0.5  # generous: a loaded machine; the stalling server gives up only after 6 s


@pytest.fixture(scope="module")
def stalling() -> Iterator[Any]:
    with stalling_server() as server:
        yield server


def make(server: Any, adapter: str, stack: str, **timeouts: float) -> Router:
    cfg = config(server, adapter, http_client=stack,
                 timeouts={"attempt": ATTEMPT, "total": TOTAL, **timeouts})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router(cfg, env={}, clock=frozen())


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_a_busy_connection_cannot_outlast_the_attempt(stalling: Any, adapter: str, stack: str,
                                                      mode: str) -> None:
    router = make(stalling, adapter, stack)
    out = run(router, mode)
    assert isinstance(out.error, ProviderTimeout), out.error
    assert out.shown == ""
    decision = out.error.decision
    assert decision is not None
    made = [a for a in decision.attempts if a.outcome == "ProviderTimeout"]
    assert made
    assert all(a.latency < ATTEMPT + SLACK for a in made)  # without the deadline: ~6 s each
    # retried and fell back within the request's deadline, then gave up
    assert sum(a.latency + a.wait for a in decision.attempts) < TOTAL + SLACK
    router.close()


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_stream_that_shows_text_is_bounded_by_the_request_deadline_only(
    fake_provider: FakeProviderServer, adapter: str, mode: str
) -> None:
    """Once text is shown a stream can no longer fall back, so the attempt's time limit no longer
    applies: a long answer streams on within `timeouts.total`."""
    router = make(fake_provider, adapter, "httpx", total=5.0)
    fake_provider.script(Ok(text=" ".join(["word"] * 10), token_delay=0.03))  # ~0.3 s > ATTEMPT
    out = run(router, mode)
    assert out.reply is not None, out.error
    assert out.shown == out.reply.text
    assert out.reply.text.count("word") == 10
    router.close()

