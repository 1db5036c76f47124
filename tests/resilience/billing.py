"""What each request the fake provider served should cost, worked out from the server's side alone:
the request it logged, the fault it applied, and the answer it planned (its usage and its text).

Nothing here asks the router what it billed: the fault matrix compares the ledger with this.
"""

from __future__ import annotations

from decimal import Decimal

from router.testing import (
    Fault,
    HttpError,
    MalformedJSON,
    MidStreamError,
    NoFinishReason,
    Ok,
    RecordedRequest,
    Reset,
    StreamCut,
)
from router.testing.faults import fault_kind
from router.testing.replies import plan_reply
from router.tokens import count_tokens

# List prices, USD per 1M tokens (input, output): docs/FACTS, not the router's catalog.
PRICES = {"gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
          "mistral-nemo": (Decimal("0.15"), Decimal("0.15"))}
TOKENIZERS = {"gpt-4o-mini": "o200k_base", "mistral-nemo": "tekken"}
OUTPUT_TOKENS = 8  # the fake provider's default answer length


def _cost(model: str, input_tokens: int, output_tokens: int) -> Decimal:
    price_in, price_out = PRICES[model]
    return (input_tokens * price_in + output_tokens * price_out) / 1_000_000


def served_bill(request: RecordedRequest, fault: Fault, *, model: str, flavor: str,
                attempt_timeout: float, estimated_input: int) -> Decimal:
    """What `request`, answered with `fault`, cost the caller: the usage the server reported, or,
    for a stream cut short before its usage, the input estimate plus the text that arrived (at
    most the max_tokens it sent).
    Nothing for a request whose answer never reached the client or carried no tokens."""
    assert request.outcome.split(":")[0] == fault_kind(fault), (request.outcome, fault)
    if fault.delay > attempt_timeout or isinstance(fault, HttpError | Reset | MalformedJSON):
        return Decimal(0)
    plan = plan_reply(request.body, fault if isinstance(fault, Ok) else Ok(),
                      output_tokens=OUTPUT_TOKENS, cached_tokens=0, call_id="c")
    reported = _cost(model, plan.prompt_tokens, plan.completion_tokens)
    if isinstance(fault, Ok):
        return reported
    if not request.stream:  # a whole body with usage, or a cut / error body without any
        return reported if isinstance(fault, NoFinishReason) else Decimal(0)
    if isinstance(fault, NoFinishReason):
        if flavor == "openai":  # its usage chunk still came
            return reported
        sent = plan.pieces
    else:
        assert isinstance(fault, StreamCut | MidStreamError)
        sent = plan.pieces[: fault.after_tokens]
    text = "".join(sent)
    if not text:
        return Decimal(0)
    cap = request.body.get("max_completion_tokens") or request.body.get("max_tokens")
    counted = count_tokens(text, TOKENIZERS[model])  # never more than the max_tokens sent
    return _cost(model, estimated_input, counted if cap is None else min(counted, cap))
