"""Reasons a decision gives for leaving a deployment out, worded to name what in the request
does not fit and what to change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.types import ImagePart, Request

if TYPE_CHECKING:
    from router.decision import Decision

__all__ = ["NO_IMAGES", "first_image", "missing_keys", "too_long"]

NO_IMAGES = "does not take image input"


def first_image(request: Request) -> str:
    """Where the first image part is, as the caller wrote it: `messages[i].content[j]`."""
    for i, message in enumerate(request.messages):
        for j, part in enumerate(message.parts):
            if isinstance(part, ImagePart):
                return f"messages[{i}].content[{j}]"
    return "an image part"


def too_long(input_tokens: int, wanted: int, window: int, floor: int) -> str:
    """Why `input_tokens` + `wanted` output tokens do not fit `window`, by how much, and what
    would make them fit (`floor`: the fewest output tokens worth asking for)."""
    over = input_tokens + wanted - window
    need = (f"needs {input_tokens:,} input + {wanted:,} output tokens, {over:,} more than its "
            f"context window of {window:,}")
    input_over = input_tokens + floor - window
    if input_over <= 0:  # the input fits: max_tokens is what does not
        return f"{need}; lower max_tokens to {window - input_tokens:,} or less"
    fix = f"shorten the input by at least {over:,} tokens"
    if input_over != over:  # max_tokens is part of it
        fix += f", or by {input_over:,} and lower max_tokens"
    return f"{need}; {fix}; or split it across requests"


def missing_keys(decision: Decision) -> str:
    """Why a call cannot be sent when no deployment it may use has a key: which models (all of
    them, or the call's `models=`), the variables that would help, and why a key that is set
    does not (`decision.key_hint`)."""
    keyless = [c.target for c in decision.candidates if not c.target.has_key]  # best first
    names = dict.fromkeys(t.key_env for t in keyless if t.key_env)
    fixes = [f"set {' or '.join(names)}"] if names else []
    fixes += [f"give deployment {t.id!r} an api_key in the config" for t in keyless if not t.key_env]
    which = ("no API key is set for any deployment" if decision.models is None
             else f"no deployment of {' or '.join(decision.models)} has an API key")
    text = f"{which}; {' or '.join(fixes)}"
    text += " (route() works without keys; complete() needs one)"
    return f"{text}. {decision.key_hint}" if decision.key_hint else text
