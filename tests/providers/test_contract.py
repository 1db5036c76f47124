"""The same behaviour from both adapters, in every mode, with HTTP faked by respx at the real URLs."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
import tenacity
from pydantic import BaseModel
from tests.conftest import chat_json, chunk, sse
from tests.providers.common import PROVIDERS, call, make

from router import (
    AuthenticationError,
    BadRequestError,
    FinishReason,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimitError,
    ResponseError,
    ServerError,
    StreamError,
)
from router.pricing import actual_cost
from router.resilience import Resilience, RetryPolicy, is_retryable
from router.types import Usage

PLAIN = ["sync", "async"]
STREAM = ["stream", "astream"]
ALL = PLAIN + STREAM


def respond(route: respx.Route, mode: str, *, content: str = "Hello there!", prompt: int = 12,
            completion: int = 3, cached: int | None = None, tool_calls: list[dict[str, Any]] | None = None,
            finish: str = "stop") -> None:
    """Answer like the provider would: a JSON body, or SSE chunks ending with usage."""
    if mode in PLAIN:
        route.respond(200, json=chat_json(content if not tool_calls else None, prompt_tokens=prompt,
                                          completion_tokens=completion, cached=cached,
                                          tool_calls=tool_calls, finish=finish))
        return
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    events: list[Any] = [chunk("")]
    if tool_calls:
        events.append(chunk(tool_calls=[{"index": 0, **tool_calls[0]}]))
    else:
        events += [chunk(word) for word in _split(content)]
    events += [chunk(finish=finish), chunk(empty=True, usage=usage), "[DONE]"]
    route.respond(200, content=sse(*events), headers={"content-type": "text/event-stream"})


def _split(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


@pytest.fixture(params=list(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("mode", ALL)
def test_plain_reply_with_usage_and_exact_cost(provider: str, mode: str) -> None:
    router = make(provider)
    with respx.mock:
        route = respx.post(PROVIDERS[provider]["url"])
        respond(route, mode, prompt=20, completion=5)
        reply = call(router, mode, [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Hello?"}], max_tokens=50)
    assert reply.text == "Hello there!"
    assert reply.model == PROVIDERS[provider]["model"]
    assert reply.usage == Usage(20, 5)
    dep = router.deployments[0]
    assert reply.cost == actual_cost(dep.price, Usage(20, 5))
    assert reply.cost == 20 * dep.price.input / 1_000_000 + 5 * dep.price.output / 1_000_000
    assert reply.finish_reason is FinishReason.STOP
    assert reply.decision.model == reply.model
    assert [a.outcome for a in reply.decision.attempts] == ["ok"]
    sent = json.loads(route.calls.last.request.content)
    assert sent["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Hello?"}]
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 50
    assert route.calls.last.request.headers["authorization"].startswith("Bearer ")
    if mode in STREAM:
        assert sent["stream"] is True


@pytest.mark.parametrize("mode", ALL)
def test_cached_input_tokens_are_billed_at_the_cached_price(mode: str) -> None:
    router = make("openai")
    with respx.mock:
        respond(respx.post(PROVIDERS["openai"]["url"]), mode, prompt=2000, completion=10, cached=1536)
        reply = call(router, mode, max_tokens=20)
    assert reply.usage.cached_input_tokens == 1536
    assert reply.usage.input_tokens == 2000
    expected = (464 * Decimal("0.15") + 1536 * Decimal("0.075") + 10 * Decimal("0.60")) / 1_000_000
    assert reply.cost == expected


@pytest.mark.parametrize("mode", ALL)
def test_tool_calls(provider: str, mode: str) -> None:
    router = make(provider)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                               "parameters": {"type": "object", "properties": {
                                                   "city": {"type": "string"}}}}}]
    calls = [{"id": "call_1", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    with respx.mock:
        route = respx.post(PROVIDERS[provider]["url"])
        respond(route, mode, tool_calls=calls, finish="tool_calls")
        reply = call(router, mode, "Weather in Paris?", tools=tools, tool_choice="get_weather")
    assert reply.finish_reason is FinishReason.TOOL_CALLS
    (tc,) = reply.tool_calls
    assert (tc.id, tc.name, dict(tc.arguments)) == ("call_1", "get_weather", {"city": "Paris"})
    sent = json.loads(route.calls.last.request.content)
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize("mode", ALL)
def test_a_tool_round_trip_is_sent_back_in_shape(provider: str, mode: str) -> None:
    router = make(provider)
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                              "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with respx.mock:
        route = respx.post(PROVIDERS[provider]["url"])
        respond(route, mode, content="It is 18C.")
        reply = call(router, mode, history, tools=tools)
    assert reply.text == "It is 18C."
    sent = json.loads(route.calls.last.request.content)["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert sent[2] == {"role": "tool", "content": "18C and sunny", "tool_call_id": "call_1"}


class Receipt(BaseModel):
    merchant: str
    total: float


@pytest.mark.parametrize("mode", PLAIN)
def test_structured_output_is_parsed(provider: str, mode: str) -> None:
    router = make(provider)
    with respx.mock:
        route = respx.post(PROVIDERS[provider]["url"])
        respond(route, mode, content='{"merchant": "Cafe Rouge", "total": 12.5}')
        reply = call(router, mode, "Extract the receipt.", response_format=Receipt)
    assert reply.parsed == Receipt(merchant="Cafe Rouge", total=12.5)
    fmt = json.loads(route.calls.last.request.content)["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Receipt"
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False


@pytest.mark.parametrize("mode", PLAIN)
def test_an_answer_that_breaks_the_schema_is_a_response_error(provider: str, mode: str) -> None:
    router = make(provider)
    with respx.mock:
        respond(respx.post(PROVIDERS[provider]["url"]), mode, content='{"merchant": "x"}')
        with pytest.raises(ResponseError, match="does not match Receipt"):
            call(router, mode, "Extract.", response_format=Receipt)


@pytest.mark.parametrize("mode", ALL)
def test_image_input_is_sent_as_image_url_parts(mode: str) -> None:
    router = make("openai")
    msg = [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}]}]
    with respx.mock:
        route = respx.post(PROVIDERS["openai"]["url"])
        respond(route, mode, content="A cat.", prompt=2850)
        reply = call(router, mode, msg, max_tokens=20)
    assert reply.text == "A cat."
    assert reply.decision.chosen is not None
    assert reply.decision.chosen.input_tokens >= 2833  # mini bills 2,833 tokens for a low-detail image
    parts = json.loads(route.calls.last.request.content)["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png",
                                                           "detail": "low"}}


ERRORS = [
    (400, {}, BadRequestError),
    (401, {}, AuthenticationError),
    (403, {}, AuthenticationError),
    (404, {}, BadRequestError),
    (408, {}, ProviderTimeout),
    (422, {}, BadRequestError),
    (429, {"retry-after": "7"}, RateLimitError),
    (429, {"retry-after-ms": "1500"}, RateLimitError),
    (500, {}, ServerError),
    (502, {}, ServerError),
    (503, {}, ServerError),
]


@pytest.mark.parametrize("mode", ALL)
@pytest.mark.parametrize(("status", "headers", "error"), ERRORS)
def test_status_errors_map_to_the_error_tree(provider: str, mode: str, status: int,
                                             headers: dict[str, str], error: type[ProviderError]) -> None:
    router = make(provider)
    with respx.mock:
        respx.post(PROVIDERS[provider]["url"]).respond(
            status, json={"error": {"message": f"boom {status}", "type": "x"}}, headers=headers)
        with pytest.raises(error) as info:
            call(router, mode, max_tokens=10)
    err = info.value
    assert type(err) is error
    assert err.status_code == status
    assert err.deployment == router.deployments[0].id
    assert err.__cause__ is not None
    if "retry-after" in headers:
        assert err.retry_after == 7.0
    if "retry-after-ms" in headers:
        assert err.retry_after == 1.5
    assert "sk-test" not in str(err)
    assert "mistral-test" not in str(err)


@pytest.mark.parametrize("mode", ALL)
@pytest.mark.parametrize(
    ("fault", "error"),
    [(httpx.ConnectError("refused"), ProviderConnectionError),
     (httpx.ReadTimeout("slow"), ProviderTimeout),
     (httpx.RemoteProtocolError("reset"), ProviderConnectionError)],
)
def test_transport_errors_map_to_the_error_tree(provider: str, mode: str, fault: Exception,
                                                error: type[ProviderError]) -> None:
    router = make(provider)
    with respx.mock:
        respx.post(PROVIDERS[provider]["url"]).mock(side_effect=fault)
        with pytest.raises(error) as info:
            call(router, mode, max_tokens=10)
    assert isinstance(info.value.__cause__, Exception)


@pytest.mark.parametrize("mode", PLAIN)
def test_malformed_json_is_a_response_error(provider: str, mode: str) -> None:
    router = make(provider)
    with respx.mock:
        respx.post(PROVIDERS[provider]["url"]).respond(
            200, content=b'{"id": "x", "choices": [', headers={"content-type": "application/json"})
        with pytest.raises(ResponseError):
            call(router, mode, max_tokens=10)


@pytest.mark.parametrize("mode", STREAM)
def test_a_stream_without_finish_reason_is_truncated_not_success(provider: str, mode: str) -> None:
    router = make(provider)
    body = sse(chunk("Hello"), chunk(" wor"), "[DONE]")
    with respx.mock:
        respx.post(PROVIDERS[provider]["url"]).respond(
            200, content=body, headers={"content-type": "text/event-stream"})
        with pytest.raises(StreamError, match="truncated") as info:
            call(router, mode, max_tokens=10)
    err = info.value
    assert err.truncated
    assert err.partial_text == "Hello wor"
    assert err.cost is not None
    assert err.cost > 0  # billed for the tokens received


@pytest.mark.parametrize("mode", ALL)
def test_a_success_status_with_a_body_that_is_not_json_is_a_response_error(
        provider: str, mode: str) -> None:
    """Retryable and worth a fallback, like broken JSON: not a 4xx that would fail anywhere."""
    router = make(provider)
    with respx.mock:
        respx.post(PROVIDERS[provider]["url"]).respond(200, text="<html>proxy error</html>")
        with pytest.raises(ProviderError) as info:
            call(router, mode, max_tokens=10)
    # an OpenAI stream reads no event from it: a stream that ended before any text
    expected = StreamError if provider == "openai" and mode in STREAM else ResponseError
    assert type(info.value) is expected
    assert is_retryable(info.value)


@pytest.mark.parametrize("mode", ALL)
@pytest.mark.parametrize(("status", "error"), [
    (401, AuthenticationError), (404, BadRequestError), (429, RateLimitError), (500, ServerError),
    (503, ServerError),
])
def test_an_error_status_with_an_empty_body_maps_by_its_status(
        provider: str, mode: str, status: int, error: type[ProviderError]) -> None:
    """mistralai reads a streamed error body only if it is not empty, then fails on the unread
    response: the router's clients read error bodies before the SDK sees them."""
    router = make(provider)
    with respx.mock:
        respx.post(PROVIDERS[provider]["url"]).respond(status)
        with pytest.raises(error) as info:
            call(router, mode, max_tokens=10)
    assert type(info.value) is error
    assert info.value.status_code == status


@pytest.mark.parametrize("mode", ALL)
def test_a_whole_answer_with_broken_tool_arguments_is_billed_before_it_is_retried(
        provider: str, mode: str) -> None:
    """The provider billed those 500 tokens although the answer is unusable: so does the router,
    for every attempt, in the error's decision and in the ledger."""
    retry = RetryPolicy(attempts=2, wait=tenacity.wait_fixed(0), fallbacks=False)
    router = make(provider, resilience=Resilience(retry=retry))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    broken = [{"id": "call_1", "type": "function",
               "function": {"name": "get_weather", "arguments": '{"city": "Par'}}]
    with respx.mock:
        route = respx.post(PROVIDERS[provider]["url"])
        respond(route, mode, tool_calls=broken, finish="tool_calls", prompt=12, completion=500)
        with pytest.raises(ResponseError, match="not JSON") as info:
            call(router, mode, "Weather in Paris?", tools=tools, tool_choice="get_weather")
    assert route.call_count == 2
    each = actual_cost(router.deployments[0].price, Usage(input_tokens=12, output_tokens=500))
    assert each > 0
    decision = info.value.decision
    assert decision is not None
    assert [(a.outcome, a.cost) for a in decision.attempts] == [("ResponseError", each)] * 2
    assert info.value.cost == decision.spent == 2 * each  # what the request spent in all
    assert router.spend().total == decision.spent


@pytest.mark.parametrize("mode", STREAM)
def test_a_stream_that_showed_text_then_broken_tool_arguments_is_a_billed_stream_error(
        provider: str, mode: str) -> None:
    router = make(provider)
    broken = {"index": 0, "id": "call_1", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"city": "Par'}}
    usage = {"prompt_tokens": 12, "completion_tokens": 500, "total_tokens": 512}
    body = sse(chunk(""), chunk("Let me check."), chunk(tool_calls=[broken]),
               chunk(finish="tool_calls"), chunk(empty=True, usage=usage), "[DONE]")
    with respx.mock:
        route = respx.post(PROVIDERS[provider]["url"]).respond(
            200, content=body, headers={"content-type": "text/event-stream"})
        with pytest.raises(StreamError, match="not JSON") as info:
            call(router, mode, "Weather in Paris?")
    assert route.call_count == 1  # text was shown: never retried
    assert info.value.partial_text == "Let me check."
    assert info.value.cost == actual_cost(router.deployments[0].price, Usage(12, 500))
    assert router.spend().total == info.value.cost


@pytest.mark.parametrize("mode", PLAIN)
def test_a_truncated_structured_answer_is_a_response_error_with_its_decision_and_cost(
        provider: str, mode: str) -> None:
    router = make(provider)
    with respx.mock:
        respond(respx.post(PROVIDERS[provider]["url"]), mode, content='{"merchant": ',
                prompt=100, completion=5, finish="length")
        with pytest.raises(ResponseError, match="does not match Receipt") as info:
            call(router, mode, "Extract.", response_format=Receipt, max_tokens=5)
    err = info.value
    cost = actual_cost(router.deployments[0].price, Usage(input_tokens=100, output_tokens=5))
    assert err.cost == cost
    assert err.decision is not None
    assert [(a.outcome, a.cost) for a in err.decision.attempts] == [("ResponseError", cost)]
    assert router.spend().total == err.decision.spent == cost
