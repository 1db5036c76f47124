"""The fault matrix: each scripted fault and what the router must do about it.

`markdown()` renders it for docs/resilience.md; a test keeps the two the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from router import (
    AuthenticationError,
    BadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimitError,
    ResponseError,
    ServerError,
    StreamError,
)
from router.testing import (
    Fault,
    HttpError,
    MalformedJSON,
    MidStreamError,
    NoFinishReason,
    Reset,
    StreamCut,
    rate_limited,
    slow,
)

PLAIN = ("sync", "async")
STREAM = ("stream", "astream")
ALL = PLAIN + STREAM

SAME = "recovered on the same deployment"
FALLBACK = "fell back to the other deployment"
RAISES = "raises"
OK = "answers"


@dataclass(frozen=True)
class Case:
    """`faults` are served in order, then normal answers. `error` is the class of the first
    failed attempt (or of the error raised); `served` which deployment each request reached."""

    name: str
    faults: tuple[Fault, ...]
    expect: str
    error: type[ProviderError] | None
    served: tuple[str, ...]
    modes: tuple[str, ...] = ALL
    wait: float | None = None  # the wait recorded before the second attempt
    billed: bool = False  # the failed attempt received tokens and is billed for them
    note: str = ""


P, B = "primary", "backup"

CASES: tuple[Case, ...] = (
    Case("429 + Retry-After: 0.05", (rate_limited(retry_after=0.05),), SAME, RateLimitError,
         (P, P), wait=0.05, note="waits what the provider asked"),
    Case("429 + retry-after-ms: 30", (rate_limited(retry_after_ms=30),), SAME, RateLimitError,
         (P, P), wait=0.03),
    Case("429, no hint", (HttpError(status=429),), SAME, RateLimitError, (P, P),
         note="exponential backoff with jitter"),
    Case("429 + Retry-After: 30 (over max_retry_after)", (rate_limited(retry_after=30),), FALLBACK,
         RateLimitError, (P, B), note="not worth the wait: next candidate at once"),
    Case("500", (HttpError(status=500),), SAME, ServerError, (P, P)),
    Case("502", (HttpError(status=502),), SAME, ServerError, (P, P)),
    Case("503", (HttpError(status=503),), SAME, ServerError, (P, P)),
    Case("408", (HttpError(status=408),), SAME, ProviderTimeout, (P, P)),
    Case("503 on every attempt of the first deployment", (HttpError(status=503),) * 2, FALLBACK,
         ServerError, (P, P, B)),
    Case("503 everywhere", (HttpError(status=503),) * 4, RAISES, ServerError, (P, P, B, B),
         note="the error's decision lists all 4 attempts"),
    Case("slow response past the attempt timeout", (slow(1.6),), SAME, ProviderTimeout, (P, P)),
    Case("connection reset", (Reset(),), SAME, ProviderConnectionError, (P, P)),
    Case("malformed JSON with HTTP 200", (MalformedJSON(),), SAME, ResponseError, (P, P)),
    Case("body cut in half", (StreamCut(after_tokens=0),), SAME, ProviderConnectionError, (P, P),
         modes=PLAIN),
    Case("stream cut before the first token", (StreamCut(after_tokens=0),), SAME,
         ProviderConnectionError, (P, P), modes=STREAM, note="transparent: nothing was shown"),
    Case("stream cut after 2 tokens", (StreamCut(after_tokens=2),), RAISES, StreamError, (P,),
         modes=STREAM, billed=True, note="carries the partial text; billed for it"),
    Case("no finish reason", (NoFinishReason(),), RAISES, StreamError, (P,), modes=STREAM,
         billed=True, note="truncated=True, never a success"),
    Case("no finish reason (complete JSON body)", (NoFinishReason(),), OK, None, (P,),
         modes=PLAIN, note='finish_reason "other": the body itself is whole'),
    Case("error event after 2 tokens", (MidStreamError(after_tokens=2),), RAISES, StreamError, (P,),
         modes=STREAM, billed=True),
    Case("error event before the first token", (MidStreamError(after_tokens=0),), SAME,
         ServerError, (P, P), modes=STREAM),
    Case("HTTP 200 with an error body", (MidStreamError(),), SAME, ServerError, (P, P),
         modes=PLAIN),
    Case("401", (HttpError(status=401),), FALLBACK, AuthenticationError, (P, B),
         note="not retried: the other deployment has its own key"),
    Case("404", (HttpError(status=404),), FALLBACK, BadRequestError, (P, B),
         note="the host does not serve the model"),
    Case("400", (HttpError(status=400),), RAISES, BadRequestError, (P,),
         note="would fail anywhere: no retry, no fallback"),
)


def markdown() -> str:
    """The matrix as a Markdown table (one row per fault; the modes where it applies)."""
    rows = [
        "| fault | modes | outcome | first error | requests served by | billed | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        modes = "all four" if case.modes == ALL else ", ".join(case.modes)
        outcome = f"raises {case.error.__name__}" if case.expect == RAISES and case.error else case.expect
        error = case.error.__name__ if case.error else "-"
        billed = ("tokens received" if case.billed else "the answer only" if case.expect != RAISES
                  else "nothing")
        rows.append(f"| {case.name} | {modes} | {outcome} | {error} | {' -> '.join(case.served)} "
                    f"| {billed} | {case.note} |")
    return "\n".join(rows)
