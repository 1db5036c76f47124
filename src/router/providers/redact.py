"""Masks the credentials an HTTP stack may echo in an exception's text, before that text becomes
part of a router error, a decision or a log line (kept here for the adapters; the code lives in
`router.redaction`)."""

from __future__ import annotations

from router.redaction import redact, scrub

__all__ = ["redact", "scrub"]
