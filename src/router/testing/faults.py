"""What the fake provider can be told to do with one request: answer, fail, stall or break.

Each kind is a frozen dataclass; every kind takes ``delay`` (seconds to wait before answering).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "Fault",
    "HttpError",
    "MalformedJSON",
    "MidStreamError",
    "NoFinishReason",
    "Ok",
    "Reset",
    "StreamCut",
    "fault_from_dict",
    "fault_kind",
    "fault_to_dict",
    "rate_limited",
    "slow",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Ok:
    """A normal answer, optionally with overrides of the server's defaults.

    ``text`` replaces the echo (split into word tokens); ``output_tokens``, ``prompt_tokens`` and
    ``cached_tokens`` set the usage; ``tool_call`` forces a call of that tool; ``token_delay``
    paces a stream (seconds between chunks).
    """

    text: str | None = None
    output_tokens: int | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    finish_reason: str | None = None
    tool_call: str | None = None
    token_delay: float = 0.0
    delay: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpError:
    """An HTTP error status with a provider-shaped JSON error body and optional retry hints."""

    status: int
    message: str | None = None
    error_type: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"HttpError.status must be 400..599, got {self.status}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Reset:
    """Close the connection with a TCP reset, without any response."""

    delay: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class MalformedJSON:
    """Answer 200 with a body (or, streaming, an event) that is not valid JSON."""

    delay: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamCut:
    """Drop the connection mid-body after ``after_tokens`` content chunks (0: before the first).

    A stream always starts with the role chunk (empty content), as real providers do. Applied to
    a non-streaming request, the JSON body is cut in half.
    """

    after_tokens: int = 0
    delay: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class NoFinishReason:
    """A complete-looking stream (ends with ``[DONE]``) whose finish chunk is missing.

    OpenAI shape keeps its separate usage chunk; Mistral shape loses usage with the finish chunk.
    Non-streaming: ``finish_reason`` is null.
    """

    delay: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class MidStreamError:
    """After ``after_tokens`` content chunks, send an ``{"error": ...}`` event and end the stream.

    This is how an overloaded provider fails a stream that already returned 200.
    """

    after_tokens: int = 1
    message: str = "Overloaded"
    error_type: str = "server_error"
    delay: float = 0.0


Fault: TypeAlias = (
    Ok | HttpError | Reset | MalformedJSON | StreamCut | NoFinishReason | MidStreamError
)

_KINDS: dict[str, type[Fault]] = {
    "ok": Ok,
    "http_error": HttpError,
    "reset": Reset,
    "malformed_json": MalformedJSON,
    "stream_cut": StreamCut,
    "no_finish_reason": NoFinishReason,
    "mid_stream_error": MidStreamError,
}
_NAMES: dict[type[Fault], str] = {cls: name for name, cls in _KINDS.items()}


def rate_limited(
    *, retry_after: float | str | None = None, retry_after_ms: int | None = None
) -> HttpError:
    """A 429 with the given retry hints."""
    return HttpError(status=429, retry_after=retry_after, retry_after_ms=retry_after_ms)


def slow(seconds: float) -> Ok:
    """A normal answer sent only after ``seconds``: past a client timeout when it is shorter."""
    return Ok(delay=seconds)


def fault_kind(fault: Fault) -> str:
    """The wire name of a fault's kind (``"http_error"``...)."""
    return _NAMES[type(fault)]


def fault_to_dict(fault: Fault) -> dict[str, Any]:
    """A JSON-ready dict: ``{"kind": ..., **fields}`` with defaults left out."""
    out: dict[str, Any] = {"kind": _NAMES[type(fault)]}
    for field in dataclasses.fields(fault):
        value = getattr(fault, field.name)
        if value != field.default:
            out[field.name] = [list(pair) for pair in value] if field.name == "headers" else value
    return out


def fault_from_dict(data: dict[str, Any]) -> Fault:
    """The inverse of :func:`fault_to_dict`; raises ``ValueError`` naming a bad kind or field."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_KINDS)}")
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"{kind}: unknown field(s) {unknown}; expected some of {sorted(known)}")
    if "headers" in fields:
        fields["headers"] = tuple((str(k), str(v)) for k, v in fields["headers"])
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ValueError(f"{kind}: {exc}") from exc
