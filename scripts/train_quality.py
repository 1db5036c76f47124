"""Train the quality predictor's weights from RouteLLM's data (train splits only) and write JSON.

    PYTHONPATH=src python scripts/train_quality.py --data ../shared/data/routellm \
        --out src/router/quality/weights.json

Needs numpy (training only; the shipped predictor is pure Python). Hyper-parameters are chosen by
5-fold cross-validation grouped like the split (MMLU by subject, others by question) inside the
train split; the test split is never read here. Same data, same weights: no randomness.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from routellm_traces import DATASETS, STRONG, WEAK, convert

from router.quality.features import DENSE_FEATURES, extract
from router.quality.traces import Trace, parse_trace

__all__ = ["Dataset", "fit_logistic", "load", "main"]

BUCKETS = (0, 512)
L2 = (1.0, 10.0, 100.0)
FOLDS = 5


class Dataset:
    def __init__(self, name: str, traces: Sequence[Trace], groups: Sequence[str], buckets: int):
        self.name = name
        self.traces = list(traces)
        self.groups = np.array(groups)
        feats = [extract(t.messages, buckets=buckets) for t in traces]
        self.dense = np.array([f.dense for f in feats], dtype=float)
        self.words = np.zeros((len(feats), max(buckets, 1)), dtype=float)
        for i, f in enumerate(feats):
            self.words[i, list(f.words)] = 1.0
        strong = np.array([t.outcomes[STRONG].score for t in traces])
        weak = np.array([t.outcomes[WEAK].score for t in traces])
        self.y = (strong > weak).astype(float)


def load(root: Path, buckets: int) -> list[Dataset]:
    out = []
    for name in DATASETS:
        rows = convert(root, name, split="train")
        traces = [parse_trace(json.dumps(r), line=i + 1) for i, r in enumerate(rows)]
        out.append(Dataset(name, traces, [r["meta"]["group"] for r in rows], buckets))
    return out


def fit_logistic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, *, iters: int = 30
) -> np.ndarray:
    """Weighted L2 logistic regression by Newton's method; column 0 (the bias) is not penalised."""
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = x.T @ (w * (p - y)) + penalty * beta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return beta


def _design(sets: Sequence[Dataset], idx: Sequence[np.ndarray], buckets: int) -> tuple[
    np.ndarray, np.ndarray, np.ndarray
]:
    dense = np.vstack([d.dense[i] for d, i in zip(sets, idx, strict=True)])
    words = np.vstack([d.words[i] for d, i in zip(sets, idx, strict=True)])
    y = np.concatenate([d.y[i] for d, i in zip(sets, idx, strict=True)])
    # A dataset weighs as the square root of its size: MMLU does not drown the others, and the
    # 40 MT-Bench questions do not each count as much as 160 MMLU ones.
    w = np.concatenate([np.full(len(i), 1.0 / np.sqrt(max(len(i), 1))) for i in idx])
    w *= len(y) / w.sum()
    return np.hstack([dense, words[:, :buckets]]) if buckets else dense, y, w


def _standardise(x: np.ndarray, dense: int) -> tuple[np.ndarray, np.ndarray]:
    mean = x[:, :dense].mean(0)
    scale = x[:, :dense].std(0)
    mean[0], scale[0] = 0.0, 1.0
    scale[scale == 0] = 1.0
    return mean, scale


def train(sets: Sequence[Dataset], idx: Sequence[np.ndarray], buckets: int, l2: float) -> dict[
    str, Any
]:
    x, y, w = _design(sets, idx, buckets)
    n_dense = len(DENSE_FEATURES)
    mean, scale = _standardise(x, n_dense)
    x = x.copy()
    x[:, :n_dense] = (x[:, :n_dense] - mean) / scale
    beta = fit_logistic(x, y, w, l2)
    p = 1.0 / (1.0 + np.exp(-(x @ beta)))
    words = {str(b): round(float(v), 5) for b, v in enumerate(beta[n_dense:]) if abs(v) > 1e-4}
    return {
        "dense": list(DENSE_FEATURES),
        "buckets": buckets,
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 6) for v in beta[:n_dense]],
        "words": words,
        "base_rate": round(float(np.average(p, weights=w)), 6),
    }


def _folds(groups: np.ndarray) -> list[np.ndarray]:
    """Deterministic group folds: groups sorted by name, dealt round-robin."""
    names = sorted(set(groups.tolist()))
    fold_of = {g: i % FOLDS for i, g in enumerate(names)}
    labels = np.array([fold_of[g] for g in groups])
    return [np.where(labels == k)[0] for k in range(FOLDS)]


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def cross_validate(root: Path) -> tuple[int, float, dict[str, Any]]:
    """Pick (buckets, l2) by AUC within held-out folds, averaged over folds and datasets.

    AUC over pooled out-of-fold predictions would be biased low with group folds: each fold's
    model shifts its intercept against the held-out groups' base rate.
    """
    best: tuple[float, int, float] | None = None
    report: dict[str, Any] = {}
    for buckets in BUCKETS:
        sets = load(root, buckets)
        folds = [_folds(d.groups) for d in sets]
        for l2 in L2:
            per_fold: dict[str, list[float]] = {d.name: [] for d in sets}
            for k in range(FOLDS):
                train_idx = [
                    np.setdiff1d(np.arange(len(d.y)), f[k]) for d, f in zip(sets, folds, strict=True)
                ]
                model = train(sets, train_idx, buckets, l2)
                for d, f in zip(sets, folds, strict=True):
                    per_fold[d.name].append(_auc(_predict(model, d, f[k]), d.y[f[k]]))
            aucs = {name: float(np.nanmean(v)) for name, v in per_fold.items()}
            mean_auc = float(np.mean(list(aucs.values())))
            report[f"buckets={buckets},l2={l2}"] = {k: round(v, 4) for k, v in aucs.items()}
            print(f"buckets={buckets:5d} l2={l2:6.1f} cv auc {aucs} mean {mean_auc:.4f}",
                  file=sys.stderr)
            if best is None or mean_auc > best[0]:
                best = (mean_auc, buckets, l2)
    assert best is not None
    return best[1], best[2], report


def _predict(model: dict[str, Any], d: Dataset, idx: np.ndarray) -> np.ndarray:
    n_dense = len(DENSE_FEATURES)
    z = ((d.dense[idx] - np.array(model["mean"])) / np.array(model["scale"])) @ np.array(
        model["weights"]
    )
    for bucket, value in model["words"].items():
        z += d.words[idx, int(bucket)] * value
    del n_dense
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/routellm"))
    parser.add_argument("--out", type=Path, default=Path("src/router/quality/weights.json"))
    args = parser.parse_args(argv)
    buckets, l2, report = cross_validate(args.data)
    sets = load(args.data, buckets)
    model = train(sets, [np.arange(len(d.y)) for d in sets], buckets, l2)
    model["meta"] = {
        "trained_on": "RouteLLM GSM8K, MMLU, MT-Bench train splits (scripts/routellm_traces.py)",
        "label": "strong (gpt-4-1106-preview) scores higher than weak (Mixtral-8x7B)",
        "l2": l2,
        "cv_auc": report,
        "rows": {d.name: len(d.y) for d in sets},
    }
    args.out.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: buckets={buckets} l2={l2}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
