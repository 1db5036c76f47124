"""The provider interface, plus the pure pieces both adapters share (message shapes, stream assembly)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import httpx2

from router.deployments import Deployment
from router.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ResponseError,
)
from router.providers.http import Deadline, HttpStack, async_client, sync_client
from router.providers.loops import LoopBound
from router.redaction import basic_credentials, redact, scrub_exception
from router.types import (
    Completion,
    FinishReason,
    ImagePart,
    Message,
    Request,
    StreamChunk,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "READ_ERRORS",
    "TRANSPORT_ERRORS",
    "CallOptions",
    "Deadline",
    "HttpStack",
    "LoopBound",
    "Provider",
    "StreamAssembler",
    "chat_messages",
    "embedded_error",
    "finish_reason",
    "parse_arguments",
    "response_format_spec",
    "retry_after",
    "tool_specs",
    "translate_transport_error",
]


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call settings the router decides: the output cap it computed, the attempt's time limit
    (`timeout`, seconds, wall clock) and what was left of the request's deadline when the attempt
    was planned (`total`; `None`: no deadline), which alone bounds a stream once it shows text.
    Both count from `begins` (`time.monotonic()` when the attempt was planned, after its wait;
    `None`: when the SDK call starts), so that building an SDK client counts too."""

    max_tokens: int
    timeout: float
    total: float | None = None
    begins: float | None = None

    def deadline(self) -> Deadline:
        """The attempt's deadline: `with options.deadline():` around the SDK call."""
        return Deadline(self.timeout, self.total, self.begins)


#: Transport errors of both HTTP stacks: `httpx` (the default clients) and `httpx2` (the SDKs'
#: own, with `http_client: httpx2`). The SDKs let some of them through unwrapped.
TRANSPORT_ERRORS = (httpx.HTTPError, httpx2.HTTPError)
#: What may escape an SDK call unwrapped: transport errors, and ValueError for a body that is
#: not JSON (json.JSONDecodeError) or does not fit the SDK's model (pydantic's ValidationError).
READ_ERRORS = (httpx.HTTPError, httpx2.HTTPError, ValueError)
_TIMEOUTS = (httpx.TimeoutException, httpx2.TimeoutException)
_CONNECTION = (httpx.TransportError, httpx2.TransportError)
C = TypeVar("C", bound=httpx.Client | httpx2.Client | httpx.AsyncClient | httpx2.AsyncClient)


class Provider(ABC):
    """Calls one deployment. Adapters translate the normalised `Request` into their SDK's call,
    the answer into a `Completion`, and every SDK or transport error into `router.errors`.

    `transport` (an `httpx` transport, e.g. `httpx.MockTransport`) replaces the network for demos
    and tests. By default the SDKs get plain `httpx` clients, so `respx.mock` intercepts them;
    `http="httpx2"` gives them clients of their own stack instead (less CPU per call, not seen
    by respx).
    """

    def __init__(self, deployment: Deployment, *, transport: Any = None, http: HttpStack = "httpx"):
        self.deployment = deployment
        self.transport = transport
        self.http: HttpStack = "httpx" if transport is not None else http

    @abstractmethod
    def complete(self, request: Request, options: CallOptions) -> Completion: ...

    @abstractmethod
    async def acomplete(self, request: Request, options: CallOptions) -> Completion: ...

    @abstractmethod
    def stream(self, request: Request, options: CallOptions) -> Generator[StreamChunk, None, None]: ...

    @abstractmethod
    def astream(self, request: Request, options: CallOptions) -> AsyncGenerator[StreamChunk, None]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sync connections."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release async connections."""

    def _http_client(self) -> httpx.Client | httpx2.Client:
        return self._authed(sync_client(self.http, transport=self.transport,
                                        timeout=self.deployment.timeout))

    def _async_http_client(self) -> httpx.AsyncClient | httpx2.AsyncClient:
        return self._authed(async_client(self.http, transport=self.transport,
                                         timeout=self.deployment.timeout))

    def _authed(self, client: C) -> C:
        """`client`, sending the base URL's `user:password` as HTTP Basic auth. The SDKs get the
        URL without it: httpx logs every request's URL at INFO, and errors quote it."""
        if self.deployment.url_auth is not None:
            client.auth = basic_credentials(self.deployment.url_auth.get())
        return client

    def _scrubbed(self, error: ProviderError, cause: BaseException) -> ProviderError:
        """`error`, and the SDK error chained under it, without this deployment's credentials
        or any other a provider echoed in its error body."""
        scrub_exception(error, self.deployment.scrub)
        scrub_exception(cause, self.deployment.scrub)
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.deployment.id!r})"


def embedded_error(payload: Any) -> str | None:
    """The message of an error object sent where an answer was expected (HTTP 200 with
    `{"error": {...}}`, or an SSE event `{"object": "error", ...}`), else `None`."""
    if not isinstance(payload, Mapping):
        return None
    inner = payload.get("error")
    if isinstance(inner, Mapping):
        return str(inner.get("message") or inner.get("type") or "error")
    if isinstance(inner, str) and inner:
        return inner
    if payload.get("object") == "error" or payload.get("type") == "error":
        return str(payload.get("message") or "error")
    return None


def chat_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """The OpenAI chat shape, which Mistral's API accepts too."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role}
        if len(m.parts) == 1 and isinstance(m.parts[0], TextPart):
            item["content"] = m.parts[0].text
        elif m.parts:
            item["content"] = [_part(p) for p in m.parts]
        else:
            item["content"] = None if m.tool_calls else ""
        if m.tool_calls:
            item["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in m.tool_calls
            ]
        if m.tool_call_id is not None:
            item["tool_call_id"] = m.tool_call_id
        if m.name is not None:
            item["name"] = m.name
        out.append(item)
    return out


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    return {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}


def tool_specs(request: Request) -> list[dict[str, Any]] | None:
    if not request.tools:
        return None
    return [
        {"type": "function",
         "function": {"name": t.name, "description": t.description,
                      "parameters": dict(t.parameters)}}
        for t in request.tools
    ]


def response_format_spec(request: Request) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None:
        return None
    if fmt.schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema",
            "json_schema": {"name": fmt.name, "schema": dict(fmt.schema), "strict": fmt.strict}}


_FINISH = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "model_length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
    "error": FinishReason.ERROR,
}


def finish_reason(value: Any) -> FinishReason:
    """Map a provider's finish reason (str or enum) to ours."""
    text = getattr(value, "value", value)
    return _FINISH.get(str(text), FinishReason.OTHER)


def parse_arguments(raw: Any, *, deployment: str, name: str) -> dict[str, Any]:
    """Tool-call arguments as a dict; a provider that sends broken JSON gets a `ResponseError`."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw in (None, ""):
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        raise ResponseError(
            f"tool call {name!r} came back with arguments that are not JSON", deployment=deployment
        ) from None
    if not isinstance(value, dict):
        raise ResponseError(
            f"tool call {name!r} arguments are not a JSON object", deployment=deployment
        )
    return value


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds form), if present."""
    if not headers:
        return None
    for key, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(key)
        if value is not None:
            try:
                seconds = float(value) / scale
            except ValueError:
                continue  # an HTTP date: rare from these APIs, and the backoff covers it
            if seconds >= 0:
                return seconds
    return None


class StreamAssembler:
    """Collects stream chunks into the `Completion` they add up to."""

    __slots__ = ("finish", "model", "parts", "request_id", "tools", "usage")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.tools: dict[int, list[Any]] = {}
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.request_id: str | None = None
        self.model: str | None = None

    def add(self, chunk: StreamChunk) -> None:
        if chunk.text:
            self.parts.append(chunk.text)
        for delta in chunk.tool_calls:
            self._add_tool(delta)
        if chunk.finish_reason is not None:
            self.finish = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage
        self.request_id = chunk.request_id or self.request_id
        self.model = chunk.provider_model or self.model

    def _add_tool(self, delta: ToolCallDelta) -> None:
        slot = self.tools.setdefault(delta.index, [None, None, []])
        slot[0] = delta.id or slot[0]
        slot[1] = delta.name or slot[1]
        slot[2].append(delta.arguments)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def completion(self, *, deployment: str, latency: float, partial: bool = False) -> Completion:
        """The completion so far. A `partial` one (a broken stream) drops tool calls whose
        arguments were cut off instead of failing on them."""
        calls = []
        for index, slot in sorted(self.tools.items()):
            name = slot[1] or ""
            try:
                arguments = parse_arguments("".join(slot[2]), deployment=deployment, name=name)
            except ResponseError:
                if partial:
                    continue
                raise
            calls.append(ToolCall(id=slot[0] or f"call_{index}", name=name, arguments=arguments))
        return Completion(
            text=self.text,
            finish_reason=self.finish or FinishReason.OTHER,
            usage=self.usage or Usage(),
            tool_calls=tuple(calls),
            request_id=self.request_id,
            provider_model=self.model,
            latency=latency,
        )

    def partial(self, *, latency: float) -> Completion:
        """What arrived before a stream broke; tool-call arguments cut mid-JSON are kept raw
        (as `{"_partial": text}`) so that they can still be counted and billed."""
        calls = tuple(
            ToolCall(id=slot[0] or f"call_{index}", name=slot[1] or "",
                     arguments=_lenient_arguments("".join(slot[2])))
            for index, slot in sorted(self.tools.items())
        )
        return Completion(
            text=self.text,
            finish_reason=self.finish or FinishReason.OTHER,
            usage=self.usage or Usage(),
            tool_calls=calls,
            request_id=self.request_id,
            provider_model=self.model,
            latency=latency,
        )


def _lenient_arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {"_partial": raw}
    return value if isinstance(value, dict) else {"_partial": raw}


def translate_transport_error(exc: Exception, provider: str, deployment: str) -> ProviderError:
    """An `httpx`/`httpx2` error (or broken JSON) met outside the SDK's own error handling."""
    if isinstance(exc, _TIMEOUTS):
        return ProviderTimeout(f"timed out: {type(exc).__name__}: {exc}".removesuffix(": "),
                               provider=provider, deployment=deployment)
    if isinstance(exc, _CONNECTION):
        return ProviderConnectionError(f"connection failed: {type(exc).__name__}: {redact(str(exc))}",
                                       provider=provider, deployment=deployment)
    return ResponseError(f"unreadable response: {type(exc).__name__}: {redact(str(exc))}",
                         provider=provider, deployment=deployment)
