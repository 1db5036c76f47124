"""Token counting for replay: `router.tokens` when present, else the offline tokenizers directly.

A stop-gap until `router.tokens.count_tokens` lands in main; byte count is the last resort.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["count_tokens"]

_CHUNK = 200_000  # bpe-openai refuses 1M characters in one call


@functools.cache
def _counter(tokenizer: str) -> Callable[[str], int]:
    try:
        from router.tokens import count_tokens as core  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        return lambda text: int(core(text, tokenizer))
    if tokenizer in ("o200k_base", "cl100k_base"):
        try:
            import bpe_openai
        except ImportError:
            return _bytes
        encoding = bpe_openai.get_encoding(tokenizer)

        def count(text: str) -> int:
            return sum(
                len(encoding.encode_ordinary(text[i : i + _CHUNK]))
                for i in range(0, len(text), _CHUNK)
            )

        return count
    if tokenizer == "tekken":
        try:
            from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
        except ImportError:
            return _bytes
        inner = MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer

        def count_tekken(text: str) -> int:
            return len(inner.encode(text, bos=False, eos=False))

        return count_tekken
    return _bytes


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def count_tokens(text: str, tokenizer: str) -> int:
    """Tokens of `text` under `tokenizer` ("o200k_base", "tekken"...); UTF-8 bytes if unknown."""
    return _counter(tokenizer)(text) if text else 0
