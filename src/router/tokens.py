"""Count a request's input tokens with each model's own tokenizer, offline and lazily loaded.

o200k_base/cl100k_base come from `bpe-openai`, Tekken (Mistral NeMo) from `mistral-common`: both
ship their files, so nothing is downloaded. Without them (the `router[tokenizers]` extra) the count
falls back to UTF-8 bytes, which no byte-level BPE exceeds, so budgets still hold.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from router.types import ImagePart, Request

if TYPE_CHECKING:
    from router.catalog import ImageTokens, ModelSpec

__all__ = [
    "BYTES",
    "UNKNOWN_IMAGE_TILES",
    "RequestTokens",
    "count_tokens",
    "exact_tokenizer_available",
    "image_tokens",
]

# Chat framing: OpenAI documents 3 tokens per message + 3 to prime the reply (+1 per name);
# Tekken wraps turns in [INST]/[/INST] and a BOS. 4 per message + 3 covers both from above.
PER_MESSAGE = 4
PER_REQUEST = 3
PER_TOOL = 12  # function-definition framing around a tool's JSON

#: Tiles assumed for an image of unknown size (a remote URL, which the router does not fetch):
#: the most any image can need after scaling (fit into 2048x2048, short side to 768 -> 2048x768,
#: 4 x 2 tiles of 512 px), so that the worst case stays a bound. That is 48,169 tokens on
#: gpt-4o-mini. Send a data URL, or an `ImagePart` with width and height, to be priced by the real
#: size (docs: Catalog > Images).
UNKNOWN_IMAGE_TILES = 8

# bpe-openai refuses >= 1M characters or > 200k tokens in one call; 50k characters is at most
# 200k UTF-8 bytes, hence at most 200k tokens.
_CHUNK_CHARS = 50_000

#: The tokenizer that counts UTF-8 bytes: what a catalog entry may name on purpose, and what
#: every other tokenizer falls back to when its package is not installed.
BYTES = "bytes"

log = logging.getLogger("router")
_lock = threading.Lock()
_encoders: dict[str, Callable[[str], int] | None] = {}


def _missing(name: str, package: str) -> None:
    # Once per tokenizer per process (the result is cached): loud enough to be noticed, since
    # every estimate is then too high and a tight budget may refuse what would have fitted.
    log.warning(
        "%s is not installed: %s tokens are counted as UTF-8 bytes, an upper bound (estimates "
        "run high, e.g. 40 tokens for 14). Install the tokenizers extra for exact counts: "
        "pip install 'router[tokenizers]'", package, name,
    )


def _load(name: str) -> Callable[[str], int] | None:
    if name in ("o200k_base", "cl100k_base"):
        try:
            import bpe_openai
        except ImportError:
            _missing(name, "bpe-openai")
            return None
        encoding = bpe_openai.get_encoding(name)
        return lambda text: len(encoding.encode_ordinary(text))
    if name == "tekken":
        try:
            from importlib import resources

            from mistral_common.tokens.tokenizers.tekken import Tekkenizer
        except ImportError:
            _missing(name, "mistral-common")
            return None
        path = resources.files("mistral_common").joinpath("data", "tekken_240718.json")
        tekken = Tekkenizer.from_file(str(path))
        return lambda text: len(tekken.encode(text, bos=False, eos=False))
    return None


def _encoder(name: str) -> Callable[[str], int] | None:
    try:
        return _encoders[name]
    except KeyError:
        pass
    with _lock:  # Tekken takes ~1 s to load: load it once even under concurrency
        if name not in _encoders:
            _encoders[name] = _load(name)
        return _encoders[name]


def exact_tokenizer_available(name: str) -> bool:
    """Whether `name` is counted exactly (else by the UTF-8 byte upper bound)."""
    return _encoder(name) is not None


def count_tokens(text: str, tokenizer: str) -> int:
    """Tokens of plain `text` (no chat framing) with `tokenizer`; bytes when it is not installed."""
    if not text:
        return 0
    encode = _encoder(tokenizer)
    if encode is None:
        return len(text.encode("utf-8"))
    if len(text) <= _CHUNK_CHARS:
        return encode(text)
    total, start = 0, 0
    while start < len(text):
        end = min(start + _CHUNK_CHARS, len(text))
        if end < len(text):  # cut at whitespace so no token straddles a boundary
            cut = text.rfind(" ", start + _CHUNK_CHARS // 2, end)
            end = cut if cut > start else end
        total += encode(text[start:end])
        start = end
    return total


def image_tokens(image: ImagePart, rule: ImageTokens) -> int:
    """Billed tokens of one image under OpenAI's tile rule; `auto` detail is priced as `high`.

    An image without a size (a remote URL; data URLs and `ImagePart(width=, height=)` have one)
    is priced at `UNKNOWN_IMAGE_TILES`, the most tiles any image can need: an upper bound, so a
    small remote photo can cost far less than its estimate."""
    if image.detail == "low":
        return rule.low_detail
    if image.width is None or image.height is None:
        tiles = UNKNOWN_IMAGE_TILES
    else:
        w, h = float(image.width), float(image.height)
        if max(w, h) > 2048:
            w, h = w * 2048 / max(w, h), h * 2048 / max(w, h)
        if min(w, h) > 768:
            w, h = w * 768 / min(w, h), h * 768 / min(w, h)
        tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return rule.base + rule.per_tile * tiles


class RequestTokens:
    """Input-token estimates of one request, counted once per tokenizer and shared by all candidates.

    `byte_bound` lists the tokenizers that were not installed and so counted UTF-8 bytes instead."""

    __slots__ = ("_by_tokenizer", "_images", "_text", "byte_bound", "request")

    def __init__(self, request: Request):
        self.request = request
        self.byte_bound: list[str] = []
        self._by_tokenizer: dict[str, int] = {}
        self._text: str | None = None
        self._images = [p for m in request.messages for p in m.parts if isinstance(p, ImagePart)]

    def _joined_text(self) -> str:
        if self._text is None:
            pieces: list[str] = []
            for m in self.request.messages:
                pieces.append(m.text)
                if m.name:
                    pieces.append(m.name)
                for call in m.tool_calls:
                    pieces.append(call.name)
                    pieces.append(json.dumps(call.arguments, ensure_ascii=False))
            for tool in self.request.tools:
                pieces.append(
                    json.dumps(
                        {"name": tool.name, "description": tool.description,
                         "parameters": tool.parameters},
                        ensure_ascii=False,
                    )
                )
            fmt = self.request.response_format
            if fmt is not None and fmt.schema is not None:
                pieces.append(json.dumps(fmt.schema, ensure_ascii=False))
            self._text = "\n".join(pieces)
        return self._text

    def text_tokens(self, tokenizer: str) -> int:
        """Text, tool and schema tokens plus chat framing, for one tokenizer (cached)."""
        count = self._by_tokenizer.get(tokenizer)
        if count is None:
            request = self.request
            count = count_tokens(self._joined_text(), tokenizer)
            if tokenizer != BYTES and not exact_tokenizer_available(tokenizer):
                self.byte_bound.append(tokenizer)
            count += PER_REQUEST + PER_MESSAGE * len(request.messages)
            count += PER_TOOL * len(request.tools) + sum(
                PER_MESSAGE for m in request.messages for _ in m.tool_calls
            )
            self._by_tokenizer[tokenizer] = count
        return count

    def for_model(self, spec: ModelSpec) -> int:
        """All input tokens `spec` would bill for this request, images included."""
        total = self.text_tokens(spec.tokenizer)
        if self._images and spec.image_tokens is not None:
            total += sum(image_tokens(img, spec.image_tokens) for img in self._images)
        return total
