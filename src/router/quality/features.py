"""Cheap features of a chat request for the quality predictor: pure Python, tens of microseconds.

Dense features (length, digits, maths, code, question words, script, multiple choice, turns,
images) plus a hashed bag of words. Hashing uses CRC32, so features are stable across processes.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from router.types import Message

__all__ = ["DENSE_FEATURES", "FAMILIES", "Features", "extract", "family", "hashed_words"]

_WORD = re.compile(r"[a-z]{2,}")
_DIGIT = re.compile(r"\d")
#: Longer texts are read as their head and tail, counts scaled up: the cost stays bounded.
_HEAD, _TAIL = 1500, 500
_DIGITS = re.compile(r"\d+(?:[.,]\d+)?")
# Substring counts (str.count runs in C) are ten times cheaper than one regex alternation.
_MATH = ("=", "+", "*", "/", "^", "<", ">", "%", "√", "∑", "∫", "≤", "≥", "≠", "±", "×", "÷",
         "\\frac", "\\sqrt")
_CODE = ("```", "def ", "class ", "return ", "import ", "#include", "function", "=>", "public ",
         "SELECT ", "console.", "print(", "void ", "{\n", "}\n", ";\n", "    ")
_CHOICE = re.compile(r"^\s*\(?[A-D][.)]\s", re.MULTILINE)
_ANSWER_CUE = re.compile(r"(?:Answer|Answer:)\s*$")
_NON_ASCII_LETTER = re.compile(r"[^\x00-\x7f]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_CYRILLIC_ETC = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff]")
_MONEY_UNITS = re.compile(r"\$\d|\d+\s*(?:%|percent|dollars?|cents?|hours?|minutes?|miles?|km|kg)\b")

_WORD_GROUPS: dict[str, frozenset[str]] = {
    "q_how_many": frozenset({"many", "much", "total", "each", "per", "remaining", "left"}),
    "q_why_explain": frozenset({"why", "explain", "describe", "discuss", "analyze", "compare"}),
    "q_write": frozenset(
        {"write", "compose", "draft", "story", "poem", "email", "blog", "essay", "letter"}
    ),
    "q_roleplay": frozenset({"imagine", "pretend", "roleplay", "role", "act", "character"}),
    "q_math": frozenset(
        {"solve", "calculate", "compute", "equation", "probability", "integer", "prime",
         "sum", "product", "derivative", "integral", "function", "value", "area", "triangle"}
    ),
    "q_code": frozenset(
        {"code", "program", "python", "javascript", "algorithm", "implement", "bug", "sql",
         "array", "string", "regex", "complexity"}
    ),
    "q_reason": frozenset({"if", "then", "therefore", "assume", "suppose", "true", "false", "not"}),
    "q_extract": frozenset({"extract", "summarize", "summarise", "list", "json", "format", "table"}),
    "q_moral_law": frozenset({"law", "court", "legal", "moral", "wrong", "ethical", "defendant"}),
}

DENSE_FEATURES: tuple[str, ...] = (
    "bias",
    "log_chars",
    "log_words",
    "log_lines",
    "avg_word_len",
    "digit_share",
    "log_numbers",
    "log_math",
    "log_code",
    "choices",
    "answer_cue",
    "money_units",
    "question_marks",
    "non_ascii_share",
    "cjk_share",
    "other_script_share",
    "turns",
    "has_system",
    "images",
    "tools",
    "json_output",
    *_WORD_GROUPS,
)


@dataclass(frozen=True, slots=True)
class Features:
    dense: tuple[float, ...]
    words: tuple[int, ...]


def hashed_words(words: Sequence[str], buckets: int) -> tuple[int, ...]:
    """Distinct CRC32 buckets of the words, sorted."""
    return tuple(sorted({zlib.crc32(w.encode()) % buckets for w in words}))


def extract(
    messages: Sequence[Message],
    *,
    buckets: int = 0,
    tools: int = 0,
    json_output: bool = False,
) -> Features:
    """Features of a request; the last user message carries most of the signal."""
    user = [m for m in messages if m.role == "user"]
    full = user[-1].text if user else (messages[-1].text if messages else "")
    n_chars = len(full)
    text = full if n_chars <= _HEAD + _TAIL else full[:_HEAD] + "\n" + full[-_TAIL:]
    scale = n_chars / max(1, len(text))
    lowered = text.lower()
    words = _WORD.findall(lowered)
    n_words = len(words)
    wordset = set(words)
    letters = max(1, len(text))
    dense = [
        1.0,
        math.log1p(n_chars),
        math.log1p(n_words * scale),
        math.log1p(full.count("\n")),
        (sum(map(len, words)) / n_words) if n_words else 0.0,
        len(_DIGIT.findall(text)) / letters,
        math.log1p(len(_DIGITS.findall(text)) * scale),
        math.log1p(sum(map(text.count, _MATH)) * scale),
        math.log1p(sum(map(text.count, _CODE)) * scale),
        min(len(_CHOICE.findall(text)), 6) / 4,
        1.0 if _ANSWER_CUE.search(text[-20:]) else 0.0,
        math.log1p(len(_MONEY_UNITS.findall(lowered)) * scale),
        math.log1p(full.count("?")),
        len(_NON_ASCII_LETTER.findall(text)) / letters,
        len(_CJK.findall(text)) / letters,
        len(_CYRILLIC_ETC.findall(text)) / letters,
        math.log1p(max(0, len(user) - 1)),
        1.0 if any(m.role == "system" for m in messages) else 0.0,
        math.log1p(sum(len(m.images) for m in messages)),
        math.log1p(tools),
        1.0 if json_output else 0.0,
    ]
    dense += [1.0 if wordset & group else 0.0 for group in _WORD_GROUPS.values()]
    return Features(tuple(dense), hashed_words(list(wordset), buckets) if buckets else ())


#: Request families with their own predictor head: multiple choice, maths word problems, open-ended.
FAMILIES: tuple[str, ...] = ("mc", "maths", "open")
_AT = {name: i for i, name in enumerate(DENSE_FEATURES)}


def family(features: Features, task: str) -> str:
    """"mc" (A-D choices), "maths" (two or more numbers, not writing or code), else "open"."""
    f = features.dense
    if f[_AT["choices"]] >= 0.75:
        return "mc"
    if task in ("writing", "code", "multilingual", "image"):
        return "open"
    if f[_AT["log_numbers"]] >= 1.09:  # at least two numbers
        return "maths"
    return "open"
