"""Shared fixtures: configs, a frozen clock, and payload builders for faked provider responses."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from router import Router

TODAY = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
MISTRAL_URL = "https://api.mistral.ai/v1/chat/completions"
OPENROUTER_URL = "https://openrouter.ai/api/v1/chat/completions"

CONFIG: dict[str, Any] = {
    "deployments": [
        {"model": "gpt-4o-mini", "provider": "openai", "api_key": "sk-test-openai-0123456789"},
        {"model": "gpt-4o", "provider": "openai", "api_key": "sk-test-openai-0123456789"},
        {"model": "mistral-nemo", "provider": "openai", "base_url": "https://openrouter.ai/api/v1",
         "api_key": "sk-or-test-0123456789abcdef"},
    ]
}


def frozen(when: dt.datetime = TODAY) -> Any:
    return lambda: when


@pytest.fixture
def make_router() -> Iterator[Any]:
    """Build routers quietly (lifecycle warnings are tested on their own) and close them after."""
    made: list[Router] = []

    def make(config: Any = None, **kwargs: Any) -> Router:
        kwargs.setdefault("clock", frozen())
        kwargs.setdefault("env", {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            router = Router(CONFIG if config is None else config, **kwargs)
        made.append(router)
        return router

    yield make
    for router in made:
        router.close()


@pytest.fixture
def router(make_router: Any) -> Router:
    return make_router()


def chat_json(
    content: str | None = "Hello!",
    *,
    model: str = "gpt-4o-mini-2024-07-18",
    prompt_tokens: int = 12,
    completion_tokens: int = 3,
    cached: int | None = None,
    finish: str = "stop",
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An OpenAI/Mistral-shaped chat completion body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}


def sse(*events: dict[str, Any] | str) -> bytes:
    """A server-sent-events body from chunk dicts (and the literal "[DONE]")."""
    import json

    out = []
    for e in events:
        out.append(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n")
    return "".join(out).encode()


def chunk(content: str | None = None, *, finish: str | None = None, usage: dict[str, int] | None = None,
          empty: bool = False, model: str = "gpt-4o-mini", tool_calls: list[dict[str, Any]] | None = None
          ) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    body: dict[str, Any] = {"id": "chunk-1", "object": "chat.completion.chunk", "created": 1,
                            "model": model,
                            "choices": [] if empty else [{"index": 0, "delta": delta,
                                                           "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return body
