"""Turn what a caller passes (OpenAI-style dicts, strings, pydantic models) into a validated `Request`.

Every error names the offending field (`messages[2].content[0].type`) and says what to write instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from router.errors import InvalidRequestError
from router.options import is_listlike as _is_list
from router.options import parse_metadata, parse_stop
from router.types import (
    ImagePart,
    Message,
    Part,
    Request,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCall,
)

__all__ = ["build_request", "image_size", "parse_messages", "strict_schema"]

# Tuples, not sets: `in` then compares with ==, so an unhashable value (a list) is just not in it.
_ROLES = ("system", "user", "assistant", "tool", "developer")
_DETAILS = ("auto", "low", "high")
_TOOL_CHOICES = frozenset({"auto", "none", "required"})

MessagesLike = str | Sequence[Mapping[str, Any] | Message]


def parse_messages(messages: MessagesLike) -> tuple[Message, ...]:
    """Validate and normalise chat messages. A plain string is one user message."""
    if isinstance(messages, str):
        return (Message("user", (TextPart(messages),)),)
    if type(messages) is not list and (
        isinstance(messages, Mapping) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(
            'expected a list of messages like [{"role": "user", "content": "..."}] or a string',
            field="messages",
        )
    if not messages:
        raise InvalidRequestError("is empty; send at least one message", field="messages")
    out = tuple(_parse_message(m, i) for i, m in enumerate(messages))  # type: ignore[arg-type]
    if all(m.role == "system" for m in out):
        raise InvalidRequestError(
            "holds only system messages; add a user message", field="messages"
        )
    return out


_SIMPLE_ROLES = ("user", "system", "assistant")


def _parse_message(raw: Mapping[str, Any] | Message, index: int) -> Message:
    # The common case, {"role": ..., "content": "text"}, skips the general checks below.
    if type(raw) is dict and len(raw) == 2:
        role, content = raw.get("role"), raw.get("content")
        if role in _SIMPLE_ROLES and type(content) is str and content:
            return Message(role, (TextPart(content),))
    if isinstance(raw, Message):
        return raw
    where = f"messages[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidRequestError(
            f'expected a dict like {{"role": "user", "content": "..."}}, got {type(raw).__name__}',
            field=where,
        )
    role = raw.get("role")
    if role not in _ROLES:
        raise InvalidRequestError(
            f"role {role!r} is not one of system, user, assistant, tool", field=f"{where}.role"
        )
    if role == "developer":  # OpenAI's newer name for system; every provider understands system
        role = "system"
    parts = _parse_content(raw.get("content"), f"{where}.content", role)
    raw_calls = raw.get("tool_calls") or ()
    if not _is_list(raw_calls):
        raise InvalidRequestError(
            'expected a list like [{"id": ..., "type": "function", "function": {"name": ..., '
            f'"arguments": "{{...}}"}}}}], got {type(raw_calls).__name__}',
            field=f"{where}.tool_calls",
        )
    tool_calls = tuple(
        _parse_tool_call(tc, f"{where}.tool_calls[{i}]") for i, tc in enumerate(raw_calls)
    )
    if role != "assistant" and tool_calls:
        raise InvalidRequestError("only assistant messages carry tool_calls", field=where)
    if role == "assistant" and not parts and not tool_calls:
        raise InvalidRequestError("an assistant message needs content or tool_calls", field=where)
    if role in ("user", "system") and not parts:
        raise InvalidRequestError("is empty; give text (or image parts)", field=f"{where}.content")
    tool_call_id = raw.get("tool_call_id")
    if role == "tool" and not isinstance(tool_call_id, str):
        raise InvalidRequestError(
            "a tool message needs the tool_call_id of the call it answers", field=where
        )
    if tool_call_id is not None and not isinstance(tool_call_id, str):
        raise InvalidRequestError("must be a string", field=f"{where}.tool_call_id")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidRequestError("must be a string", field=f"{where}.name")
    return Message(cast(Role, role), parts, tool_calls, tool_call_id, name)


def _parse_content(content: Any, where: str, role: str) -> tuple[Part, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        return (TextPart(content),) if content else ()
    if not _is_list(content):
        raise InvalidRequestError(
            f"expected a string or a list of parts, got {type(content).__name__}", field=where
        )
    parts: list[Part] = []
    for i, part in enumerate(content):
        here = f"{where}[{i}]"
        if isinstance(part, TextPart | ImagePart):
            parts.append(part)
            continue
        if isinstance(part, str):
            parts.append(TextPart(part))
            continue
        if not isinstance(part, Mapping):
            raise InvalidRequestError("expected a dict with a 'type'", field=here)
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequestError("a text part needs a string 'text'", field=here)
            parts.append(TextPart(text))
        elif kind in ("image_url", "image"):
            if role != "user":
                raise InvalidRequestError("only user messages may hold images", field=here)
            parts.append(_parse_image(part, here))
        else:
            raise InvalidRequestError(
                f"part type {kind!r} is not supported; use 'text' or 'image_url'",
                field=f"{here}.type",
            )
    return tuple(parts)


def _parse_image(part: Mapping[str, Any], where: str) -> ImagePart:
    spec = part.get("image_url", part.get("url"))
    detail = part.get("detail", "auto")
    if isinstance(spec, Mapping):
        detail = spec.get("detail", detail) or "auto"
        spec = spec.get("url")
    if not isinstance(spec, str) or not spec:
        raise InvalidRequestError(
            'an image part needs {"image_url": {"url": "https://... or data:image/...;base64,..."}}',
            field=where,
        )
    if detail not in _DETAILS:
        raise InvalidRequestError(
            f"detail {detail!r} is not one of auto, low, high", field=f"{where}.detail"
        )
    if not spec.startswith(("http://", "https://", "data:")):
        raise InvalidRequestError(
            "the image URL must be http(s):// or a data: URL", field=f"{where}.image_url.url"
        )
    width = height = None
    if spec.startswith("data:"):
        size = image_size(spec)
        if size is not None:
            width, height = size
    return ImagePart(spec, detail, width, height)


def _parse_tool_call(raw: Any, where: str) -> ToolCall:
    if isinstance(raw, ToolCall):
        return raw
    if not isinstance(raw, Mapping):
        raise InvalidRequestError("expected a dict with id and function", field=where)
    fn = raw.get("function", raw)
    if not isinstance(fn, Mapping):
        raise InvalidRequestError(
            'function must be a dict like {"name": ..., "arguments": "{...}"}', field=where
        )
    name, arguments = fn.get("name"), fn.get("arguments", {})
    if not isinstance(name, str):
        raise InvalidRequestError("a tool call needs function.name", field=where)
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments else {}
        except json.JSONDecodeError:
            raise InvalidRequestError(
                "function.arguments is not valid JSON", field=where
            ) from None
    if not isinstance(arguments, Mapping):
        raise InvalidRequestError("function.arguments must be a JSON object", field=where)
    return ToolCall(str(raw.get("id", "")), name, dict(arguments))


def _parse_tools(tools: Iterable[Any] | None) -> tuple[Tool, ...]:
    if not tools:
        return ()
    if not _is_list(tools):
        raise InvalidRequestError(
            'expected a list of tools like [{"type": "function", "function": {"name": ...}}], '
            f"got {type(tools).__name__}",
            field="tools",
        )
    out = []
    for i, raw in enumerate(tools):
        where = f"tools[{i}]"
        if isinstance(raw, Tool):
            out.append(raw)
            continue
        if not isinstance(raw, Mapping):
            raise InvalidRequestError("expected a dict describing a function", field=where)
        fn = raw.get("function", raw) if raw.get("type", "function") == "function" else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise InvalidRequestError(
                'expected {"type": "function", "function": {"name": ..., "parameters": {...}}}',
                field=where,
            )
        params = fn.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, Mapping):
            raise InvalidRequestError("parameters must be a JSON schema object", field=where)
        out.append(Tool(fn["name"], str(fn.get("description", "")), params))
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise InvalidRequestError("two tools share a name", field="tools")
    return tuple(out)


def _parse_tool_choice(choice: Any, tools: tuple[Tool, ...]) -> str | Mapping[str, Any] | None:
    if choice is None:
        return None
    if not tools and choice != "none":
        raise InvalidRequestError("is set but no tools were given", field="tool_choice")
    name: Any = None
    if isinstance(choice, str):
        if choice in _TOOL_CHOICES:
            return choice
        name = choice
    elif isinstance(choice, Mapping):
        fn = choice.get("function", choice)
        name = fn.get("name") if isinstance(fn, Mapping) else None
    if not isinstance(name, str) or name not in {t.name for t in tools}:
        raise InvalidRequestError(
            "must be 'auto', 'none', 'required' or the name of one of the tools", field="tool_choice"
        )
    return {"name": name}


def _parse_response_format(fmt: Any) -> ResponseFormat | None:
    if fmt is None or isinstance(fmt, ResponseFormat):
        return fmt
    if isinstance(fmt, type):
        from pydantic import BaseModel

        if issubclass(fmt, BaseModel):
            return ResponseFormat(fmt.__name__, strict_schema(fmt.model_json_schema()), fmt)
    if isinstance(fmt, Mapping):
        kind = fmt.get("type")
        if kind == "json_object":
            return ResponseFormat("json_object", None)
        if kind == "json_schema" and isinstance(fmt.get("json_schema"), Mapping):
            spec = fmt["json_schema"]
            if isinstance(spec.get("schema"), Mapping):
                return ResponseFormat(
                    str(spec.get("name", "response")), spec["schema"], None, bool(spec.get("strict", True))
                )
        if kind == "object" or "properties" in fmt:  # a bare JSON schema
            return ResponseFormat("response", strict_schema(fmt))
    raise InvalidRequestError(
        'expected a pydantic model class, {"type": "json_object"}, '
        '{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}} or a JSON schema',
        field="response_format",
    )


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Make a JSON schema acceptable to strict structured output: closed objects, all keys required."""

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping):
            out = {k: walk(v) for k, v in node.items() if k != "default"}
            if out.get("type") == "object" and "properties" in out:
                out["additionalProperties"] = False
                out["required"] = list(out["properties"])
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return cast(dict[str, Any], walk(schema))


def build_request(
    messages: MessagesLike,
    *,
    max_tokens: int | None = None,
    tools: Iterable[Any] | None = None,
    tool_choice: Any = None,
    response_format: Any = None,
    temperature: float | None = None,
    stop: str | Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Request:
    """Validate every argument of a call; raise `InvalidRequestError` naming the field."""
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise InvalidRequestError(
            f"{max_tokens!r} is not a positive whole number of tokens", field="max_tokens"
        )
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        raise InvalidRequestError(f"{temperature!r} must be between 0 and 2", field="temperature")
    stops = parse_stop(stop)
    parsed_tools = _parse_tools(tools) if tools else ()
    meta = parse_metadata(metadata)
    return Request(
        messages=parse_messages(messages),
        max_tokens=max_tokens,
        tools=parsed_tools,
        tool_choice=None if tool_choice is None else _parse_tool_choice(tool_choice, parsed_tools),
        response_format=None if response_format is None else _parse_response_format(response_format),
        temperature=None if temperature is None else float(temperature),
        stop=stops,
        metadata=meta,
    )


def image_size(data_url: str) -> tuple[int, int] | None:
    """Width and height from the header of a base64 data URL (PNG, JPEG, GIF, WebP), else None."""
    head, _, payload = data_url.partition(",")
    if ";base64" not in head:
        return None
    # The header sits in the first bytes for PNG/GIF/WebP; JPEG's SOF marker can come later.
    for chars in (4096, 65536, len(payload)):
        chunk = payload[: chars - chars % 4] if chars < len(payload) else payload
        try:
            data = base64.b64decode(chunk + "=" * (-len(chunk) % 4))
        except (binascii.Error, ValueError):
            return None
        size = _sniff_size(data)
        if size is not None or chars >= len(payload):
            return size
    return None


def _sniff_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if kind == b"VP8L":
            b = data[21:25]
            w = 1 + (((b[1] & 0x3F) << 8) | b[0])
            h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
            return w, h
        if kind == b"VP8X":
            w = 1 + int.from_bytes(data[24:27], "little")
            h = 1 + int.from_bytes(data[27:30], "little")
            return w, h
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + length
    return None

