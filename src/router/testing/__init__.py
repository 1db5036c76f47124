"""A local fake LLM provider, OpenAI- and Mistral-shaped, scriptable per request, for tests and
benchmarks. Standard library only; nothing here is imported by the router itself.
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
