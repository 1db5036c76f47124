"""Adapter for OpenAI and every OpenAI-compatible host (OpenRouter, vLLM, Ollama, Azure v1), via `openai`."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx2
import openai

from router.errors import (
    AuthenticationError,
    BadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimitError,
    ResponseError,
    ServerError,
)
from router.providers.base import (
    READ_ERRORS,
    CallOptions,
    LoopBound,
    Provider,
    chat_messages,
    embedded_error,
    response_format_spec,
    retry_after,
    tool_specs,
    translate_transport_error,
)
from router.providers.openai_json import read_chunk, read_completion
from router.providers.redact import redact
from router.types import Completion, Request, StreamChunk

__all__ = ["OpenAIProvider", "translate_openai_error"]

_PATH = "/chat/completions"
# Streams of the decoded JSON of each event: the adapter reads the fields it needs itself
# (`openai_json`), which costs far less than the SDK's model for every chunk.
_Stream = openai.Stream[object]
_AsyncStream = openai.AsyncStream[object]


class OpenAIProvider(Provider):
    """Chat completions through the `openai` SDK, with the SDK's own retries off."""

    _sync: openai.OpenAI | None = None
    _async: LoopBound[openai.AsyncOpenAI] | None = None

    def _client_kwargs(self) -> dict[str, Any]:
        dep = self.deployment
        return {
            # Self-hosted servers often need no key, but the SDK insists on one.
            "api_key": dep.api_key.get() if dep.api_key else "unused",
            "base_url": dep.base_url,
            "max_retries": 0,
            "timeout": dep.timeout,
            "default_headers": dict(dep.headers) or None,
        }

    @property
    def client(self) -> openai.OpenAI:
        if self._sync is None:
            # The SDK is typed for httpx2 but drives any httpx-compatible client; a plain httpx
            # client is what lets `respx.mock` intercept the router's calls.
            self._sync = openai.OpenAI(
                **self._client_kwargs(), http_client=self._http_client()  # type: ignore[arg-type]
            )
        return self._sync

    @property
    def aclient(self) -> openai.AsyncOpenAI:
        """The async client of the running event loop."""
        if self._async is None:
            self._async = LoopBound(lambda: openai.AsyncOpenAI(
                **self._client_kwargs(),
                http_client=self._async_http_client(),  # type: ignore[arg-type]
            ), closer=lambda client: client.close())
        return self._async.get()

    def _body(self, request: Request, options: CallOptions) -> dict[str, Any]:
        """The request body. It goes out through the SDK's public `post` (its documented way to
        call any endpoint) rather than `chat.completions.create`, whose type-driven transform of
        the parameters (~0.2 ms of CPU per call) would only copy a body the router has already
        validated and built from plain JSON values; tests pin that both send the same bytes."""
        dep = self.deployment
        kw: dict[str, Any] = {"model": dep.model_id, "messages": chat_messages(request.messages)}
        # OpenAI's own API prefers max_completion_tokens; compatible servers know max_tokens.
        kw["max_completion_tokens" if dep.host in ("openai", "azure") else "max_tokens"] = (
            options.max_tokens
        )
        tools = tool_specs(request)
        if tools:
            kw["tools"] = tools
        if request.tool_choice is not None:
            choice = request.tool_choice
            kw["tool_choice"] = (
                choice if isinstance(choice, str)
                else {"type": "function", "function": {"name": choice["name"]}}
            )
        fmt = response_format_spec(request)
        if fmt is not None:
            kw["response_format"] = fmt
        if request.temperature is not None:
            kw["temperature"] = request.temperature
        if request.stop:
            kw["stop"] = list(request.stop)
        return kw

    def _completion(self, resp: Any, started: float) -> Completion:
        """The SDK hands back the HTTP response (`cast_to=httpx2.Response`: no model built)."""
        return read_completion(resp.json(), deployment=self.deployment.id,
                               scrub=self.deployment.scrub,
                               request_id=resp.headers.get("x-request-id"),
                               latency=time.perf_counter() - started)

    def complete(self, request: Request, options: CallOptions) -> Completion:
        started = time.perf_counter()
        try:
            client = self.client  # built on first use: within the deadline
            with options.deadline():
                resp = client.post(_PATH, cast_to=httpx2.Response, body=self._body(request, options),
                                   options={"timeout": options.timeout})
            return self._completion(resp, started)
        except openai.OpenAIError as exc:
            raise self._scrubbed(translate_openai_error(exc, self.deployment.id), exc) from exc
        except READ_ERRORS as exc:  # e.g. a 200 whose body is not JSON
            raise self._scrubbed(translate_transport_error(exc, "openai", self.deployment.id), exc) from exc

    async def acomplete(self, request: Request, options: CallOptions) -> Completion:
        started = time.perf_counter()
        try:
            aclient = self.aclient
            with options.deadline():
                resp = await aclient.post(_PATH, cast_to=httpx2.Response,
                                          body=self._body(request, options),
                                          options={"timeout": options.timeout})
            return self._completion(resp, started)
        except openai.OpenAIError as exc:
            raise self._scrubbed(translate_openai_error(exc, self.deployment.id), exc) from exc
        except READ_ERRORS as exc:  # e.g. a 200 whose body is not JSON
            raise self._scrubbed(translate_transport_error(exc, "openai", self.deployment.id), exc) from exc

    def _stream_body(self, request: Request, options: CallOptions) -> dict[str, Any]:
        kw = self._body(request, options)
        kw["stream"] = True
        kw["stream_options"] = {"include_usage": True}
        return kw

    def stream(self, request: Request, options: CallOptions) -> Generator[StreamChunk, None, None]:
        dep = self.deployment
        try:
            client = self.client
            with (deadline := options.deadline()):  # only while sending: a stream yields to its caller
                stream = client.post(_PATH, cast_to=object,
                                     body=self._stream_body(request, options),
                                     options={"timeout": options.timeout},
                                     stream=True, stream_cls=_Stream)
            with stream:
                rid = _stream_request_id(stream)
                for event in stream:
                    chunk = read_chunk(event, deployment=dep.id, scrub=dep.scrub, request_id=rid)
                    if chunk.text:
                        deadline.relax()
                    yield chunk
        except openai.OpenAIError as exc:
            raise self._scrubbed(translate_openai_error(exc, self.deployment.id), exc) from exc
        except READ_ERRORS as exc:  # raised while reading the body, unwrapped
            raise self._scrubbed(translate_transport_error(exc, "openai", self.deployment.id), exc) from exc

    async def astream(self, request: Request, options: CallOptions) -> AsyncGenerator[StreamChunk, None]:
        dep = self.deployment
        try:
            aclient = self.aclient
            with (deadline := options.deadline()):  # only while sending: a stream yields to its caller
                stream = await aclient.post(_PATH, cast_to=object,
                                            body=self._stream_body(request, options),
                                            options={"timeout": options.timeout}, stream=True,
                                            stream_cls=_AsyncStream)
            async with stream:
                rid = _stream_request_id(stream)
                async for event in stream:
                    chunk = read_chunk(event, deployment=dep.id, scrub=dep.scrub, request_id=rid)
                    if chunk.text:
                        deadline.relax()
                    yield chunk
        except openai.OpenAIError as exc:
            raise self._scrubbed(translate_openai_error(exc, self.deployment.id), exc) from exc
        except READ_ERRORS as exc:  # raised while reading the body, unwrapped
            raise self._scrubbed(translate_transport_error(exc, "openai", self.deployment.id), exc) from exc

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            client = self._async.current()
            if client is not None:
                await client.close()
            self._async = None


def _stream_request_id(stream: Any) -> str | None:
    response = getattr(stream, "response", None)
    return response.headers.get("x-request-id") if response is not None else None


def translate_openai_error(exc: openai.OpenAIError, deployment: str) -> ProviderError:
    """One of `router.errors` for any `openai` exception; the original is chained by the caller."""
    common: dict[str, Any] = {"provider": "openai", "deployment": deployment}
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout(f"timed out: {_cause(exc)}", **common)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderConnectionError(f"connection failed: {_cause(exc)}", **common)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        headers = exc.response.headers if exc.response is not None else None
        common.update(status_code=status, request_id=exc.request_id,
                      retry_after=retry_after(headers), body=exc.body)
        message = f"HTTP {status}: {redact(_message(exc))}"
        if status in (401, 403):
            return AuthenticationError(message, **common)
        if status == 429:
            return RateLimitError(message, **common)
        if status == 408:
            return ProviderTimeout(message, **common)
        if status >= 500:
            return ServerError(message, **common)
        return BadRequestError(message, **common)
    if isinstance(exc, openai.APIResponseValidationError):
        return ResponseError(f"unreadable response: {exc.message}", **common)
    if isinstance(exc, openai.APIError):  # an error event inside a stream that began with 200
        reported = embedded_error({"error": exc.body}) or exc.message
        return ServerError(f"the provider reported an error mid-stream: {redact(reported)}", **common)
    return ResponseError(f"{type(exc).__name__}: {exc}", **common)


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return exc.message


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {redact(str(cause))}" if cause else redact(str(exc))
