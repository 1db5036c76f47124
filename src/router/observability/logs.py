"""A hook that writes one standard `logging` line per call, without prompt text unless asked.

Each record carries `extra={"router": {...}}` for structured (JSON) formatters.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from router.money import format_usd, plain_usd
from router.observability.hooks import CallInfo, Hook

if TYPE_CHECKING:
    from router.decision import Decision
    from router.types import Reply

__all__ = ["LoggingHook"]

PROMPT_PREVIEW_CHARS = 200


class LoggingHook(Hook):
    """Decisions at DEBUG, replies at `level` (INFO), errors at WARNING, on the `router` logger.

    `include_prompt=True` adds the last message's first 200 characters at DEBUG; off by default,
    because prompts hold what users typed.
    """

    def __init__(self, logger: logging.Logger | None = None, *, level: int = logging.INFO,
                 include_prompt: bool = False):
        self.logger = logger or logging.getLogger("router")
        self.level = level
        self.include_prompt = include_prompt

    def on_decision(self, call: CallInfo, decision: Decision) -> None:
        if not self.logger.isEnabledFor(logging.DEBUG):
            return
        chosen = decision.chosen
        fields: dict[str, Any] = {"call": call.id, "strategy": decision.strategy,
                                  "deployment": decision.deployment,
                                  "candidates": [c.deployment for c in decision.candidates]}
        self.logger.debug("call %s routed to %s (%s, %d candidates)", call.id,
                          chosen.deployment if chosen else "nothing", decision.strategy,
                          len(decision.candidates), extra={"router": fields})
        if self.include_prompt and call.request.messages:
            text = call.request.messages[-1].text[:PROMPT_PREVIEW_CHARS]
            self.logger.debug("call %s prompt: %r", call.id, text, extra={"router": fields})

    def on_reply(self, call: CallInfo, reply: Reply) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        attempts = len(reply.decision.attempts)
        fields = {
            "call": call.id, "model": reply.model, "deployment": reply.deployment,
            "cost_usd": plain_usd(reply.cost), "input_tokens": reply.usage.input_tokens,
            "output_tokens": reply.usage.output_tokens,
            "cached_input_tokens": reply.usage.cached_input_tokens,
            "latency_s": round(call.elapsed(), 4), "attempts": attempts,
            "finish_reason": reply.finish_reason.value, "stream": call.stream,
        }
        self.logger.log(
            self.level,
            "call %s ok: %s via %s, %d in / %d out tokens, cost %s, %.3fs, %d attempt%s",
            call.id, reply.model, reply.deployment, reply.usage.input_tokens,
            reply.usage.output_tokens, format_usd(reply.cost), call.elapsed(), attempts,
            "" if attempts == 1 else "s", extra={"router": fields},
        )

    def on_error(self, call: CallInfo, error: BaseException) -> None:
        chosen = call.decision.chosen
        fields = {"call": call.id, "error": type(error).__name__,
                  "deployment": chosen.deployment if chosen else None,
                  "latency_s": round(call.elapsed(), 4), "stream": call.stream}
        self.logger.warning("call %s failed: %s: %s", call.id, type(error).__name__, error,
                            extra={"router": fields})
