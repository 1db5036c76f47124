"""Reading OpenAI's chat completion JSON without the SDK's models: the same fields the SDK's
models give, and a clear `ResponseError` (not a value that breaks pricing) for the wrong types."""

from __future__ import annotations

import json
import re
from decimal import Decimal as D
from typing import Any

import pytest
import respx
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from tests.conftest import frozen, sse

from router import Router
from router.errors import ResponseError, ServerError
from router.providers.openai_json import read_chunk, read_completion
from router.types import FinishReason, ToolCall, ToolCallDelta, Usage

URL = "https://api.openai.com/v1/chat/completions"


def _no_scrub(text: str) -> str:
    return text


def completion(data: Any, request_id: str | None = "req-1"):  # type: ignore[no-untyped-def]
    return read_completion(data, deployment="d", scrub=_no_scrub, request_id=request_id, latency=0.5)


def chunk(data: Any):  # type: ignore[no-untyped-def]
    return read_chunk(data, deployment="d", scrub=_no_scrub, request_id="req-1")


WHOLE = {
    "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_1",
    "choices": [{
        "index": 0, "logprobs": None, "finish_reason": "tool_calls",
        "message": {
            "role": "assistant", "content": "Checking.", "refusal": None,
            "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}},
            ],
        },
    }],
    "usage": {"prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
              "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 7, "audio_tokens": 0}},
}


def test_a_whole_answer_reads_as_the_sdk_model_does() -> None:
    got = completion(WHOLE)
    sdk = ChatCompletion.construct(**WHOLE)  # the SDK's own reading, as an oracle
    assert sdk.choices[0].message.tool_calls is not None
    assert got.text == sdk.choices[0].message.content
    assert got.finish_reason is FinishReason.TOOL_CALLS
    assert got.provider_model == sdk.model
    assert got.usage == Usage(input_tokens=1200, output_tokens=40, cached_input_tokens=1024,
                              reasoning_tokens=7)
    assert got.tool_calls == (ToolCall("call_1", "weather", {"city": "Paris"}),
                              ToolCall("call_2", "time", {}))
    assert (got.request_id, got.latency) == ("req-1", 0.5)
    assert completion(WHOLE, request_id=None).request_id == "chatcmpl-9"  # no header: the body's id


def test_stream_chunks_read_as_the_sdk_model_does() -> None:
    events = [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"tool_calls": [
             {"index": 0, "id": "call_1", "type": "function",
              "function": {"name": "weather", "arguments": "{\"ci"}}]}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                                  "prompt_tokens_details": {"cached_tokens": 0}}},
    ]
    got = [chunk(e) for e in events]
    for event, ours in zip(events, got, strict=True):
        sdk = ChatCompletionChunk.construct(**event)
        assert ours.provider_model == sdk.model
        text = sdk.choices[0].delta.content if sdk.choices else None
        assert ours.text == (text or "")
    assert got[1].text == "Hel"
    assert got[2].tool_calls == (ToolCallDelta(0, "call_1", "weather", "{\"ci"),)
    assert got[3].finish_reason is FinishReason.STOP
    assert got[3].usage is None
    assert got[4].usage == Usage(input_tokens=9, output_tokens=3)
    assert all(c.request_id == "req-1" for c in got)


@pytest.mark.parametrize(("body", "field"), [
    ([1, 2], "the body is list"),
    ({"choices": "abc"}, "choices is str"),
    ({"choices": [5]}, "choices[0] is int"),
    ({"choices": [{"message": {"content": 5}}]}, "choices[0].message.content is int, not text"),
    ({**WHOLE, "usage": {"prompt_tokens": "12"}}, "usage.prompt_tokens is '12'"),
    ({**WHOLE, "usage": {"completion_tokens": -1}}, "usage.completion_tokens is -1"),
    ({**WHOLE, "usage": {"completion_tokens": True}}, "usage.completion_tokens is True"),
    ({**WHOLE, "usage": {"prompt_tokens_details": []}}, "usage.prompt_tokens_details is list"),
    ({**WHOLE, "usage": {"prompt_tokens": 1e300}}, "usage.prompt_tokens is 1e+300"),
    ({**WHOLE, "usage": {"prompt_tokens": 10**13}}, "usage.prompt_tokens is 10000000000000"),
    ({"choices": [{"message": {"tool_calls": [{"function": "f"}]}}]}, "tool_calls[0].function is str"),
])
def test_a_whole_answer_of_the_wrong_shape_is_a_response_error_naming_the_field(
    body: Any, field: str
) -> None:
    with pytest.raises(ResponseError, match=re.escape(f"d: unreadable response: {field}")):
        completion(body)


@pytest.mark.parametrize(("event", "field"), [
    ("text", "the chunk is str"),
    ({"choices": [{"delta": "x"}]}, "choices[0].delta is str"),
    ({"choices": [{"delta": {"content": ["a"]}}]}, "choices[0].delta.content is list, not text"),
    ({"choices": [{"delta": {"tool_calls": [{"index": "0"}]}}]}, "tool_calls[0].index is '0'"),
    ({"choices": [], "usage": {"prompt_tokens": 1.5}}, "usage.prompt_tokens is 1.5"),
])
def test_a_chunk_of_the_wrong_shape_is_a_response_error_naming_the_field(event: Any, field: str) -> None:
    with pytest.raises(ResponseError, match=re.escape(f"d: unreadable stream chunk: {field}")):
        chunk(event)


def test_fields_that_price_nothing_are_read_leniently() -> None:
    # id, model and finish_reason of another type do not cost the answer (the SDK's models did
    # not refuse them either); content as a list of parts is joined.
    body = {**WHOLE, "id": 7, "model": ["x"], "choices": [{"finish_reason": 3, "message": {
        "content": [{"type": "text", "text": "Hel"}, {"type": "image_url"}, {"text": "lo"}]}}]}
    got = completion(body, request_id=None)
    assert (got.text, got.request_id, got.provider_model) == ("Hello", None, None)
    assert got.finish_reason is FinishReason.OTHER
    streamed = chunk({"model": 5, "choices": [{"delta": {"content": [{"text": "a"}]},
                                               "finish_reason": 3}]})
    assert (streamed.text, streamed.provider_model) == ("a", None)
    assert streamed.finish_reason is FinishReason.OTHER


def test_an_unusable_answer_is_billed_at_the_usage_it_reported() -> None:
    # The review's case: content of an unreadable type dropped the usage, so a paid answer
    # cost nothing and the fallback could spend the whole budget again.
    body = {**WHOLE, "choices": [{"message": {"content": 5}}]}
    with pytest.raises(ResponseError) as caught:
        completion(body)
    assert caught.value.usage == Usage(input_tokens=1200, output_tokens=40,
                                       cached_input_tokens=1024, reasoning_tokens=7)
    assert caught.value.request_id == "req-1"


def test_whole_floats_are_token_counts_and_missing_usage_is_zero() -> None:
    body = {**WHOLE, "usage": {"prompt_tokens": 12.0, "completion_tokens": 3}}
    assert completion(body).usage == Usage(input_tokens=12, output_tokens=3)
    assert completion({**WHOLE, "usage": None}).usage == Usage()


def test_an_error_body_with_http_200_is_a_server_error_and_no_choices_a_response_error() -> None:
    def scrub(text: str) -> str:
        return text.replace("sk-secret", "[key]")

    with pytest.raises(ServerError, match=r"HTTP 200 with an error: overloaded \[key\]") as caught:
        read_completion({"error": {"message": "overloaded sk-secret"}}, deployment="d", scrub=scrub,
                        request_id="r", latency=0.0)
    assert caught.value.request_id == "r"
    with pytest.raises(ResponseError, match="the response has no choices"):
        completion({"id": "x", "choices": []})


def test_broken_tool_arguments_carry_the_usage_the_provider_billed() -> None:
    body = json.loads(json.dumps(WHOLE))
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "{broken"
    with pytest.raises(ResponseError, match="not JSON") as caught:
        completion(body)
    assert caught.value.usage == Usage(input_tokens=1200, output_tokens=40,  # type: ignore[attr-defined]
                                       cached_input_tokens=1024, reasoning_tokens=7)


def _router() -> Router:
    return Router({"deployments": [
        {"model": "gpt-4o-mini", "provider": "openai", "api_key": "k", "id": "first"},
        {"model": "gpt-4o-mini", "provider": "openai", "api_key": "k2", "id": "second",
         "base_url": "https://backup.example/v1"},
    ], "retries": {"attempts": 1}}, env={}, clock=frozen())


def test_a_malformed_answer_falls_back_and_is_named_in_the_decision() -> None:
    good = {**WHOLE, "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "ok"}}]}
    with respx.mock:
        respx.post(URL).respond(json={**WHOLE, "usage": {"prompt_tokens": "many"}})
        respx.post("https://backup.example/v1/chat/completions").respond(json=good)
        reply = _router().complete("hi", max_tokens=50)
    assert (reply.text, reply.deployment) == ("ok", "second")
    first = reply.decision.attempts[0]
    assert "usage.prompt_tokens is 'many'" in (first.error or "")


def test_a_malformed_chunk_before_any_text_falls_back() -> None:
    with respx.mock:
        respx.post(URL).respond(
            content=sse({"id": "c", "model": "m", "choices": [{"delta": {"content": 7}}]}),
            headers={"content-type": "text/event-stream"})
        respx.post("https://backup.example/v1/chat/completions").respond(
            content=sse(
                {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "fine"}}]},
                {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"id": "c", "model": "m", "choices": [],
                 "usage": {"prompt_tokens": 5, "completion_tokens": 1}},
                "[DONE]",
            ),
            headers={"content-type": "text/event-stream"})
        stream = _router().stream("hi", max_tokens=50)
        assert "".join(stream) == "fine"
    assert stream.reply.deployment == "second"
    assert "choices[0].delta.content is int" in (stream.reply.decision.attempts[0].error or "")


def test_a_paid_unusable_answer_counts_against_the_budget_of_the_fallback() -> None:
    bad = {**WHOLE, "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": 5}}],
           "usage": {"prompt_tokens": 8, "completion_tokens": 1000}}
    good = {**WHOLE, "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 600}}
    with respx.mock:
        respx.post(URL).respond(json=bad)
        backup = respx.post("https://backup.example/v1/chat/completions").respond(json=good)
        reply = _router().complete("hi", budget="0.001")
    first, second = reply.decision.attempts
    assert first.cost == D("0.0000012") + D("0.0006")  # 8 in, 1,000 out at gpt-4o-mini's price
    sent = json.loads(backup.calls.last.request.content)["max_tokens"]
    assert D("0.0000012") + sent * D("0.0000006") <= D("0.001") - first.cost  # capped to what is left
    assert reply.cost == first.cost + second.cost <= D("0.001")
