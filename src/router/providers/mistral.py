"""Adapter for Mistral's API and Mistral-shaped servers, via the `mistralai` SDK."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Generator
from functools import cache
from typing import Any

import pydantic
from mistralai.client import Mistral, errors, models

from router.errors import (
    AuthenticationError,
    BadRequestError,
    InvalidRequestError,
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
    finish_reason,
    parse_arguments,
    response_format_spec,
    retry_after,
    tool_specs,
    translate_transport_error,
)
from router.providers.redact import redact
from router.types import Completion, Request, StreamChunk, ToolCall, ToolCallDelta, Usage

__all__ = ["MistralProvider", "translate_mistral_error"]


# Mistral errors are not per-status classes, and transport errors come through unwrapped.
_ERRORS = (errors.MistralError, errors.NoResponseError, *READ_ERRORS)

class MistralProvider(Provider):
    """Chat completions through `mistralai` (SDK retries are off unless configured, and stay off)."""

    _client: Mistral | None = None
    _async: LoopBound[Mistral] | None = None

    def _make(self, *, sync: bool) -> Mistral:
        dep = self.deployment
        return Mistral(
            api_key=dep.api_key.get() if dep.api_key else "unused",
            # The SDK adds /v1 itself; an OpenAI-style root (".../v1") names the same server.
            server_url=dep.base_url.removesuffix("/v1"),
            # Typed for httpx2; plain httpx clients work and let respx intercept.
            # Both are given so that the SDK makes none of its own; one of them stays unused.
            client=self._http_client(),  # type: ignore[arg-type]
            async_client=self._async_http_client(),  # type: ignore[arg-type]
            timeout_ms=int(dep.timeout * 1000),
        )

    @property
    def client(self) -> Mistral:
        if self._client is None:
            self._client = self._make(sync=True)
        return self._client

    @property
    def aclient(self) -> Mistral:
        """The client of the running event loop, for the async calls."""
        if self._async is None:
            self._async = LoopBound(lambda: self._make(sync=False), closer=_aclose)
        return self._async.get()

    def _kwargs(self, request: Request, options: CallOptions) -> dict[str, Any]:
        """The SDK's arguments, its own pydantic models where it takes them: given plain dicts,
        the SDK builds a new pydantic model class per call to validate them (~0.6 ms of CPU);
        validators made once do the same work. Tests pin that the bytes sent are the same."""
        kw: dict[str, Any] = {
            "model": self.deployment.model_id,
            "messages": _validated("messages", chat_messages(request.messages)),
            "max_tokens": options.max_tokens,
            "timeout_ms": int(options.timeout * 1000),
        }
        if self.deployment.headers:
            kw["http_headers"] = dict(self.deployment.headers)
        tools = tool_specs(request)
        if tools:
            kw["tools"] = _validated("tools", tools)
        if request.tool_choice is not None:
            choice = request.tool_choice
            if isinstance(choice, str):
                kw["tool_choice"] = "any" if choice == "required" else choice
            else:
                kw["tool_choice"] = _validated(
                    "tool_choice", {"type": "function", "function": {"name": choice["name"]}})
        fmt = response_format_spec(request)
        if fmt is not None:
            kw["response_format"] = _validated("response_format", fmt)
        if request.temperature is not None:
            kw["temperature"] = request.temperature
        if request.stop:
            kw["stop"] = list(request.stop)
        return kw

    def _completion(self, resp: Any, started: float) -> Completion:
        dep = self.deployment.id
        if resp is None or not resp.choices:
            raise ResponseError("the response has no choices", deployment=dep)
        choice = resp.choices[0]
        message = choice.message
        usage = _usage(resp.usage)
        try:
            calls = tuple(
                ToolCall(c.id or f"call_{i}", c.function.name,
                         parse_arguments(c.function.arguments, deployment=dep, name=c.function.name))
                for i, c in enumerate(message.tool_calls or ())
            )
        except ResponseError as exc:  # a whole answer, billed by the provider, though unusable
            exc.usage, exc.request_id = usage, resp.id
            raise
        return Completion(
            text=_text(message.content),
            finish_reason=finish_reason(choice.finish_reason),
            usage=usage,
            tool_calls=calls,
            request_id=resp.id,
            provider_model=resp.model,
            latency=time.perf_counter() - started,
        )

    def complete(self, request: Request, options: CallOptions) -> Completion:
        started = time.perf_counter()
        try:
            chat = self.client.chat  # imported on first use: within the deadline
            with options.deadline():
                resp = chat.complete(**self._kwargs(request, options))
            return self._completion(resp, started)
        except _ERRORS as exc:
            raise self._scrubbed(translate_mistral_error(exc, self.deployment.id), exc) from exc

    async def acomplete(self, request: Request, options: CallOptions) -> Completion:
        started = time.perf_counter()
        try:
            chat = self.aclient.chat
            with options.deadline():
                resp = await chat.complete_async(**self._kwargs(request, options))
            return self._completion(resp, started)
        except _ERRORS as exc:
            raise self._scrubbed(translate_mistral_error(exc, self.deployment.id), exc) from exc

    def stream(self, request: Request, options: CallOptions) -> Generator[StreamChunk, None, None]:
        try:
            chat = self.client.chat
            with (deadline := options.deadline()):  # only while sending: a stream yields to its caller
                events = chat.stream(**self._kwargs(request, options))
            with events:
                for event in events:
                    chunk = _chunk(event.data)
                    if chunk.text:
                        deadline.relax()
                    yield chunk
        except _ERRORS as exc:
            raise self._scrubbed(translate_mistral_error(exc, self.deployment.id), exc) from exc

    async def astream(self, request: Request, options: CallOptions) -> AsyncGenerator[StreamChunk, None]:
        try:
            chat = self.aclient.chat
            with (deadline := options.deadline()):  # only while sending: a stream yields to its caller
                events = await chat.stream_async(**self._kwargs(request, options))
            async with events:
                async for event in events:
                    chunk = _chunk(event.data)
                    if chunk.text:
                        deadline.relax()
                    yield chunk
        except _ERRORS as exc:
            raise self._scrubbed(translate_mistral_error(exc, self.deployment.id), exc) from exc

    def close(self) -> None:
        if self._client is not None and self._client.sdk_configuration.client is not None:
            self._client.sdk_configuration.client.close()
            self._client = None

    async def aclose(self) -> None:
        client = self._async.current() if self._async is not None else None
        if client is not None:
            await _aclose(client)
        self._async = None


_SDK_TYPES: dict[str, Any] = {
    "messages": list[models.ChatCompletionRequestMessage],
    "tools": list[models.ChatCompletionRequestTool],
    "tool_choice": models.ToolChoice,
    "response_format": models.ResponseFormat,
}


@cache
def _adapter(field: str) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(_SDK_TYPES[field])


def _validated(field: str, value: Any) -> Any:
    """`value` as the SDK's own models (what the SDK would make of it, made faster)."""
    try:
        return _adapter(field).validate_python(value)
    except pydantic.ValidationError as exc:  # the router built it: a bug, or an odd request
        raise InvalidRequestError(
            f"{field}: the mistral SDK does not accept this value ({exc.error_count()} "
            f"problem(s), first: {exc.errors()[0]['msg']}); send it to an openai deployment "
            "or simplify it"
        ) from exc


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(getattr(chunk, "text", "") or "" for chunk in content)


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    extra = getattr(usage, "additional_properties", None) or {}
    details = extra.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cached_input_tokens=int(cached or extra.get("cached_tokens") or 0),
    )


def _chunk(data: Any) -> StreamChunk:
    usage = _usage(data.usage) if getattr(data, "usage", None) else None
    if not data.choices:
        return StreamChunk(usage=usage, request_id=data.id, provider_model=data.model)
    choice = data.choices[0]
    delta = choice.delta
    calls = tuple(
        ToolCallDelta(
            index=getattr(c, "index", None) or i,
            id=c.id,
            name=c.function.name,
            arguments=(c.function.arguments if isinstance(c.function.arguments, str)
                       else _json(c.function.arguments)),
        )
        for i, c in enumerate(getattr(delta, "tool_calls", None) or ())
    )
    reason = choice.finish_reason
    return StreamChunk(
        text=_text(getattr(delta, "content", None)),
        tool_calls=calls,
        finish_reason=finish_reason(reason) if reason else None,
        usage=usage,
        request_id=data.id,
        provider_model=data.model,
    )


def _json(value: Any) -> str:
    return json.dumps(value)


def translate_mistral_error(exc: Exception, deployment: str) -> ProviderError:
    """One of `router.errors` for a `mistralai` error or a raw transport error."""
    common: dict[str, Any] = {"provider": "mistral", "deployment": deployment}
    if isinstance(exc, errors.ResponseValidationError):
        reported = _reported_error(exc.body)
        if reported is not None:  # an error object where an answer or a chunk was expected
            return ServerError(f"the provider reported an error: {redact(reported)}", **common)
        first_line = exc.message.splitlines()[0] if exc.message else "validation failed"
        return ResponseError(f"unreadable response: {first_line}", **common)
    if isinstance(exc, errors.MistralError):
        status = exc.status_code
        common.update(status_code=status, retry_after=retry_after(exc.headers),
                      body=exc.body, request_id=exc.headers.get("x-request-id"))
        reported = _reported_error(exc.body) or _short(exc.body) or exc.message
        message = f"HTTP {status}: {redact(reported)}"
        if status < 400:  # a success status whose body the SDK could not read (HTML, not JSON)
            return ResponseError(f"unreadable response: {message}", **common)
        if status in (401, 403):
            return AuthenticationError(message, **common)
        if status == 429:
            return RateLimitError(message, **common)
        if status == 408:
            return ProviderTimeout(message, **common)
        if status >= 500:
            return ServerError(message, **common)
        return BadRequestError(message, **common)
    if isinstance(exc, errors.NoResponseError):
        return ProviderConnectionError(f"no response: {exc.message}", **common)
    return translate_transport_error(exc, "mistral", deployment)


def _reported_error(body: str | None) -> str | None:
    """The message of a JSON error body (or of a stream event `{"data": {error}}`)."""
    try:
        payload = json.loads(body or "")
    except ValueError:
        return None
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        payload = payload["data"]
    return embedded_error(payload)


def _short(body: str | None) -> str:
    return (body or "").strip().replace("\n", " ")[:300]


async def _aclose(client: Mistral) -> None:
    """Close an async client's connections (the SDK's own HTTP client)."""
    if client.sdk_configuration.async_client is not None:
        await client.sdk_configuration.async_client.aclose()
