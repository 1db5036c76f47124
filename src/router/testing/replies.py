"""Deterministic chat-completion replies in OpenAI and Mistral shape: JSON bodies and SSE events.

A :class:`Plan` (what to say and what usage to report) is built once per request from its body,
then rendered in the client's flavor.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from itertools import cycle, islice
from typing import Any

from router.testing.faults import Ok
from router.testing.schemas import example_for_schema

__all__ = [
    "DONE",
    "Flavor",
    "Plan",
    "StreamParts",
    "ToolCall",
    "completion_body",
    "error_body",
    "plan_reply",
    "stream_parts",
]

CREATED = 1_764_028_800  # fixed, so that replies are byte-for-byte deterministic
DONE = b"data: [DONE]\n\n"
_WORD = re.compile(r"\s*\S+")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Flavor(enum.Enum):
    """Which SDK's wire shape to answer in."""

    OPENAI = "openai"
    MISTRAL = "mistral"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call: its id, the function name, and the JSON arguments cut into token pieces."""

    id: str
    name: str
    pieces: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one reply says (content pieces = output tokens, or a tool call) and its usage."""

    model: str
    pieces: tuple[str, ...]
    tool_call: ToolCall | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _approx_prompt_tokens(body: dict[str, Any]) -> int:
    """About 4 characters per token, 4 per message, 85 per image: close enough for a fake."""
    total = 3
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        total += 4 + len(_text_of(content)) // 4
        if isinstance(content, list):
            total += 85 * sum(
                1 for p in content if isinstance(p, dict) and "image" in str(p.get("type", ""))
            )
    if body.get("tools"):
        total += len(json.dumps(body["tools"])) // 4
    return total


def _last_user_words(body: dict[str, Any]) -> list[str]:
    for message in reversed(body.get("messages") or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content")).split()
    return []


def _chunks4(text: str) -> tuple[str, ...]:
    return tuple(text[i : i + 4] for i in range(0, len(text), 4))


def _chosen_tool(body: dict[str, Any], forced: str | None) -> dict[str, Any] | None:
    tools = [t.get("function", {}) for t in body.get("tools") or () if isinstance(t, dict)]
    if not tools:
        return None
    name = forced
    choice = body.get("tool_choice")
    if name is None and isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
    elif name is None and choice in ("required", "any"):
        name = tools[0].get("name")
    if name is None:
        return None
    found = next((t for t in tools if t.get("name") == name), None)
    return found if found is not None else {"name": name}


def _response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema asked for, ``{}`` for plain JSON mode, ``None`` for text."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") or spec.get("schema_definition") or {}
        return schema if isinstance(schema, dict) else {}
    return {} if fmt.get("type") == "json_object" else None


def plan_reply(
    body: dict[str, Any], ok: Ok, *, output_tokens: int, cached_tokens: int, call_id: str
) -> Plan:
    """Decide the reply to ``body``: echo text, JSON or a tool call, capped by ``max_tokens``."""
    tool = _chosen_tool(body, ok.tool_call)
    schema = _response_schema(body)
    finish = "stop"
    if tool is not None:
        params = tool.get("parameters") or {"type": "object", "properties": {}}
        pieces = _chunks4(json.dumps(example_for_schema(params)))
        finish = "tool_calls"
    elif ok.text is not None:
        pieces = tuple(_WORD.findall(ok.text))
    elif schema is not None:
        value = example_for_schema(schema) if schema else {"echo": " ".join(_last_user_words(body))}
        pieces = _chunks4(json.dumps(value))
    else:
        wanted = output_tokens if ok.output_tokens is None else ok.output_tokens
        words = _last_user_words(body) or ["ok"]
        pieces = tuple(islice(cycle(" " + w for w in words), max(wanted - 1, 0)))
        pieces = ("Echo:", *pieces)[:wanted]
    cap = body.get("max_completion_tokens")
    cap = body.get("max_tokens") if cap is None else cap
    if isinstance(cap, int) and cap < len(pieces):
        pieces, finish = pieces[:cap], "length"
    completion = len(pieces)
    if ok.text is not None and ok.output_tokens is not None:
        completion = ok.output_tokens
    prompt = _approx_prompt_tokens(body) if ok.prompt_tokens is None else ok.prompt_tokens
    cached = cached_tokens if ok.cached_tokens is None else ok.cached_tokens
    call = None
    if tool is not None:
        call = ToolCall(id=call_id, name=str(tool.get("name")), pieces=pieces)
        pieces = ()
    return Plan(
        model=str(body.get("model") or "fake-model"),
        pieces=pieces,
        tool_call=call,
        finish_reason=ok.finish_reason or finish,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=min(cached, prompt),
    )


def _usage(plan: Plan, flavor: Flavor) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
    }
    if flavor is Flavor.OPENAI:
        usage["prompt_tokens_details"] = {"cached_tokens": plan.cached_tokens, "audio_tokens": 0}
        usage["completion_tokens_details"] = {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    elif plan.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": plan.cached_tokens}
    return usage


def _tool_calls_json(call: ToolCall, flavor: Flavor) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    if flavor is Flavor.MISTRAL:
        entry["index"] = 0
    return [entry]


def completion_body(plan: Plan, flavor: Flavor, completion_id: str) -> bytes:
    """The non-streaming JSON body."""
    content = "".join(plan.pieces)
    message: dict[str, Any] = {"role": "assistant"}
    if flavor is Flavor.OPENAI:
        message.update(content=None if plan.tool_call else content, refusal=None, annotations=[])
    else:
        message.update(content=content, tool_calls=None, prefix=False)
    if plan.tool_call is not None:
        message["tool_calls"] = _tool_calls_json(plan.tool_call, flavor)
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": plan.finish_reason}
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": plan.model,
        "choices": [choice],
        "usage": _usage(plan, flavor),
    }
    if flavor is Flavor.OPENAI:
        choice["logprobs"] = None
        body.update(service_tier="default", system_fingerprint="fp_fake")
    return _dumps(body)


@dataclass(frozen=True, slots=True)
class StreamParts:
    """The SSE events of a stream, split so that faults can drop or cut any part."""

    role: bytes
    tokens: tuple[bytes, ...]
    finish: bytes
    usage: bytes | None  # OpenAI's separate usage chunk, only with stream_options.include_usage
    done: bytes = DONE


def stream_parts(
    plan: Plan, flavor: Flavor, completion_id: str, *, include_usage: bool
) -> StreamParts:
    """Render ``plan`` as SSE events in ``flavor``'s shape."""
    openai = flavor is Flavor.OPENAI
    head: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": plan.model,
    }
    if openai:
        head.update(service_tier="default", system_fingerprint="fp_fake")
    tail: dict[str, Any] = {"usage": None} if openai and include_usage else {}

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        if openai:
            choice["logprobs"] = None
        return b"data: " + _dumps({**head, "choices": [choice], **tail, **extra}) + b"\n\n"

    role = event({"role": "assistant", "content": ""})
    call = plan.tool_call
    if call is None:
        tokens = tuple(event({"content": piece}) for piece in plan.pieces)
    elif openai:
        first = {
            "index": 0,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        pieces = ({"index": 0, "function": {"arguments": p}} for p in call.pieces)
        tokens = (event({"tool_calls": [first]}), *(event({"tool_calls": [p]}) for p in pieces))
    else:  # Mistral sends each tool call whole, in one chunk
        tokens = (event({"content": "", "tool_calls": _tool_calls_json(call, flavor)}),)
    if openai:
        finish = event({}, plan.finish_reason)
        usage = None
        if include_usage:
            usage = (
                b"data: " + _dumps({**head, "choices": [], "usage": _usage(plan, flavor)}) + b"\n\n"
            )
        return StreamParts(role=role, tokens=tokens, finish=finish, usage=usage)
    finish = event({"content": ""}, plan.finish_reason, usage=_usage(plan, flavor))
    return StreamParts(role=role, tokens=tokens, finish=finish, usage=None)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


_OPENAI_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(
    status: int, flavor: Flavor, *, message: str | None, error_type: str | None
) -> bytes:
    """A provider-shaped JSON error body for ``status``."""
    text = message or f"{_phrase(status)} (fake provider)"
    default_type, code = _OPENAI_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    kind = error_type or default_type
    if flavor is Flavor.OPENAI:
        return _dumps({"error": {"message": text, "type": kind, "param": None, "code": code}})
    if status == 422:
        return _dumps({"detail": [{"loc": ["body"], "msg": text, "type": kind}]})
    return _dumps(
        {"object": "error", "message": text, "type": kind, "param": None, "code": str(status)}
    )
