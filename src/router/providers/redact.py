"""Masks the credentials an HTTP stack may echo in an exception's text, before that text becomes
part of a router error, a decision or a log line."""

from __future__ import annotations

import re

__all__ = ["redact"]

# A refused header's value (h11: "Illegal header value b'Bearer sk-...'"), a bearer or basic
# token, a URL's userinfo.
_ECHOED_SECRETS = (
    (re.compile(r"(header value:? )b?('(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\")", re.I), r"\1'***'"),
    (re.compile(r"\b(Bearer|Basic) +[^\s'\"]+", re.I), r"\1 ***"),
    (re.compile(r"(//)[^/@\s'\"]+@"), r"\1***@"),
)


def redact(text: str) -> str:
    """`text` with any credential an HTTP stack echoed masked."""
    for pattern, mask in _ECHOED_SECRETS:
        text = pattern.sub(mask, text)
    return text
