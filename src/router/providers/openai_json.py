"""OpenAI's chat completion JSON (a whole answer, or one chunk of a stream), read into the router's types.

The openai adapter takes the decoded JSON from the SDK (`cast_to=object`) instead of the SDK's
models: building a `ChatCompletionChunk` costs ~47 µs of CPU, once per chunk of every stream,
which is most of what the SDK spends on a streamed answer. Reading the few fields the router
uses from the dict is a fraction of that, and a field of the wrong type is a `ResponseError`
(retried, or billed if it came mid-stream) instead of a value that breaks pricing later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from router.errors import ResponseError, ServerError
from router.providers.base import embedded_error, finish_reason, parse_arguments
from router.types import Completion, StreamChunk, ToolCall, ToolCallDelta, Usage

__all__ = ["read_chunk", "read_completion"]

_EMPTY: Mapping[str, Any] = {}


class _Malformed(Exception):
    """A field of the wrong type; turned into a `ResponseError` naming it."""


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise _Malformed(f"{field} is {type(value).__name__}, not an object")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{field} is {type(value).__name__}, not a list")
    return value


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _Malformed(f"{field} is {type(value).__name__}, not a string")


def _label(value: Any) -> str | None:
    """An informative string field (id, model): anything else is left out, not an error."""
    return value if isinstance(value, str) else None


def _content(value: Any, field: str) -> str:
    """Message text: a string, or a list of parts whose text parts are joined (some compatible
    hosts answer in the request's part format)."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list) and all(isinstance(p, Mapping) for p in value):
        return "".join(p["text"] for p in value
                       if p.get("type", "text") == "text" and isinstance(p.get("text"), str))
    raise _Malformed(f"{field} is {type(value).__name__}, not text")


_MAX_TOKENS = 10**12  # far beyond any context window: a count above it is not a count


def _count(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_TOKENS:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_TOKENS:
        raise _Malformed(f"{field} is {value!r}, not a token count")
    return value


def _usage(value: Any) -> Usage:
    usage = _object(value, "usage")
    prompt = _object(usage.get("prompt_tokens_details"), "usage.prompt_tokens_details")
    output = _object(usage.get("completion_tokens_details"), "usage.completion_tokens_details")
    return Usage(
        input_tokens=_count(usage.get("prompt_tokens"), "usage.prompt_tokens"),
        output_tokens=_count(usage.get("completion_tokens"), "usage.completion_tokens"),
        cached_input_tokens=_count(prompt.get("cached_tokens"), "usage.prompt_tokens_details.cached_tokens"),
        reasoning_tokens=_count(output.get("reasoning_tokens"),
                                "usage.completion_tokens_details.reasoning_tokens"),
    )


Scrub = Callable[[str], str]


def read_completion(data: Any, *, deployment: str, scrub: Scrub, request_id: str | None,
                    latency: float) -> Completion:
    """A whole answer (`data`: the decoded response body) as a `Completion`.

    A body with an error object instead of choices (some hosts answer HTTP 200 so) is a
    `ServerError`; one that is not a chat completion, a `ResponseError`. `scrub` takes the
    deployment's credentials out of anything quoted from the body."""
    common: dict[str, Any] = {"provider": "openai", "deployment": deployment}
    try:
        body = _object(data, "the body")
        rid = request_id or _label(body.get("id"))
        usage = _usage(body.get("usage"))
    except _Malformed as exc:  # no usage to bill: the provider's own count is unreadable
        raise ResponseError(f"unreadable response: {scrub(str(exc))}", **common) from None
    try:
        choices = _list(body.get("choices"), "choices")
        if not choices:
            reported = embedded_error(body)
            if reported is not None:
                raise ServerError(f"HTTP 200 with an error: {scrub(reported)}", request_id=rid,
                                  **common)
            raise ResponseError("the response has no choices", request_id=rid, **common)
        choice = _object(choices[0], "choices[0]")
        message = _object(choice.get("message"), "choices[0].message")
        raw_calls = _list(message.get("tool_calls"), "choices[0].message.tool_calls")
        text = _content(message.get("content"), "choices[0].message.content")
        reason = finish_reason(_label(choice.get("finish_reason")))
        functions = [
            _object(_object(c, f"tool_calls[{i}]").get("function"), f"tool_calls[{i}].function")
            for i, c in enumerate(raw_calls)
        ]
    except _Malformed as exc:  # a whole answer the provider billed, though unusable: bill it
        error = ResponseError(f"unreadable response: {scrub(str(exc))}", request_id=rid, **common)
        error.usage = usage
        raise error from None
    try:
        calls = tuple(
            ToolCall(str(call.get("id") or ""), str(fn.get("name") or ""),
                     parse_arguments(fn.get("arguments"), deployment=deployment,
                                     name=str(fn.get("name") or "")))
            for call, fn in zip(raw_calls, functions, strict=True)
            if fn
        )
    except ResponseError as exc:  # a whole answer, billed by the provider, though unusable
        exc.usage, exc.request_id = usage, rid
        raise
    return Completion(text=text, finish_reason=reason, usage=usage, tool_calls=calls,
                      request_id=rid, provider_model=_label(body.get("model")), latency=latency)


def read_chunk(data: Any, *, deployment: str, scrub: Scrub, request_id: str | None) -> StreamChunk:
    """One chunk of a stream (`data`: the decoded JSON of one server-sent event)."""
    try:
        event = _object(data, "the chunk")
        usage = _usage(event["usage"]) if event.get("usage") else None
        model = _label(event.get("model"))
        choices = _list(event.get("choices"), "choices")
        if not choices:
            return StreamChunk(usage=usage, request_id=request_id, provider_model=model)
        choice = _object(choices[0], "choices[0]")
        delta = _object(choice.get("delta"), "choices[0].delta")
        calls = tuple(
            _call_delta(_object(c, f"tool_calls[{i}]"), i)
            for i, c in enumerate(_list(delta.get("tool_calls"), "choices[0].delta.tool_calls"))
        )
        reason = choice.get("finish_reason")
        return StreamChunk(
            text=_content(delta.get("content"), "choices[0].delta.content"),
            tool_calls=calls,
            finish_reason=finish_reason(reason if isinstance(reason, str) else None)
            if reason else None,
            usage=usage,
            request_id=request_id,
            provider_model=model,
        )
    except _Malformed as exc:
        raise ResponseError(f"unreadable stream chunk: {scrub(str(exc))}", provider="openai",
                            deployment=deployment, request_id=request_id) from None


def _call_delta(call: Mapping[str, Any], position: int) -> ToolCallDelta:
    fn = _object(call.get("function"), f"tool_calls[{position}].function")
    index = call.get("index", position)
    if not isinstance(index, int) or isinstance(index, bool):
        raise _Malformed(f"tool_calls[{position}].index is {index!r}, not an integer")
    return ToolCallDelta(
        index=index,
        id=_text(call.get("id"), f"tool_calls[{position}].id"),
        name=_text(fn.get("name"), f"tool_calls[{position}].function.name"),
        arguments=_text(fn.get("arguments"), f"tool_calls[{position}].function.arguments") or "",
    )
