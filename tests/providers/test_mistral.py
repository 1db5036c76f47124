"""What only the Mistral adapter does: its parameter names, tool_choice words, self-hosted URLs."""

from __future__ import annotations

import json
import warnings

import pytest
import respx
from pydantic import BaseModel
from tests.conftest import chat_json, frozen, sse
from tests.providers.common import BEFORE_RETIREMENT, make

from router import Router
from router.errors import InvalidRequestError
from router.providers import mistral as mistral_adapter


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


class _Answer(BaseModel):
    total: float
    items: list[str]


@pytest.mark.parametrize("stream", [False, True])
def test_prevalidated_arguments_send_the_bytes_plain_dicts_send(
    stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter hands the SDK its own models, validated by cached validators, instead of plain
    dicts: the request on the wire must be byte for byte the one the dicts gave."""
    router = make("mistral")
    tools = [{"type": "function", "function": {"name": "lookup", "description": "d",
                                               "parameters": {"type": "object", "properties": {
                                                   "q": {"type": "string"}}}}}]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Ça coûte combien ?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    kwargs = {"tools": tools, "tool_choice": {"name": "lookup"}, "response_format": _Answer,
              "temperature": 0.3, "stop": ["END"], "max_tokens": 50}
    answer = '{"total": 1, "items": []}'
    sent = []
    for plain in (False, True):
        if plain:
            monkeypatch.setattr(mistral_adapter, "_validated", lambda field, value: value)
        with respx.mock:
            route = respx.post("https://api.mistral.ai/v1/chat/completions")
            if stream:
                route.respond(content=sse(
                    {"id": "s", "model": "m", "choices": [
                        {"index": 0, "delta": {"content": answer}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}},
                    "[DONE]"), headers={"content-type": "text/event-stream"})
                assert "".join(router.stream(messages, **kwargs)) == answer  # type: ignore[arg-type]
            else:
                route.respond(json=chat_json(answer, model="open-mistral-nemo"))
                assert router.complete(messages, **kwargs).text == answer  # type: ignore[arg-type]
            sent.append(route.calls.last.request.content)
    assert sent[0] == sent[1]
    body = json.loads(sent[0])
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert body["response_format"]["type"] == "json_schema"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]


def test_a_value_the_sdk_refuses_is_an_invalid_request_naming_the_field() -> None:
    with pytest.raises(InvalidRequestError, match="messages: the mistral SDK does not accept"):
        mistral_adapter._validated("messages", [{"role": "narrator", "content": "x"}])
