import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from tests.images import data_url, gif, image_message, jpeg, png

from router.errors import InvalidRequestError
from router.messages import build_request, image_size, parse_messages
from router.types import ImagePart, TextPart


def test_a_string_is_one_user_message() -> None:
    (msg,) = parse_messages("hi")
    assert msg.role == "user"
    assert msg.text == "hi"


def test_openai_shaped_messages_are_normalised() -> None:
    msgs = parse_messages([
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": data_url(png(10, 20)),
                                                                         "detail": "low"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ])
    assert msgs[0].role == "system"
    assert isinstance(msgs[1].parts[0], TextPart)
    image = msgs[1].parts[1]
    assert isinstance(image, ImagePart)
    assert (image.width, image.height, image.detail) == (10, 20, "low")
    assert msgs[2].tool_calls[0].arguments == {"a": 1}
    assert msgs[3].tool_call_id == "c1"


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([], "messages"),
        ({"role": "user", "content": "x"}, "messages"),
        ([{"role": "robot", "content": "x"}], r"messages\[0\]\.role"),
        ([{"role": "user", "content": [{"type": "audio"}]}], r"messages\[0\]\.content\[0\]\.type"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}],
         r"messages\[0\]\.content\[0\]\.image_url\.url"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x",
                                                                            "detail": "max"}}]}],
         r"messages\[0\]\.content\[0\]\.detail"),
        ([{"role": "user", "content": ""}], r"messages\[0\]\.content"),
        ([{"role": "system", "content": "only me"}], "messages"),
        ([{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}], r"messages\[1\]"),
        ([{"role": "user", "content": 5}], r"messages\[0\]\.content"),
        (["hello"], r"messages\[0\]"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": 5}],
         r"messages\[1\]\.tool_calls"),
        ([{"role": "assistant", "tool_calls": [{"id": "c", "function": "f"}]}],
         r"messages\[0\]\.tool_calls\[0\]"),
        ([{"role": ["user"], "content": "x"}], r"messages\[0\]\.role"),
        ([{"role": "user", "content": b"bytes"}], r"messages\[0\]\.content"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x",
                                                                            "detail": ["low"]}}]}],
         r"messages\[0\]\.content\[0\]\.detail"),
        ([{"role": "user", "content": "x", "tool_call_id": 5}], r"messages\[0\]\.tool_call_id"),
    ],
)
def test_malformed_messages_name_the_field(messages: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"^{field}: "):
        parse_messages(messages)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"stop": ["a", ""]}, "stop"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {}}]}, r"tools\[0\]"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "g"}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"response_format": int}, "response_format"),
        ({"metadata": [1, 2]}, "metadata"),
        ({"metadata": "ticket=1"}, "metadata"),
        ({"stop": 5}, "stop"),
        ({"stop": {"a": 1}}, "stop"),
        ({"tools": 5}, "tools"),
        ({"tools": "weather"}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}],
          "tool_choice": {"function": 5}}, "tool_choice"),
    ],
)
def test_bad_call_arguments_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"^{field}: "):
        build_request("hi", **kwargs)


class Receipt(BaseModel):
    merchant: str
    total: float
    items: list[str] = []


def test_pydantic_response_format_becomes_a_strict_schema() -> None:
    req = build_request("hi", response_format=Receipt)
    fmt = req.response_format
    assert fmt is not None
    assert fmt.model is Receipt
    assert fmt.schema is not None
    assert fmt.schema["additionalProperties"] is False
    assert set(fmt.schema["required"]) == {"merchant", "total", "items"}
    assert "default" not in fmt.schema["properties"]["items"]


def test_json_object_and_raw_schema_formats() -> None:
    assert build_request("hi", response_format={"type": "json_object"}).response_format.schema is None  # type: ignore[union-attr]
    raw = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert build_request("hi", response_format=raw).response_format.schema["required"] == ["a"]  # type: ignore[union-attr,index]


def test_tool_choice_by_name() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    req = build_request("hi", tools=tools, tool_choice="get_weather")
    assert req.tool_choice == {"name": "get_weather"}
    assert req.tools[0].name == "get_weather"


@pytest.mark.parametrize(
    ("blob", "mime", "size"),
    [(png(1024, 768), "image/png", (1024, 768)), (jpeg(4000, 3000), "image/jpeg", (4000, 3000)),
     (gif(32, 16), "image/gif", (32, 16))],
)
def test_image_size_is_read_from_the_header(blob: bytes, mime: str, size: tuple[int, int]) -> None:
    assert image_size(data_url(blob, mime)) == size


def test_unknown_image_data_has_no_size() -> None:
    assert image_size("data:image/png;base64,AAAA") is None
    assert image_size("data:text/plain,hello") is None


def test_image_reprs_never_dump_data_urls() -> None:
    (msg,) = parse_messages(image_message(data_url(png(10, 10) + b"\x00" * 5000)))
    assert len(repr(msg)) < 400


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4),
              st.sampled_from(["user", "assistant", "tool", "system", "text", "image_url", "low",
                               "function", "https://x/y.png", '{"a": 1}'])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["role", "content", "tool_calls", "tool_call_id", "name",
                                         "type", "text", "image_url", "url", "detail",
                                         "function", "arguments", "id", "parameters"]),
                        inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(messages=st.lists(_JSON, min_size=1, max_size=3),
       options=st.dictionaries(st.sampled_from(["tools", "tool_choice", "response_format", "stop",
                                                "metadata", "max_tokens", "temperature"]),
                               _JSON, max_size=2))
def test_any_malformed_input_is_an_invalid_request_error(
    messages: list[Any], options: dict[str, Any]
) -> None:
    with contextlib.suppress(InvalidRequestError):  # anything else escapes and fails the test
        build_request(messages, **options)
