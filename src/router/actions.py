"""What the call state tells a shell to do next: `Try` a candidate, or `Fail` (stop)."""

from __future__ import annotations

from dataclasses import dataclass

from router.candidates import Candidate
from router.errors import RouterError
from router.providers.base import CallOptions
from router.types import Reply

__all__ = ["Fail", "Try"]


@dataclass(frozen=True, slots=True)
class Try:
    """Call `candidate` after sleeping `wait` seconds."""

    candidate: Candidate
    options: CallOptions
    wait: float = 0.0


@dataclass(frozen=True, slots=True)
class Fail:
    """Stop: raise `error`, or return `reply` when there is one (a cascade's paid answer that its
    check rejected, kept because no stronger model could answer)."""

    error: RouterError
    reply: Reply | None = None

    def result(self) -> Reply:
        """`reply`, else raise `error` (what a shell does with this action)."""
        if self.reply is None:
            raise self.error
        return self.reply
