"""A built-in mock of the OpenAI and Mistral chat APIs, as an `httpx` transport: demos without keys.

    router = Router(config, transport=mock_transport())

It answers `POST .../chat/completions` in the provider's own shape (plain and SSE streaming), with
deterministic text, tool calls and schema-shaped JSON, and reports usage counted with the model's
tokenizer, so the router's real adapters, pricing and budgets run end to end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from router.messages import parse_messages
from router.tokens import RequestTokens, count_tokens, image_tokens
from router.types import ImagePart, Request

__all__ = ["mock_transport"]

# Image rules of the catalog, so reported usage matches what each model would bill.
_IMAGE_RULES = {"gpt-4o-mini": (2833, 5667, 2833), "gpt-4o": (85, 170, 85)}


def mock_transport(*, latency: float = 0.0) -> httpx.MockTransport:
    """An `httpx` transport that plays OpenAI and Mistral; `latency` adds a sleep per call."""

    def handler(request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/chat/completions"):
            return _error(404, f"the mock serves only chat completions, not {request.url.path}")
        if not request.headers.get("authorization", "").removeprefix("Bearer ").strip():
            return _error(401, "missing API key")
        try:
            body = json.loads(request.content)
        except json.JSONDecodeError:
            return _error(400, "body is not JSON")
        if latency:
            time.sleep(latency)
        return _respond(body, mistral="mistral" in request.url.host
                        or "mistral" in str(body.get("model", "")))

    return httpx.MockTransport(handler)


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "mock_error"}})


def _tokenizer(model: str) -> str:
    return "tekken" if ("nemo" in model or "mistral" in model) else "o200k_base"


def _respond(body: Mapping[str, Any], *, mistral: bool) -> httpx.Response:
    model = str(body.get("model", "mock"))
    messages = parse_messages(body.get("messages") or "")
    tokenizer = _tokenizer(model)
    prompt_tokens = RequestTokens(Request(messages)).text_tokens(tokenizer) - 3
    base = model.split("/")[-1].removeprefix("openai-")
    rule = next((r for name, r in sorted(_IMAGE_RULES.items(), key=lambda kv: -len(kv[0]))
                 if base.startswith(name)), None)
    if rule is not None:
        from router.catalog import ImageTokens

        img_rule = ImageTokens(base=rule[0], per_tile=rule[1], low_detail=rule[2])
        prompt_tokens += sum(image_tokens(p, img_rule) for m in messages for p in m.parts
                             if isinstance(p, ImagePart))
    limit = int(body.get("max_completion_tokens") or body.get("max_tokens") or 256)
    tool_call = _tool_call(body)
    content: str | None
    content, finish = _content(body, messages[-1].text, limit, tokenizer)
    if tool_call is not None:
        content, finish = None, "tool_calls"
    completion_tokens = count_tokens(content or json.dumps(tool_call), tokenizer)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens}
    rid = f"mock-{abs(hash(json.dumps(body, sort_keys=True, default=str))) % 10**12:012d}"
    headers = {"x-request-id": rid}
    if body.get("stream"):
        return httpx.Response(
            200, headers={**headers, "content-type": "text/event-stream"},
            content=b"".join(_sse(rid, model, content, tool_call, finish, usage, body, mistral)),
        )
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_call is not None:
        message["tool_calls"] = [tool_call]
    return httpx.Response(200, headers=headers, json={
        "id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    })


def _tool_call(body: Mapping[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    named = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    fn = next((t["function"] for t in tools if t["function"]["name"] == named), tools[0]["function"])
    args = _example(fn.get("parameters") or {})
    return {"id": "call_mock_1", "type": "function",
            "function": {"name": fn["name"], "arguments": json.dumps(args)}}


def _content(body: Mapping[str, Any], prompt: str, limit: int, tokenizer: str) -> tuple[str, str]:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return json.dumps(_example(fmt["json_schema"].get("schema") or {})), "stop"
    if fmt.get("type") == "json_object":
        return json.dumps({"answer": "mock"}), "stop"
    words = prompt.split() or ["(image)"]
    text = "Mock answer: " + " ".join(words[:40])
    limit = min(limit, 64)  # a mock answer stays short, whatever the prompt
    while count_tokens(text, tokenizer) > limit:
        text = text[: max(1, len(text) * 3 // 4)]
        if len(text) <= 1:
            break
    finish = "length" if len(words) > 40 and limit < 64 else "stop"
    return text, finish


def _example(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> Any:
    """A small value that validates against `schema` (enough for demos and tests)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return _example(schema["anyOf"][0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        return {k: _example(v, defs) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_example(schema.get("items") or {}, defs)]
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True,
            "null": None}.get(kind, "example")


def _sse(rid: str, model: str, content: str | None, tool_call: dict[str, Any] | None,
         finish: str, usage: dict[str, int], body: Mapping[str, Any],
         mistral: bool) -> Iterator[bytes]:
    def event(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> bytes:
        payload = {"id": rid, "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": choices, **(extra or {})}
        return f"data: {json.dumps(payload)}\n\n".encode()

    yield event([{"index": 0, "delta": {"role": "assistant", "content": ""},
                  "finish_reason": None}])
    if tool_call is not None:
        yield event([{"index": 0, "delta": {"tool_calls": [{**tool_call, "index": 0}]},
                      "finish_reason": None}])
    for i, word in enumerate((content or "").split(" ")):
        piece = word if i == 0 else " " + word
        yield event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
    last = {"index": 0, "delta": {"content": ""}, "finish_reason": finish}
    if mistral:
        yield event([last], {"usage": usage})
    else:
        yield event([last])
        if (body.get("stream_options") or {}).get("include_usage"):
            yield event([], {"usage": usage})
    yield b"data: [DONE]\n\n"
