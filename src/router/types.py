"""The normalised request and reply that every provider adapter speaks: frozen, typed, provider-free."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

    from router.decision import Decision

__all__ = [
    "Completion",
    "FinishReason",
    "ImagePart",
    "Message",
    "Part",
    "Reply",
    "Request",
    "ResponseFormat",
    "Role",
    "StreamChunk",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
ImageDetail = Literal["auto", "low", "high"]


class FinishReason(enum.StrEnum):
    """Why the model stopped, normalised across providers."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by URL or data URL; `width`/`height` are read from a data URL's header when possible."""

    url: str
    detail: ImageDetail = "auto"
    width: int | None = None
    height: int | None = None

    def __repr__(self) -> str:  # data URLs are megabytes of base64: never print them
        shown = self.url if len(self.url) <= 80 else self.url[:60] + f"...({len(self.url)} chars)"
        return f"ImagePart(url={shown!r}, detail={self.detail!r}, size={self.width}x{self.height})"


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for; `arguments` is already parsed from JSON."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        parts = self.parts
        if len(parts) == 1 and type(parts[0]) is TextPart:  # the common case: one string
            return parts[0].text
        return "".join(p.text for p in parts if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call; `parameters` is a JSON schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: a JSON schema, optionally from a pydantic model to parse the answer into.

    `schema is None` means plain JSON mode (any JSON object).
    """

    name: str
    schema: Mapping[str, Any] | None
    model: type[BaseModel] | None = None
    strict: bool = True


@dataclass(frozen=True, slots=True)
class Request:
    """One chat request, provider-neutral. Built and validated by `router.messages.build_request`."""

    messages: tuple[Message, ...]
    max_tokens: int | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: str | Mapping[str, Any] | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_images(self) -> bool:
        return any(isinstance(p, ImagePart) for m in self.messages for p in m.parts)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens billed for one call. `input_tokens` includes `cached_input_tokens`."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True)
class Completion:
    """What an adapter returns: the provider's answer, normalised, before the router prices it."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    tool_calls: tuple[ToolCall, ...] = ()
    request_id: str | None = None
    provider_model: str | None = None
    latency: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call; `index` ties the pieces of one call together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One event of a provider stream; any field may be empty."""

    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    request_id: str | None = None
    provider_model: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The router's answer: the completion plus which model served it, what it cost and why.

    `model` is the catalog name ("gpt-4o-mini"), `deployment` the deployment's name,
    `cost` the exact USD cost from reported usage.
    """

    text: str
    model: str
    deployment: str
    cost: Decimal
    usage: Usage
    finish_reason: FinishReason
    decision: Decision
    tool_calls: tuple[ToolCall, ...] = ()
    parsed: Any = None
    request_id: str | None = None
    latency: float = 0.0

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        from router.money import format_usd

        return (
            f"Reply(model={self.model!r}, deployment={self.deployment!r}, "
            f"cost={format_usd(self.cost)}, "
            f"usage={self.usage}, finish_reason={self.finish_reason.value!r}, text={text!r})"
        )
