"""The pure parts of a FrugalGPT-style cascade: answer checks and when to escalate.

Try the cheapest candidate, check its answer with validators (empty, refusal, cut off, JSON schema,
or any callable), and escalate to the next one while the budget still covers the next call's worst
case. The Router's shells carry this out; nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from router.errors import AnswerCheckError, ConfigError
from router.money import format_usd
from router.strategies import Ranking, RouteContext, Strategy, general_quality
from router.types import Completion, FinishReason, Request

if TYPE_CHECKING:
    from router.decision import Candidate

__all__ = [
    "NAMED_VALIDATORS",
    "REFUSAL_PATTERNS",
    "CascadeStrategy",
    "Check",
    "Validator",
    "Verdict",
    "all_of",
    "can_escalate",
    "check_answer",
    "default_validators",
    "finished",
    "matches_schema",
    "named_validator",
    "not_empty",
    "not_refusal",
    "user_check",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""


Validator = Callable[[Completion, Request], Verdict]
#: What a user may pass: returns True/False, a reason string (= failed), None (= passed) or a Verdict.
Check = Callable[[Completion, Request], "bool | str | Verdict | None"]

PASS = Verdict(True)

REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:'|no)t|cannot|am unable|'m unable)",
    r"\bI can(?:'|no)t (?:help|assist|comply|provide|do that)(?! but\b)",
    r"\bI(?:'m| am) (?:not able|unable) to (?:help|assist|comply|provide|answer)",
    r"\bas an AI(?: language model)?,? I (?:can(?:'|no)t|cannot|don't|do not)",
    r"\bI (?:won't|will not) (?:be able to )?(?:help|assist|provide)",
)


def not_empty(*, min_chars: int = 1) -> Validator:
    """Fails an answer with no text (after stripping) and no tool call."""

    def check(completion: Completion, request: Request) -> Verdict:
        if completion.tool_calls or len(completion.text.strip()) >= min_chars:
            return PASS
        return Verdict(False, "empty answer")

    return check


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"})
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")
_APOLOGY = re.compile(r"\W*(?:I(?:'m| am) )?(?:so |very )?(?:sorry|apologies|unfortunately)\b",
                      re.IGNORECASE)


def not_refusal(patterns: Sequence[str] = REFUSAL_PATTERNS, *, head: int = 400) -> Validator:
    """Fails an answer whose first sentence (within `head` characters) is a refusal ("I'm sorry,
    but I can't..."; typographic apostrophes count). A refusal later in an answer ("... I won't
    provide equations here, but ...") is part of an answer, not a refusal."""
    compiled = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)

    def check(completion: Completion, request: Request) -> Verdict:
        text = completion.text.lstrip()[:head].translate(_APOSTROPHES)
        parts = _SENTENCE_END.split(text, maxsplit=2)
        # "I'm sorry. I can't help with that.": an apology opens the refusal that follows it
        opening = " ".join(parts[:2]) if _APOLOGY.match(parts[0]) else parts[0]
        match = compiled.search(opening)
        return Verdict(False, f"refusal: {match.group(0)!r}") if match else PASS

    return check


def finished() -> Validator:
    """Fails an answer cut off by the token limit or a content filter."""

    def check(completion: Completion, request: Request) -> Verdict:
        if completion.finish_reason in (FinishReason.LENGTH, FinishReason.CONTENT_FILTER):
            return Verdict(False, f"stopped early ({completion.finish_reason.value})")
        return PASS

    return check


def _schema_errors(value: Any, schema: Mapping[str, Any], path: str = "$") -> Iterable[str]:
    """A small JSON-schema subset (type, required, properties, items, enum) for when
    `jsonschema` is not installed."""
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    expected = schema.get("type")
    kind = expected if isinstance(expected, str) else None
    if kind in ("integer", "number"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and kind == "integer" and isinstance(value, float) and not value.is_integer():
            ok = False
        if not ok:
            yield f"{path}: expected {kind}"
            return
    elif kind in kinds and not isinstance(value, kinds[kind]):
        yield f"{path}: expected {kind}"
        return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: not one of {schema['enum']}"
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                yield f"{path}: missing {key!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                yield from _schema_errors(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            yield from _schema_errors(item, schema["items"], f"{path}[{i}]")


def matches_schema(schema: Mapping[str, Any] | None = None) -> Validator:
    """Fails an answer that is not JSON or does not match `schema` (default: the request's
    `response_format` schema). Uses `jsonschema` when installed, else a common subset."""

    def check(completion: Completion, request: Request) -> Verdict:
        wanted = schema
        if wanted is None and request.response_format is not None:
            wanted = request.response_format.schema
        if wanted is None and request.response_format is None:
            return PASS
        try:
            value = json.loads(completion.text)
        except json.JSONDecodeError as exc:
            return Verdict(False, f"not JSON: {exc.msg} at column {exc.colno}")
        if wanted is None:
            return PASS
        try:
            import jsonschema  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            errors = list(_schema_errors(value, wanted))
        else:
            errors = [
                f"$.{'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in jsonschema.Draft202012Validator(dict(wanted)).iter_errors(value)
            ]
        return Verdict(False, f"schema: {errors[0]}") if errors else PASS

    return check


def user_check(fn: Check, *, name: str = "") -> Validator:
    """Wrap a user callable: True/None pass, False or a string (the reason) fail.

    A check that raises becomes `AnswerCheckError` (its exception chained), carrying the answer's
    text: that answer was paid for, so the shell adds the cost and the decision and re-raises.
    """
    label = name or getattr(fn, "__name__", "check")

    def check(completion: Completion, request: Request) -> Verdict:
        try:
            result = fn(completion, request)
        except AnswerCheckError:
            raise
        except Exception as exc:
            raise AnswerCheckError(
                f"answer check {label!r} raised {type(exc).__name__}: {exc} (the answer was "
                "paid for; it is in .text)",
                check=label, text=completion.text,
            ) from exc
        if isinstance(result, Verdict):
            return result
        if result is None or result is True:
            return PASS
        if isinstance(result, str):
            return Verdict(False, f"{label}: {result}")
        return Verdict(False, f"{label} failed")

    return check


def all_of(*validators: Validator) -> Validator:
    """Passes when every validator passes; the first failure is the verdict."""

    def check(completion: Completion, request: Request) -> Verdict:
        for validator in validators:
            verdict = validator(completion, request)
            if not verdict.ok:
                return verdict
        return PASS

    return check


def default_validators() -> tuple[Validator, ...]:
    """Empty, cut off, refusal and (for structured output) schema checks."""
    return (not_empty(), finished(), not_refusal(), matches_schema())


def _maths_answer() -> Validator:
    from router.quality.answer_check import maths_answer_check  # lazy: loads its weights

    return maths_answer_check()


#: Validators by name, for `routing.options.validators` in a config file.
NAMED_VALIDATORS: dict[str, Callable[[], Validator]] = {
    "not_empty": not_empty,
    "finished": finished,
    "not_refusal": not_refusal,
    "matches_schema": matches_schema,
    "maths_answer": _maths_answer,
}


def named_validator(name: str) -> Validator:
    """A built-in validator by name (default settings): one of `NAMED_VALIDATORS`."""
    try:
        return NAMED_VALIDATORS[name]()
    except KeyError:
        raise ValueError(
            f"unknown validator {name!r}; use one of {', '.join(NAMED_VALIDATORS)}"
        ) from None


def check_answer(
    completion: Completion, request: Request, validators: Sequence[Validator] | None = None
) -> Verdict:
    """Run the validators (default: `default_validators()`) over one answer."""
    return all_of(*(default_validators() if validators is None else validators))(
        completion, request
    )


def can_escalate(
    spent: Decimal, next_worst_case: Decimal, budget: Decimal | None
) -> tuple[bool, str]:
    """Whether the cascade may make its next call: the budget bounds the sum of every call."""
    if budget is None or spent + next_worst_case <= budget:
        return True, ""
    return False, (
        f"escalation would need up to {format_usd(next_worst_case)} more after "
        f"{format_usd(spent)} spent, over the budget of {format_usd(budget)}"
    )


class CascadeStrategy(Strategy):
    """`strategy="cascade"`: cheapest first; an answer the validators reject is paid for and the
    request escalates to the next stronger model, while the budget covers that call's worst case.

    `validators`: checks of `(completion, request)` returning a `Verdict`, plain callables
    returning True/False, a reason string or None, or built-in names (`NAMED_VALIDATORS`, e.g.
    "maths_answer", the learned maths check); default: empty, cut off, refusal, schema.
    Needs the whole answer before it can escalate, so it serves `complete()`, not `stream()`.
    """

    name = "cascade"

    def __init__(self, validators: Sequence[Check | str] | None = None):
        where = "routing.options.validators"
        if validators is not None and (isinstance(validators, str | bytes)
                                       or not isinstance(validators, Sequence)):
            raise ConfigError(f"expected a list of checks, e.g. [{', '.join(NAMED_VALIDATORS)}]",
                              path=where)
        try:
            chosen = default_validators() if validators is None else tuple(
                named_validator(v) if isinstance(v, str) else v for v in validators)
        except ValueError as exc:
            raise ConfigError(str(exc), path=where) from None
        bad = [v for v in chosen if not callable(v)]
        if bad:
            raise ConfigError(f"{bad[0]!r} is not a check: pass a name or a callable "
                              "(completion, request) -> bool | str | None", path=where)
        if not chosen:
            raise ConfigError("a cascade needs at least one validator", path=where)
        # user_check passes a Verdict through, so built-in validators wrap harmlessly.
        self.validators: tuple[Validator, ...] = tuple(user_check(v) for v in chosen)

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> Ranking:
        order = sorted(candidates, key=lambda c: (c.estimated_cost, -general_quality(c.spec)))
        return Ranking(tuple(order), notes=(
            f"cascade: {len(self.validators)} answer check(s); a rejected answer escalates to a "
            "stronger model within the budget",))

    def __repr__(self) -> str:
        return f"CascadeStrategy({len(self.validators)} validators)"
