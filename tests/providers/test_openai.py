"""What only the OpenAI adapter does: parameter names per host, compatible hosts, headers."""

from __future__ import annotations

import json
import warnings
from decimal import Decimal

import pytest
import respx
from pydantic import BaseModel
from tests.conftest import OPENROUTER_URL, chat_json, frozen, sse

from router import Router
from router.providers.base import chat_messages


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


class _Answer(BaseModel):
    total: float
    items: list[str]


@pytest.mark.parametrize("stream", [False, True])
def test_the_body_is_what_chat_completions_create_would_send(stream: bool) -> None:
    """The adapter posts through the SDK's `post`, skipping `create`'s parameter transform: the
    request (path, headers that matter, JSON body) must be the one `create` sends."""
    router = build([{"model": "gpt-4o", "provider": "openai", "api_key": "sk-test",
                     "headers": {"X-Team": "search"}}])
    tools = [{"type": "function", "function": {"name": "lookup", "description": "d",
                                               "parameters": {"type": "object", "properties": {
                                                   "q": {"type": "string"}}}}}]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this? Ça coûte combien ?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/r.png", "detail": "low"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    kwargs = {"tools": tools, "tool_choice": {"name": "lookup"}, "response_format": _Answer,
              "temperature": 0.3, "stop": ["END"], "max_tokens": 50}
    body = (sse({"choices": [{"index": 0, "delta": {"content": '{"total": 1, "items": []}'},
                              "finish_reason": "stop"}]},
                {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}, "[DONE]")
            if stream else None)
    with respx.mock:
        route = respx.post("https://api.openai.com/v1/chat/completions")
        route.respond(content=body, headers={"content-type": "text/event-stream"}) if stream \
            else route.respond(json=chat_json('{"total": 1, "items": []}'))
        if stream:
            "".join(router.stream(messages, **kwargs))  # type: ignore[arg-type]
        else:
            router.complete(messages, **kwargs)  # type: ignore[arg-type]
        ours = route.calls.last.request
        provider = router._provider(router._deployments[0])  # type: ignore[attr-defined]
        request = router._routing(messages, None, None, None, kwargs).request  # type: ignore[attr-defined]
        sent = json.loads(ours.content)
        expected = dict(sent)
        del expected["messages"], expected["model"]
        create = provider.client.chat.completions.create  # type: ignore[attr-defined]
        result = create(model="gpt-4o", messages=chat_messages(request.messages), **expected)
        if stream:
            for _ in result:
                pass
        theirs = route.calls.last.request
    assert ours.url == theirs.url
    assert json.loads(ours.content) == json.loads(theirs.content)
    assert sent["messages"] == json.loads(theirs.content)["messages"]
    for header in ("authorization", "content-type", "x-team", "accept"):
        assert ours.headers.get(header) == theirs.headers.get(header), header
