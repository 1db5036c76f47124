"""What only the Mistral adapter does: its parameter names, tool_choice words, self-hosted URLs."""

from __future__ import annotations

import json
import warnings

import respx
from tests.conftest import chat_json, frozen
from tests.providers.common import BEFORE_RETIREMENT, make

from router import Router


def test_mistral_gets_max_tokens_and_any_for_required() -> None:
    router = make("mistral")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with respx.mock:
        route = respx.post("https://api.mistral.ai/v1/chat/completions").respond(
            json=chat_json(model="open-mistral-nemo"))
        reply = router.complete("hi", max_tokens=11, tools=tools, tool_choice="required")
    sent = json.loads(route.calls.last.request.content)
    assert sent["max_tokens"] == 11
    assert sent["model"] == "open-mistral-nemo"
    assert sent["tool_choice"] == "any"
    assert "stream_options" not in sent
    assert reply.deployment == "mistral-nemo@mistral"


def test_a_self_hosted_mistral_server_after_the_api_retirement() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router({"deployments": [
            {"model": "mistral-nemo", "provider": "mistral", "api_key": "k"},
            {"model": "mistral-nemo", "provider": "mistral", "base_url": "http://nemo.internal:8000",
             "api_key": "k"},
        ]}, env={}, clock=frozen())
    with respx.mock:
        route = respx.post("http://nemo.internal:8000/v1/chat/completions").respond(json=chat_json())
        reply = router.complete("hi", max_tokens=5)
    assert route.called
    assert reply.deployment == "mistral-nemo@nemo.internal:8000"
    assert "retired" in reply.decision.excluded_deployments["mistral-nemo@mistral"]


def test_a_base_url_ending_in_v1_is_the_same_server() -> None:
    # OpenAI-style roots end in /v1; the mistralai SDK adds /v1 itself: either spelling works
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = Router({"deployments": [
            {"model": "mistral-nemo", "provider": "mistral", "base_url": "http://nemo.internal:8000/v1/",
             "api_key": "k"}]}, env={}, clock=frozen())
    with respx.mock:
        route = respx.post("http://nemo.internal:8000/v1/chat/completions").respond(json=chat_json())
        router.complete("hi", max_tokens=5)
    assert route.called


def test_cached_tokens_from_untyped_usage_fields() -> None:
    router = make("mistral")
    body = chat_json(prompt_tokens=1000, completion_tokens=10, cached=800)
    with respx.mock:
        respx.post("https://api.mistral.ai/v1/chat/completions").respond(json=body)
        reply = router.complete("hi", max_tokens=20)
    assert reply.usage.cached_input_tokens == 800
    assert BEFORE_RETIREMENT.year == 2026
