"""What only the OpenAI adapter does: parameter names per host, compatible hosts, headers."""

from __future__ import annotations

import json
import warnings
from decimal import Decimal

import respx
from tests.conftest import OPENROUTER_URL, chat_json, frozen

from router import Router


def build(deployments: list[dict]) -> Router:  # type: ignore[type-arg]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Router({"deployments": deployments}, env={}, clock=frozen())


def test_openai_gets_max_completion_tokens_and_compatible_hosts_get_max_tokens() -> None:
    router = build([
        {"model": "gpt-4o-mini", "provider": "openai", "api_key": "k"},
        {"model": "mistral-nemo", "provider": "openai", "base_url": "https://openrouter.ai/api/v1",
         "api_key": "k2", "headers": {"HTTP-Referer": "https://example.com"}},
    ])
    with respx.mock:
        openai_route = respx.post("https://api.openai.com/v1/chat/completions").respond(json=chat_json())
        or_route = respx.post(OPENROUTER_URL).respond(json=chat_json(model="mistralai/mistral-nemo"))
        router.complete("hi", models=["gpt-4o-mini"], max_tokens=7, temperature=0.2, stop=["\n"])
        reply = router.complete("hi", models=["mistral-nemo"], max_tokens=9)
    sent = json.loads(openai_route.calls.last.request.content)
    assert sent["max_completion_tokens"] == 7
    assert "max_tokens" not in sent
    assert (sent["temperature"], sent["stop"], sent["model"]) == (0.2, ["\n"], "gpt-4o-mini")
    sent = json.loads(or_route.calls.last.request.content)
    assert sent["max_tokens"] == 9
    assert sent["model"] == "mistralai/mistral-nemo"
    assert or_route.calls.last.request.headers["HTTP-Referer"] == "https://example.com"
    assert reply.deployment == "mistral-nemo@openrouter"
    assert reply.model == "mistral-nemo"


def test_self_hosted_vllm_needs_no_key_and_uses_the_configured_price() -> None:
    router = build([{"model": "mistral-nemo", "provider": "openai", "base_url": "http://10.0.0.5:8000/v1",
                     "name": "mistralai/Mistral-Nemo-Instruct-2407",
                     "price": {"input": "0.05", "output": "0.05"}}])
    with respx.mock:
        route = respx.post("http://10.0.0.5:8000/v1/chat/completions").respond(
            json=chat_json(prompt_tokens=1000, completion_tokens=1000))
        reply = router.complete("hi", max_tokens=1000)
    assert reply.cost == Decimal("0.0001")
    assert json.loads(route.calls.last.request.content)["model"] == "mistralai/Mistral-Nemo-Instruct-2407"


def test_tool_choice_required_and_json_mode() -> None:
    router = build([{"model": "gpt-4o", "provider": "openai", "api_key": "k"}])
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    with respx.mock:
        route = respx.post("https://api.openai.com/v1/chat/completions").respond(
            json=chat_json('{"a": 1}'))
        router.complete("hi", tools=tools, tool_choice="required", response_format={"type": "json_object"})
    sent = json.loads(route.calls.last.request.content)
    assert sent["tool_choice"] == "required"
    assert sent["response_format"] == {"type": "json_object"}


def test_the_request_id_comes_from_the_header() -> None:
    router = build([{"model": "gpt-4o", "provider": "openai", "api_key": "k"}])
    with respx.mock:
        respx.post("https://api.openai.com/v1/chat/completions").respond(
            json=chat_json(), headers={"x-request-id": "req_abc123"})
        assert router.complete("hi").request_id == "req_abc123"


def test_missing_usage_is_estimated_never_free() -> None:
    router = build([{"model": "gpt-4o", "provider": "openai", "api_key": "k"}])
    body = chat_json("A fairly long answer with several words in it.")
    del body["usage"]
    with respx.mock:
        respx.post("https://api.openai.com/v1/chat/completions").respond(json=body)
        reply = router.complete("hi", max_tokens=50)
    assert reply.usage.output_tokens > 5
    assert reply.cost > 0
