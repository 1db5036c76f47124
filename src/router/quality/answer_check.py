"""A learned answer check for maths word problems: is the cheap model's answer likely wrong?

A cascade's validators see the answer before paying for a stronger model. The rule validators
(empty, cut off, refusal) almost never fire on a maths answer that is simply wrong; this check
looks at cheap features of the answer and the question (is one clear final number stated, is it a
whole number, do the shown calculations add up, how many of the question's numbers are used,
hedging and self-correction words, length) and a logistic model over them, trained on GSM8K's
train split only (`scripts/cascade_eval.py`). Pure Python; weights in `answer_check.json`.

    from router.quality.answer_check import maths_answer_check
    from router.quality.cascade import CascadeStrategy
    router.complete(messages, strategy=CascadeStrategy([maths_answer_check()]))
    # config file: routing: {strategy: cascade, options: {validators: [maths_answer]}}
"""

from __future__ import annotations

import ast
import functools
import json
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from router.errors import ConfigError
from router.quality.cascade import PASS, Validator, Verdict
from router.types import Completion, Request

__all__ = [
    "ANSWER_FEATURES",
    "AnswerChecker",
    "answer_features",
    "default_answer_checker",
    "maths_answer_check",
]

WEIGHTS_FILE = "answer_check.json"
#: Shown calculations checked per kind (calculator notes, plain text): bounds the time.
MAX_CALCS = 24
FORMAT = 1

ANSWER_FEATURES: tuple[str, ...] = (
    "no_final_marker",  # neither "####", "answer is", "\\boxed" nor "Answer:"
    "final_not_number",  # the final answer line holds no number
    "final_extra_text",  # words after the final number ("90 minutes or 1 hour")
    "final_fraction",  # the final number is not a whole number (GSM8K answers are)
    "final_in_question",  # the final number was given in the question
    "final_not_derived",  # the final number never appears earlier in the answer
    "log_final",  # log10(1 + |final number|)
    "calc_wrong",  # shown calculations ("a * b = c", "<<a*b=c>>") that do not hold
    "calc_any_wrong",
    "calc_rounded",  # "<<8/3=2.666>>2.67": the text rounds the calculator's result
    "log_calcs",
    "question_numbers_unused",  # share of the question's numbers never used in the answer
    "hedges",  # wait, however, actually, approximately, mistake, assume, ...
    "log_answer_chars",
    "log_question_chars",
    "answer_to_question",  # log of the length ratio
    "log_question_numbers",
    "log_answer_numbers",
    "last_lines_numbers",  # distinct numbers in the last two lines
)

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_MARKERS = ("####", "\\boxed", "answer is", "answer:", "final answer")
_HEDGES = ("wait", "however", "actually", "approximat", "mistake", "assum", "let me re",
           "recalculat", "re-calculat", "hmm", "not sure", "unclear", "cannot be determined",
           "roughly", "about")
_CALC = re.compile(r"<<([^<>=]+)=([^<>]+)>>([^\s]*)")
_OPERAND = r"\(?\$?\d[\d,]*(?:\.\d+)?%?\)?"
_TEXT_CALC = re.compile(
    rf"(?<![\w.,$(])((?:{_OPERAND}\s*[-+*/x×÷]\s*)+{_OPERAND})\s*=\s*\$?(-?\d[\d,]*(?:\.\d+)?)"
    r"(?![\d,.]*\d)(?!\s*[-+*/x×÷(%^])"  # a whole number, not the start of the next expression
)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_OPS: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").rstrip("."))
    except ValueError:
        return None


def _numbers(text: str) -> set[float]:
    return {v for t in set(_NUMBER.findall(text)) if (v := _number(t)) is not None}


def _eval(expression: str) -> float | None:
    """The value of a plain arithmetic expression, or None (anything else, or too large)."""
    cleaned = _PERCENT.sub(r"(\1/100)", expression.replace(",", "").replace("$", ""))
    cleaned = cleaned.replace("x", "*").replace("×", "*").replace("÷", "/")
    if len(cleaned) > 200:
        return None
    try:
        tree = ast.parse(cleaned.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 12:
                raise ValueError("power too large")
            return float(_OPS[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return float(_OPS[type(node.op)](walk(node.operand)))
        raise ValueError("not arithmetic")

    try:
        return walk(tree.body)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 0.01 * max(1.0, abs(a), abs(b))


def _final(answer: str) -> tuple[str, float | None]:
    """The final-answer line (after the last marker, else the last non-empty line) and its number."""
    lower = answer.lower()
    at, marker = max((lower.rfind(m), m) for m in _MARKERS)
    if at >= 0:
        line = answer[at + len(marker):].strip().split("\n", 1)[0]
    else:
        lines = [line for line in answer.strip().splitlines() if line.strip()]
        line = lines[-1] if lines else ""
    numbers = _NUMBER.findall(line)
    if not numbers:
        return line, None
    value = _number(numbers[0] if at >= 0 else numbers[-1])
    return line, value


def answer_features(question: str, answer: str) -> list[float]:
    """The `ANSWER_FEATURES` of one answer to one question (cheap: regexes and small sums)."""
    if len(answer) > 2_000:  # read long answers as head + tail (GSM8K's are under 1,300)
        answer = answer[:500] + "\n" + answer[-1_500:]
    question = question[-2_000:]
    lower = answer.lower()
    line, final = _final(answer)
    has_marker = any(m in lower for m in _MARKERS)
    extra = re.sub(r"[-\d,.$%\s]|dollars?|units?|\\boxed|[{}]", "", line, flags=re.IGNORECASE)
    q_numbers = _numbers(question)
    a_numbers = _numbers(answer)
    earlier = _numbers(answer[: answer.rfind(line)]) if line and final is not None else a_numbers
    wrong = checked = rounded = 0
    for expression, result, shown in _CALC.findall(answer)[:MAX_CALCS]:
        value, stated = _eval(expression), _number(result.strip())
        if value is None or stated is None:
            continue
        checked += 1
        wrong += not _close(value, stated)
        written = _number(shown.strip("$.,;:)"))
        rounded += written is not None and written != stated
    for expression, result in _TEXT_CALC.findall(_CALC.sub("", answer))[:MAX_CALCS]:
        value, stated = _eval(expression), _number(result)
        if value is None or stated is None:
            continue
        checked += 1
        wrong += not _close(value, stated)
    lines = [s.strip() for s in answer.splitlines() if s.strip()]
    tail = " ".join(lines[-2:])
    unused = (sum(1 for v in q_numbers if v not in a_numbers) / len(q_numbers)) if q_numbers else 0.0
    return [
        float(not has_marker),
        float(final is None),
        float(len(extra) > 3),
        float(final is not None and not float(final).is_integer()),
        float(final is not None and final in q_numbers),
        float(final is not None and final not in earlier),
        math.log10(1 + abs(final)) if final is not None and math.isfinite(final) else 0.0,
        float(wrong),
        float(wrong > 0),
        float(rounded > 0),
        math.log1p(checked),
        unused,
        float(sum(lower.count(h) for h in _HEDGES)),
        math.log1p(len(answer)),
        math.log1p(len(question)),
        math.log((len(answer) + 1) / (len(question) + 1)),
        math.log1p(len(q_numbers)),
        math.log1p(len(a_numbers)),
        float(len(set(_NUMBER.findall(tail)))),
    ]


@dataclass(frozen=True, slots=True)
class AnswerChecker:
    """Logistic model: P(answer wrong) = sigmoid(intercept + sum(coef * (x - mean) / scale))."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float = 0.5

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnswerChecker:
        if data.get("format") != FORMAT or tuple(data.get("features", ())) != ANSWER_FEATURES:
            raise ConfigError("answer check weights do not match this version's features",
                              path=WEIGHTS_FILE)
        n = len(ANSWER_FEATURES)
        mean, scale, coef = (tuple(float(v) for v in data[k]) for k in ("mean", "scale", "coef"))
        if not len(mean) == len(scale) == len(coef) == n:
            raise ConfigError("answer check weights have the wrong length", path=WEIGHTS_FILE)
        return cls(mean, scale, coef, float(data["intercept"]), float(data["threshold"]))

    def p_wrong(self, question: str, answer: str) -> float:
        z = self.intercept
        for x, m, s, c in zip(answer_features(question, answer), self.mean, self.scale, self.coef,
                              strict=True):
            z += c * (x - m) / s
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


@functools.cache
def default_answer_checker() -> AnswerChecker:
    """The shipped checker (GSM8K train split), loaded once."""
    text = resources.files("router.quality").joinpath(WEIGHTS_FILE).read_text(encoding="utf-8")
    return AnswerChecker.from_json(json.loads(text))


def _question(request: Request) -> str:
    users = [m for m in request.messages if m.role == "user"]
    return users[-1].text if users else ""


def maths_answer_check(
    threshold: float | None = None, *, checker: AnswerChecker | None = None
) -> Validator:
    """A cascade validator: fails (escalates) when P(the answer is wrong) > `threshold`.

    Default threshold: the shipped one, which kept 95% of the strong model's quality on GSM8K's
    train split (out-of-fold). Lower escalates more (more quality, more cost). An answer with no
    digit at all passes: the check is for maths answers, not prose.
    """
    model = checker or default_answer_checker()
    limit = model.threshold if threshold is None else threshold

    def check(completion: Completion, request: Request) -> Verdict:
        text = completion.text
        if not any(ch.isdigit() for ch in text):
            return PASS
        p = model.p_wrong(_question(request), text)
        return Verdict(False, f"maths answer check: P(wrong) {p:.2f} > {limit:.2f}") if p > limit \
            else PASS

    check.__name__ = "maths_answer_check"
    return check

