"""Keeps credentials out of everything the router shows: reprs, dumps, errors, decisions, logs.

`redact` masks the shapes in which an HTTP stack or a provider echoes a credential (a bearer
token, a URL's userinfo); `scrub` also removes known secret values in any form they come back in.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "basic_credentials",
    "is_secret_name",
    "mask_headers",
    "mask_url",
    "redact",
    "scrub",
    "scrub_exception",
    "secret_forms",
]

MASK = "***"

# A refused header's value (h11: "Illegal header value b'Bearer sk-...'"), a bearer or basic
# token, a URL's userinfo.
_ECHOED_SECRETS = (
    (re.compile(r"(header value:? )b?('(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\")", re.I), r"\1'***'"),
    (re.compile(r"\b(Bearer|Basic) +[^\s'\"]+", re.I), r"\1 ***"),
    (re.compile(r"(//)[^/@\s'\"]+@"), r"\1***@"),
)
# Header and query parameter names whose values are credentials (Authorization, api-key,
# x-api-key, Cookie, ?key=, ?sig=...).
_SECRET_NAME = re.compile(r"auth|key|token|secret|passw|cookie|session|sig", re.I)
# Shorter values are not scrubbed by value: replacing every "k" of a message would garble it, and
# the shapes `redact` knows still hide them where a provider echoes them.
_MIN_SCRUBBED = 6


def redact(text: str) -> str:
    """`text` with any credential an HTTP stack echoed masked."""
    for pattern, mask in _ECHOED_SECRETS:
        text = pattern.sub(mask, text)
    return text


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter called `name` carries a credential."""
    return bool(_SECRET_NAME.search(name))


def mask_url(url: str) -> str:
    """`url` with its userinfo and credential-like query values replaced by `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query and any(is_secret_name(name) for name, _ in parse_qsl(query, keep_blank_values=True)):
        query = urlencode([(name, MASK if is_secret_name(name) else value)
                           for name, value in parse_qsl(query, keep_blank_values=True)], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` with the values of credential headers replaced by `***`."""
    return {name: MASK if is_secret_name(name) else value for name, value in headers.items()}


def basic_credentials(userinfo: str) -> tuple[str, str]:
    """`user:pass` (as written in a URL, percent-encoded) -> (user, password)."""
    user, _, password = userinfo.partition(":")
    return unquote(user), unquote(password)


def secret_forms(value: str, *, userinfo: bool = False) -> tuple[str, ...]:
    """The forms in which a credential can come back in a message: itself, and for a URL's
    `user:password` the password alone and the base64 of the HTTP Basic header."""
    if not userinfo:
        return (value,)
    user, password = basic_credentials(value)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return (value, f"{user}:{password}", password, basic)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`redact(text)`, with every one of `secrets` (long enough to be told apart) masked too."""
    for secret in sorted(secrets, key=len, reverse=True):  # `user:pw` before `pw`
        if len(secret) >= _MIN_SCRUBBED and secret in text:
            text = text.replace(secret, MASK)
    return redact(text)


def scrub_exception(exc: BaseException, clean: Callable[[str], str]) -> None:
    """Pass the text of `exc` and of the exceptions chained under it (an SDK's error quotes the
    response body, which may echo the key) through `clean`, in place: a traceback prints them."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.args and isinstance(current.args[0], str):
            current.args = (clean(current.args[0]), *current.args[1:])
        for name in ("message", "body"):  # openai and mistralai keep the text here too
            value = getattr(current, name, None)
            if value is not None:
                # A read-only property keeps its text (none of the SDKs' are).
                with contextlib.suppress(AttributeError, TypeError):
                    object.__setattr__(current, name, _clean_value(value, clean))
        current = current.__cause__ or current.__context__


def _clean_value(value: Any, clean: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: _clean_value(v, clean) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_value(v, clean) for v in value]
    return value
