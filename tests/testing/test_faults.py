"""Each scripted fault, as the real openai and mistralai SDKs see it (SDK retries off)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable
from typing import Any

import httpx
import openai
import pytest
from mistralai.client import Mistral, errors

from router.testing import (
    FakeProviderServer,
    HttpError,
    MalformedJSON,
    MidStreamError,
    NoFinishReason,
    Reset,
    StreamCut,
    rate_limited,
    slow,
)

MESSAGES = [{"role": "user", "content": "one two three"}]


def _collect(stream: Iterable[Any], into: list[str]) -> None:
    """Append each chunk's content delta (either SDK's shape) until the stream ends or raises."""
    for chunk in stream:
        choices = chunk.data.choices if hasattr(chunk, "data") else chunk.choices
        into.append(str(choices[0].delta.content or ""))


async def _acollect(stream: AsyncIterable[Any], into: list[str]) -> None:
    async for chunk in stream:
        choices = chunk.data.choices if hasattr(chunk, "data") else chunk.choices
        into.append(str(choices[0].delta.content or ""))


def _openai_stream(client: openai.OpenAI) -> tuple[list[str], list[str | None]]:
    """Content deltas and finish reasons received before the stream ended or raised."""
    texts: list[str] = []
    finishes: list[str | None] = []
    stream = client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    for chunk in stream:
        if chunk.choices:
            texts.append(chunk.choices[0].delta.content or "")
            finishes.append(chunk.choices[0].finish_reason)
    return texts, finishes


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (502, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_status_errors_raise_the_sdk_class(
    oai: openai.OpenAI, fake_provider: FakeProviderServer, status: int, error: type[Exception]
) -> None:
    fake_provider.script(HttpError(status=status), HttpError(status=status))

    with pytest.raises(error) as plain:
        oai.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(error):
        _openai_stream(oai)

    assert isinstance(plain.value, openai.APIStatusError)
    assert plain.value.status_code == status
    assert plain.value.request_id == "req_00000001"
    assert isinstance(plain.value.body, dict)
    assert "fake provider" in plain.value.body["message"]


def test_rate_limit_carries_retry_after_headers(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(rate_limited(retry_after=2, retry_after_ms=1500))

    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="m", messages=MESSAGES)

    headers = caught.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "1500")


def test_mistral_status_errors(mistral: Mistral, fake_provider: FakeProviderServer) -> None:
    fake_provider.script(rate_limited(retry_after=1), HttpError(status=503), HttpError(status=422))

    with pytest.raises(errors.SDKError) as limited:
        mistral.chat.complete(model="m", messages=MESSAGES)
    with pytest.raises(errors.SDKError) as unavailable:
        list(mistral.chat.stream(model="m", messages=MESSAGES))
    with pytest.raises(errors.HTTPValidationError):
        mistral.chat.complete(model="m", messages=MESSAGES)

    assert limited.value.status_code == 429
    assert limited.value.headers["retry-after"] == "1"
    assert json.loads(limited.value.body)["code"] == "429"
    assert unavailable.value.status_code == 503


def test_slow_response_times_out(fake_provider: FakeProviderServer) -> None:
    fake_provider.script(slow(1.0), slow(1.0))
    with httpx.Client() as http:
        client = openai.OpenAI(
            base_url=fake_provider.base_url,
            api_key="k",
            http_client=http,
            max_retries=0,
            timeout=0.2,
        )
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        mistral = Mistral(api_key="k", server_url=fake_provider.url, client=http, timeout_ms=200)
        with pytest.raises(httpx.ReadTimeout):
            mistral.chat.complete(model="m", messages=MESSAGES)


async def test_slow_response_times_out_async(fake_provider: FakeProviderServer) -> None:
    fake_provider.script(slow(1.0))
    async with httpx.AsyncClient() as http:
        client = openai.AsyncOpenAI(
            base_url=fake_provider.base_url,
            api_key="k",
            http_client=http,
            max_retries=0,
            timeout=0.2,
        )
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=MESSAGES)


def test_reset_is_a_connection_error(
    oai: openai.OpenAI, mistral: Mistral, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(Reset(), Reset(), Reset())

    with pytest.raises(openai.APIConnectionError) as plain:
        oai.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.APIConnectionError):
        _openai_stream(oai)
    with pytest.raises(httpx.ReadError):  # mistralai does not wrap transport errors
        mistral.chat.complete(model="m", messages=MESSAGES)

    assert not isinstance(plain.value, openai.APITimeoutError)


async def test_reset_async(aoai: openai.AsyncOpenAI, fake_provider: FakeProviderServer) -> None:
    fake_provider.script(Reset())

    with pytest.raises(openai.APIConnectionError):
        await aoai.chat.completions.create(model="m", messages=MESSAGES)


def test_malformed_json(
    oai: openai.OpenAI, mistral: Mistral, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(MalformedJSON(), MalformedJSON(), MalformedJSON(), MalformedJSON())

    with pytest.raises(json.JSONDecodeError):  # the openai SDK lets it through unwrapped
        oai.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(json.JSONDecodeError):
        _openai_stream(oai)
    with pytest.raises(errors.ResponseValidationError):
        mistral.chat.complete(model="m", messages=MESSAGES)
    with pytest.raises(errors.ResponseValidationError):
        list(mistral.chat.stream(model="m", messages=MESSAGES))


def test_stream_cut_before_first_token(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(StreamCut(after_tokens=0))
    received: list[str] = []

    with pytest.raises(openai.APIConnectionError):
        _collect(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True), received)

    assert received == [""]  # only the role chunk, no content


def test_stream_cut_after_tokens(
    oai: openai.OpenAI, mistral: Mistral, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(StreamCut(after_tokens=2), StreamCut(after_tokens=2))
    received: list[str] = []
    mistral_received: list[str] = []

    with pytest.raises(openai.APIConnectionError):
        _collect(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True), received)
    with pytest.raises(httpx.RemoteProtocolError):
        _collect(mistral.chat.stream(model="m", messages=MESSAGES), mistral_received)

    assert received == mistral_received == ["", "Echo:", " one"]


async def test_stream_cut_async(
    aoai: openai.AsyncOpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(StreamCut(after_tokens=1))
    received: list[str] = []

    stream = await aoai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError):
        await _acollect(stream, received)

    assert received == ["", "Echo:"]


def test_stream_cut_of_a_plain_request_truncates_the_body(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(StreamCut())

    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=MESSAGES)


def test_stream_without_finish_reason_looks_complete(
    oai: openai.OpenAI, mistral: Mistral, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(NoFinishReason(), NoFinishReason(), NoFinishReason())

    texts, finishes = _openai_stream(oai)
    events = list(mistral.chat.stream(model="m", messages=MESSAGES))
    plain = oai.chat.completions.create(model="m", messages=MESSAGES)

    assert len(texts) == 9
    assert finishes == [None] * 9
    assert all(e.data.choices[0].finish_reason is None for e in events)
    assert all(e.data.usage is None for e in events)
    assert plain.choices[0].finish_reason is None


def test_error_event_mid_stream(
    oai: openai.OpenAI, mistral: Mistral, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(MidStreamError(after_tokens=1), MidStreamError(after_tokens=1))
    received: list[str] = []

    with pytest.raises(openai.APIError, match="Overloaded") as caught:
        _collect(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True), received)
    with pytest.raises(errors.ResponseValidationError):
        list(mistral.chat.stream(model="m", messages=MESSAGES))

    assert received == ["", "Echo:"]
    assert not isinstance(caught.value, openai.APIStatusError)


def test_delay_applies_to_any_fault(oai: openai.OpenAI, fake_provider: FakeProviderServer) -> None:
    fake_provider.script(HttpError(status=503, delay=5.0))

    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.2).chat.completions.create(model="m", messages=MESSAGES)


async def test_mistral_async_faults(amistral: Mistral, fake_provider: FakeProviderServer) -> None:
    fake_provider.script(rate_limited(retry_after=3), StreamCut(after_tokens=1), Reset())
    received: list[str] = []

    with pytest.raises(errors.SDKError) as limited:
        await amistral.chat.complete_async(model="m", messages=MESSAGES)
    stream = await amistral.chat.stream_async(model="m", messages=MESSAGES)
    with pytest.raises(httpx.RemoteProtocolError):
        await _acollect(stream, received)
    with pytest.raises(httpx.ReadError):
        await amistral.chat.complete_async(model="m", messages=MESSAGES)

    assert limited.value.status_code == 429
    assert received == ["", "Echo:"]
