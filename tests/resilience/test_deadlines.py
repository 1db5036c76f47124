"""Deadlines are wall clock, whatever the server does to keep a connection busy: a response head or
a body trickled one byte at a time, or a stream kept alive with SSE comments, ends with the
attempt's time limit (each read arrives well within the per-read timeout, so that alone never
fires). On both HTTP stacks, both adapters, sync and async, plain and streaming. The clock starts
when the attempt is planned, so that a first call's SDK client counts too."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import frozen
from tests.resilience.conftest import config, run
from tests.resilience.stalling import stalling_server

from router import ProviderTimeout, Router
from router.providers import Provider
from router.providers.http import async_client, sync_client
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


@pytest.fixture(scope="module")
def heads() -> Iterator[Any]:
    with stalling_server(2.0, head=True) as server:  # without a deadline: 2 s per attempt
        yield server


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_a_response_head_that_trickles_in_cannot_outlast_the_attempt(
    heads: Any, adapter: str, stack: str, mode: str
) -> None:
    """The head is read before any response hook runs: the sockets themselves keep the deadline."""
    router = make(heads, adapter, stack)
    started = time.monotonic()
    out = run(router, mode)
    assert isinstance(out.error, ProviderTimeout), out.error
    assert "time limit" in str(out.error) or "deadline" in str(out.error)
    assert time.monotonic() - started < TOTAL + SLACK
    decision = out.error.decision
    assert decision is not None
    made = [a for a in decision.attempts if a.outcome == "ProviderTimeout"]
    assert made
    assert all(a.latency < ATTEMPT + SLACK for a in made)
    router.close()


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_a_first_calls_sdk_client_counts_against_the_deadline(
    fake_provider: FakeProviderServer, adapter: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attempt's clock starts when it is planned, not when the adapter sends: an SDK client
    built (and imported) on first use that takes longer than the whole deadline leaves no time."""
    router = make(fake_provider, adapter, "httpx")
    for name in ("_http_client", "_async_http_client"):
        build = getattr(Provider, name)

        def slow(self: Provider, build: Any = build) -> Any:
            time.sleep(TOTAL + 0.1)
            return build(self)

        monkeypatch.setattr(Provider, name, slow)
    out = run(router, mode)
    assert isinstance(out.error, ProviderTimeout), out.error
    assert fake_provider.requests == []  # its time was up before it could be sent
    router.close()


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_stream_read_later_has_its_whole_deadline(
    fake_provider: FakeProviderServer, adapter: str, mode: str
) -> None:
    """A stream's call starts when it is first read: the deadline counts from then, not from
    `stream()`."""
    router = make(fake_provider, adapter, "httpx")
    if mode == "stream":
        stream = router.stream("Hello there")
        time.sleep(TOTAL + 0.1)
        text = "".join(stream)
    else:
        async def main() -> str:
            stream = router.astream("Hello there")
            await asyncio.sleep(TOTAL + 0.1)
            return "".join([delta async for delta in stream])

        text = asyncio.run(main())
    assert text
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



@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_proxied_connections_keep_the_deadline_too(stack: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment gets a pool of its own: its sockets are bounded as well."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    clients: list[Any] = [sync_client(stack, transport=None, timeout=5),  # type: ignore[arg-type]
                          async_client(stack, transport=None, timeout=5)]  # type: ignore[arg-type]
    for client in clients:
        pools = [t._pool for t in (client._transport, *client._mounts.values()) if t is not None]
        assert len(pools) == 2  # direct, and the proxy
        assert all(type(p._network_backend).__name__ in ("_Network", "_AsyncNetwork")
                   for p in pools)
