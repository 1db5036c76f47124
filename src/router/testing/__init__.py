"""A local fake LLM provider, OpenAI- and Mistral-shaped, scriptable per request, for tests and
benchmarks. Standard library only; nothing here is imported by the router itself.

    with FakeProviderServer() as server:          # or the `fake_provider` pytest fixture
        server.script(rate_limited(retry_after=1), Ok(text="hi"))  # the next requests, in order
        server.push(Reset(), model="gpt-4o", times=2)             # only requests for gpt-4o
        server.set_default(HttpError(status=503))                 # once the queues are empty
        OpenAI(base_url=server.base_url, ...)     # Mistral(server_url=server.url, ...)
        server.requests[-1].body                  # what was sent (no credentials)

In another process: `python -m router.testing.server --port 0` (prints its URL), or
`FakeProviderProcess()`; script it with `RemoteFakeProvider(url)` (same methods).
"""

from router.testing.faults import (
    Fault,
    HttpError,
    MalformedJSON,
    MidStreamError,
    NoFinishReason,
    Ok,
    Reset,
    StreamCut,
    rate_limited,
    slow,
)
from router.testing.remote import FakeProviderProcess, RemoteFakeProvider
from router.testing.state import RecordedRequest
from router.testing.threaded import FakeProviderServer

__all__ = [
    "FakeProviderProcess",
    "FakeProviderServer",
    "Fault",
    "HttpError",
    "MalformedJSON",
    "MidStreamError",
    "NoFinishReason",
    "Ok",
    "RecordedRequest",
    "RemoteFakeProvider",
    "Reset",
    "StreamCut",
    "rate_limited",
    "slow",
]
