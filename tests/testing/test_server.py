"""The fake provider answers the real openai and mistralai SDKs, sync, async and streaming."""

from __future__ import annotations

import json
import time
from typing import Literal

import openai
import pydantic
from mistralai.client import Mistral

from router.testing import FakeProviderServer, Ok

MESSAGES = [{"role": "user", "content": "What is two plus two?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
            },
            "required": ["city", "unit", "days"],
        },
    },
}


class Answer(pydantic.BaseModel):
    value: int
    confidence: float
    unit: Literal["apples", "pears"]
    steps: list[str]
    note: str | None


# openai, sync


def test_openai_plain_reply_echoes_with_usage_and_request_id(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    choice = reply.choices[0]
    assert choice.message.content == "Echo: What is two plus two? What is"
    assert choice.finish_reason == "stop"
    assert reply.model == "gpt-4o-mini"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 8
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == 0
    assert reply._request_id == "req_00000001"


def test_max_tokens_caps_the_output_and_says_length(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="m", messages=MESSAGES, max_tokens=3)
    capped = oai.chat.completions.create(model="m", messages=MESSAGES, max_completion_tokens=2)

    assert reply.usage is not None
    assert reply.usage.completion_tokens == 3
    assert reply.choices[0].finish_reason == "length"
    assert capped.usage is not None
    assert capped.usage.completion_tokens == 2


def test_usage_is_configurable_per_server_and_per_request(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.configure(output_tokens=20, cached_tokens=4)
    fake_provider.script(Ok(text="Four.", prompt_tokens=1000, cached_tokens=512, output_tokens=2))

    scripted = oai.chat.completions.create(model="m", messages=MESSAGES)
    default = oai.chat.completions.create(model="m", messages=MESSAGES)

    assert scripted.choices[0].message.content == "Four."
    assert scripted.usage is not None
    assert scripted.usage.prompt_tokens == 1000
    assert scripted.usage.completion_tokens == 2
    assert scripted.usage.prompt_tokens_details is not None
    assert scripted.usage.prompt_tokens_details.cached_tokens == 512
    assert default.usage is not None
    assert default.usage.completion_tokens == 20
    assert default.usage.prompt_tokens_details is not None
    assert default.usage.prompt_tokens_details.cached_tokens == 4


def test_identical_requests_get_identical_text_and_new_ids(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(model="m", messages=MESSAGES)
    second = oai.chat.completions.create(model="m", messages=MESSAGES)

    assert first.choices[0].message.content == second.choices[0].message.content
    assert (first.id, second.id) == ("chatcmpl-00000001", "chatcmpl-00000002")


def test_openai_stream_ends_with_finish_then_usage_chunk(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )

    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: What is two plus two? What is"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 8


def test_openai_stream_without_include_usage_has_no_usage(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    assert all(c.choices and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_paced_stream_takes_its_time(oai: openai.OpenAI, fake_provider: FakeProviderServer) -> None:
    fake_provider.script(Ok(output_tokens=4, token_delay=0.05))
    started = time.perf_counter()

    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    assert time.perf_counter() - started >= 0.2
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_named_tool_choice_gets_a_valid_tool_call(oai: openai.OpenAI) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}

    reply = oai.chat.completions.create(
        model="m", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice=choice
    )

    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "text", "unit": "celsius", "days": 1}


def test_streamed_tool_call_arguments_reassemble(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="m", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="required", stream=True
    )
    name, arguments, finish = "", "", None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for call in delta.tool_calls or ():
            name += call.function.name or "" if call.function else ""
            arguments += call.function.arguments or "" if call.function else ""
        finish = chunk.choices[0].finish_reason or finish

    assert name == "get_weather"
    assert json.loads(arguments)["unit"] == "celsius"
    assert finish == "tool_calls"


def test_auto_tool_choice_answers_in_text_unless_scripted(
    oai: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    plain = oai.chat.completions.create(model="m", messages=MESSAGES, tools=[WEATHER_TOOL])
    fake_provider.script(Ok(tool_call="get_weather"))
    forced = oai.chat.completions.create(model="m", messages=MESSAGES, tools=[WEATHER_TOOL])

    assert plain.choices[0].message.tool_calls is None
    assert forced.choices[0].message.tool_calls is not None


def test_structured_output_parses_into_the_pydantic_model(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.parse(model="m", messages=MESSAGES, response_format=Answer)

    parsed = reply.choices[0].message.parsed
    assert isinstance(parsed, Answer)
    assert parsed.unit == "apples"


def test_json_mode_returns_json_content(oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(
        model="m", messages=MESSAGES, response_format={"type": "json_object"}
    )

    assert json.loads(reply.choices[0].message.content or "") == {"echo": "What is two plus two?"}


# openai, async


async def test_async_openai_plain_and_stream(aoai: openai.AsyncOpenAI) -> None:
    reply = await aoai.chat.completions.create(model="m", messages=MESSAGES, max_tokens=4)
    stream = await aoai.chat.completions.create(
        model="m",
        messages=MESSAGES,
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert reply.choices[0].message.content == "Echo: What is two"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Echo: What is two"
    )
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


# mistral


def test_mistral_complete_and_stream_with_usage_on_last_chunk(mistral: Mistral) -> None:
    reply = mistral.chat.complete(model="open-mistral-nemo", messages=MESSAGES, max_tokens=5)
    events = list(mistral.chat.stream(model="open-mistral-nemo", messages=MESSAGES, max_tokens=5))

    assert reply.choices[0].message is not None
    assert reply.choices[0].message.content == "Echo: What is two plus"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 5
    text = "".join(str(e.data.choices[0].delta.content or "") for e in events)
    assert text == "Echo: What is two plus"
    last = events[-1].data
    assert last.choices[0].finish_reason == "length"
    assert last.usage is not None
    assert last.usage.completion_tokens == 5
    assert all(e.data.usage is None for e in events[:-1])


def test_mistral_tool_call_and_json_mode(mistral: Mistral) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    called = mistral.chat.complete(
        model="m", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice=choice
    )
    as_json = mistral.chat.complete(
        model="m", messages=MESSAGES, response_format={"type": "json_object"}
    )

    message = called.choices[0].message
    assert message is not None
    assert message.tool_calls
    assert message.tool_calls[0].function.name == "get_weather"
    assert called.choices[0].finish_reason == "tool_calls"
    assert as_json.choices[0].message is not None
    assert json.loads(str(as_json.choices[0].message.content)) == {"echo": "What is two plus two?"}


def test_mistral_cached_tokens_come_as_an_extra_usage_field(
    mistral: Mistral, fake_provider: FakeProviderServer
) -> None:
    fake_provider.script(Ok(cached_tokens=3))

    reply = mistral.chat.complete(model="m", messages=MESSAGES)

    assert reply.usage.additional_properties["prompt_tokens_details"] == {"cached_tokens": 3}


async def test_async_mistral_complete_and_stream(amistral: Mistral) -> None:
    reply = await amistral.chat.complete_async(model="m", messages=MESSAGES, max_tokens=2)
    stream = await amistral.chat.stream_async(model="m", messages=MESSAGES, max_tokens=2)
    events = [event async for event in stream]

    assert reply.choices[0].message is not None
    assert reply.choices[0].message.content == "Echo: What"
    assert events[-1].data.usage is not None
    assert events[-1].data.usage.completion_tokens == 2


def test_flavor_is_detected_from_the_sdk(
    oai: openai.OpenAI, mistral: Mistral, fake_provider: FakeProviderServer
) -> None:
    oai.chat.completions.create(model="a", messages=MESSAGES)
    mistral.chat.complete(model="b", messages=MESSAGES)

    assert [r.flavor for r in fake_provider.requests] == ["openai", "mistral"]
