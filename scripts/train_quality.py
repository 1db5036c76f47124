"""Train the quality predictor's heads from RouteLLM's data (train splits only) and write JSON.

    PYTHONPATH=src python scripts/train_quality.py --data ../shared/data/routellm \
        --out src/router/quality/weights.json

Needs numpy (training only; the shipped light predictor is pure Python). Per request family
(multiple choice, maths, open-ended) it picks a constant or a ridge model over the features, with
its regularisation, by 5-fold cross-validation grouped like the split (MMLU by subject, others by
question) inside the train split. The criterion is the evaluator's own: savings at 95% of the
strong model's quality, in dollars, replayed on the pooled out-of-fold predictions and averaged
over the three datasets. The knob map (min_quality -> per-request tolerance) is measured the same
way, so it is not flattered by in-sample predictions. The test split is never read here. Same
data, same weights: no randomness. `scripts/quality_embed.py` (the embedding experiment) reuses
`load` and `select_and_fit` with its own features.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from routellm_traces import DATASETS, STRONG, WEAK, convert

from router.catalog import builtin_catalog
from router.quality.evaluate import evaluate_items
from router.quality.features import DENSE_FEATURES, FAMILIES, extract, family
from router.quality.predictor import FORMAT, KnobMap, Prediction
from router.quality.replay import ReplayItem, build_items
from router.quality.strategy import TOLERANCE_SWEEP, QualityStrategy
from router.quality.tasks import TaskType, classify
from router.quality.traces import Trace, parse_trace
from router.types import Message

__all__ = ["ALPHAS", "Data", "fit_head", "load", "main", "select_and_fit"]

MODELS = {"gpt-4o": STRONG, "gpt-4o-mini": WEAK}
FOLDS = 5
ALPHAS = (100.0, 1000.0, 10000.0, 100000.0, 1000000.0)
#: A linear head's prediction is floored at this share of its family's mean advantage.
FLOOR = 0.05
#: The knob map's resolution: min_quality values 0.001 apart, from always-cheap's share to 1.
KNOB_STEP = 0.001
#: Tolerances closer than this (relative) are not split further: the share kept jumps there
#: (many requests of one size flip together), and no finer tolerance would tell them apart.
MIN_GAP = 1e-4

Features = Callable[[Sequence[Trace]], np.ndarray]


@dataclass
class Data:
    """One dataset's train split: traces, priced replay items, labels, groups, families."""

    name: str
    traces: list[Trace]
    items: list[ReplayItem]
    groups: np.ndarray
    gain: np.ndarray  # strong score - weak score, on a 0-1 scale
    family: np.ndarray
    task: list[TaskType]
    x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


def dense_features(traces: Sequence[Trace]) -> np.ndarray:
    return np.array([extract(t.messages).dense for t in traces], dtype=float)


def load(root: Path, features: Features = dense_features) -> list[Data]:
    catalog = builtin_catalog()
    out = []
    for name in DATASETS:
        rows = convert(root, name, split="train")
        traces = [parse_trace(json.dumps(r), line=i + 1) for i, r in enumerate(rows)]
        scale = 10.0 if name == "mt_bench" else 1.0  # MT-Bench judge scores are 1-10
        gain = np.array([(t.outcomes[STRONG].score - t.outcomes[WEAK].score) / scale
                         for t in traces])
        feats = [extract(t.messages) for t in traces]
        tasks = [classify(f) for f in feats]
        fams = np.array([family(f, task.value) for f, task in zip(feats, tasks, strict=True)])
        out.append(Data(name, traces, build_items(traces, MODELS, catalog),
                        np.array([r["meta"]["group"] for r in rows]), gain, fams, tasks,
                        features(traces)))
    return out


def fold_ids(groups: np.ndarray) -> np.ndarray:
    """Deterministic group folds: groups sorted by name, dealt round-robin."""
    names = sorted(set(groups.tolist()))
    fold_of = {g: i % FOLDS for i, g in enumerate(names)}
    return np.array([fold_of[g] for g in groups])


def _sig(value: float) -> float:
    """Six significant digits: small JSON, and no small scale rounded to zero."""
    return float(f"{float(value):.6g}")


def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, kind: str, alpha: float) -> dict[str, Any]:
    """A constant (weighted mean) or weighted ridge over standardised x, intercept unpenalised."""
    advantage = max(float(np.average(y, weights=w)), 1e-3)
    if kind == "constant":
        return {"kind": "constant", "advantage": round(advantage, 6)}
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-6] = 1.0  # constant columns (MiniLM has a few dead dimensions) stay unscaled
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    penalty = np.full(z.shape[1], alpha)
    penalty[0] = 0.0
    beta = np.linalg.solve((z * w[:, None]).T @ z + np.diag(penalty + 1e-9), (z * w[:, None]).T @ y)
    return {
        "kind": "linear",
        "advantage": round(advantage, 6),
        "floor": FLOOR,
        "alpha": alpha,
        "intercept": _sig(beta[0]),
        "mean": [_sig(v) for v in mean],
        "scale": [_sig(v) for v in scale],
        "weights": [_sig(v) for v in beta[1:]],
    }


def predict_head(head: Mapping[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(advantage, relative) for rows of x, exactly as `predictor.LinearHead` computes them."""
    base = float(head["advantage"])
    if head["kind"] == "constant":
        return np.full(len(x), base), np.ones(len(x))
    z = head["intercept"] + ((x - np.array(head["mean"])) / np.array(head["scale"])) @ np.array(
        head["weights"]
    )
    z = np.maximum(z, head["floor"] * base)
    return z, z / base


def _weights(sets: Sequence[Data], masks: Sequence[np.ndarray]) -> np.ndarray:
    # A dataset weighs as the square root of its size: MMLU does not drown the others.
    w = np.concatenate([np.full(int(m.sum()), 1.0 / np.sqrt(max(int(m.sum()), 1))) for m in masks])
    return w * len(w) / w.sum()


def fit_family(sets: Sequence[Data], masks: Sequence[np.ndarray], kind: str, alpha: float) -> dict[
    str, Any
]:
    x = np.vstack([d.x[m] for d, m in zip(sets, masks, strict=True)])
    y = np.concatenate([d.gain[m] for d, m in zip(sets, masks, strict=True)])
    return fit_head(x, y, _weights(sets, masks), kind, alpha)


Config = Mapping[str, tuple[str, float]]


def out_of_fold(sets: Sequence[Data], config: Config) -> list[list[Prediction]]:
    """Each row predicted by heads trained on the other folds (of every dataset)."""
    folds = [fold_ids(d.groups) for d in sets]
    preds: list[list[Prediction | None]] = [[None] * len(d.gain) for d in sets]
    for k in range(FOLDS):
        for fam in FAMILIES:
            kind, alpha = config[fam]
            train = [(f != k) & (d.family == fam) for d, f in zip(sets, folds, strict=True)]
            if sum(int(m.sum()) for m in train) == 0:
                continue
            head = fit_family(sets, train, kind, alpha)
            for d, f, out in zip(sets, folds, preds, strict=True):
                rows = np.where((f == k) & (d.family == fam))[0]
                if len(rows):
                    adv, rel = predict_head(head, d.x[rows])
                    for r, a, q in zip(rows, adv, rel, strict=True):
                        out[r] = Prediction(float(a), float(q), d.task[r], fam)
    assert all(p is not None for out in preds for p in out)
    return [[p for p in out if p is not None] for out in preds]


class _Fixed:
    """A predictor replaying given predictions (looked up by the messages object)."""

    name = "fixed"
    knob_maps: ClassVar[dict[str, KnobMap]] = {fam: KnobMap([(0.0, 1.0)]) for fam in FAMILIES}

    def __init__(self, traces: Sequence[Trace], preds: Sequence[Prediction]) -> None:
        self._by_id = {id(t.messages): p for t, p in zip(traces, preds, strict=True)}

    def predict_messages(self, messages: Sequence[Message], **_: Any) -> Prediction:
        return self._by_id[id(messages)]

    def predict(self, request: Any) -> Prediction:
        raise NotImplementedError


def replay(
    d: Data, preds: Sequence[Prediction], rows: np.ndarray | None = None
) -> tuple[dict[str, float | None], list[float]]:
    """Savings@95 ($, calls) and APGR of the size-aware policy on `rows` (default all), and
    the quality ratio (to always-strong) at each tolerance of TOLERANCE_SWEEP."""
    index = range(len(d.items)) if rows is None else rows.tolist()
    traces = [d.traces[i] for i in index]
    strategy = QualityStrategy(predictor=_Fixed(traces, [preds[i] for i in index]))
    result = evaluate_items([d.items[i] for i in index],
                            policies=[strategy.replay_policy(raw=True)], knobs=TOLERANCE_SWEEP)
    curve = result.curves["quality"]
    strong = result.baselines["always:gpt-4o"].quality
    summary = {"savings": curve.summary.savings, "calls": curve.summary.call_savings,
               "apgr": curve.summary.apgr}
    return summary, [p.quality / strong for p in curve.points]


class KeptCurve:
    """Share of the strong model's quality kept at any raw tolerance, on one family's rows of
    each dataset (out-of-fold predictions), datasets averaged with `weights`."""

    def __init__(self, parts: Sequence[tuple[Data, Sequence[Prediction], np.ndarray]],
                 weights: Sequence[float]) -> None:
        self._parts = []
        for d, preds, rows in parts:
            index = rows.tolist()
            traces = [d.traces[i] for i in index]
            policy = QualityStrategy(predictor=_Fixed(traces, [preds[i] for i in index])
                                     ).replay_policy(raw=True)
            items = [d.items[i] for i in index]
            strong = sum(item.options["gpt-4o"].score for item in items)
            self._parts.append((items, policy, strong))
        total = float(sum(weights))
        self._weights = [w / total for w in weights]

    def __call__(self, tolerances: Sequence[float]) -> list[float]:
        kept = np.zeros(len(tolerances))
        for (items, policy, strong), w in zip(self._parts, self._weights, strict=True):
            routes = policy.route(items, tolerances)
            kept += w * np.array([
                sum(item.options[m].score for item, m in zip(items, route, strict=True)) / strong
                for route in routes])
        return kept.tolist()


def refine(curve: Callable[[Sequence[float]], list[float]], sweep: Sequence[float]
           ) -> tuple[list[float], list[float]]:
    """`curve` at `sweep`, then at midpoints wherever two neighbours differ by more than
    KNOB_STEP, until they do not or are closer than MIN_GAP: fine where the share moves."""
    ts = sorted(set(sweep))
    kept = dict(zip(ts, curve(ts), strict=True))
    while True:
        new = [math.sqrt(a * b) if a > 0 else b / 2 for a, b in itertools.pairwise(ts)
               if abs(kept[a] - kept[b]) > KNOB_STEP and b - a > MIN_GAP * b]
        if not new:
            return ts, [kept[t] for t in ts]
        kept.update(zip(new, curve(new), strict=True))
        ts = sorted(kept)


def knob_map(tolerances: Sequence[float], kept: Sequence[float]) -> list[list[float]]:
    """min_quality -> per-request tolerance, every KNOB_STEP of min_quality.

    `kept[i]`: share of quality kept at `tolerances[i]` (ascending); made monotone (a larger
    tolerance never counts as keeping more), then each min_quality gets the tolerance where the
    curve crosses it, interpolated between the two measured tolerances around the crossing.
    """
    ts = np.array(tolerances, dtype=float)
    mono = np.minimum.accumulate(np.array(kept, dtype=float))
    lowest = float(mono[-1])
    pairs = [[round(lowest - 0.01, 4), round(float(ts[-1]), 6)]]
    start = math.ceil(lowest / KNOB_STEP - 1e-9)
    for step in range(start, round(1 / KNOB_STEP) + 1):
        q = step * KNOB_STEP
        above = np.nonzero(mono >= q - 1e-12)[0]
        if not len(above):
            continue
        i = int(above[-1])
        if i + 1 < len(ts) and mono[i] > mono[i + 1]:
            t = ts[i] + (ts[i + 1] - ts[i]) * (mono[i] - q) / (mono[i] - mono[i + 1])
        else:
            t = ts[i]
        pairs.append([round(q, 4), round(float(t), 6)])
    return pairs


#: A dataset's rows of one family are replayed for selection only when there are this many.
MIN_ROWS = 20


def _score(sets: Sequence[Data], config: Config, fam: str, log: dict[str, Any], label: str) -> float:
    """CV savings@95 in dollars on the rows of family `fam`, replayed per dataset, datasets
    weighted as the square root of their row counts (MT-Bench's 8 maths questions do not decide
    the maths head)."""
    preds = out_of_fold(sets, config)
    summaries, weights = {}, {}
    for d, p in zip(sets, preds, strict=True):
        rows = np.where(d.family == fam)[0]
        if len(rows) >= MIN_ROWS:
            summaries[d.name] = replay(d, p, rows)[0]
            weights[d.name] = float(np.sqrt(len(rows)))
    score = sum(weights[k] * (s["savings"] or 0.0) for k, s in summaries.items()) / sum(
        weights.values()
    )
    log[label] = {"savings_at_95": round(score, 4),
                  **{k: {m: None if v is None else round(v, 4) for m, v in s.items()}
                     for k, s in summaries.items()}}
    print(f"{label:36s} $ savings {score:.4f}  "
          + "  ".join(f"{k} {s['savings'] or 0:.3f}/{s['calls'] or 0:.3f}/{s['apgr']:.3f}"
                      for k, s in summaries.items()), file=sys.stderr, flush=True)
    return score


def select_and_fit(sets: Sequence[Data], alphas: Sequence[float] = ALPHAS) -> dict[str, Any]:
    """Per family: constant or ridge(alpha), by CV dollars; then fit on all rows; knob map."""
    log: dict[str, Any] = {}
    config: dict[str, tuple[str, float]] = {fam: ("constant", 0.0) for fam in FAMILIES}
    chosen = dict(config)
    for fam in FAMILIES:
        best = (_score(sets, config, fam, log, f"{fam}: constant"), ("constant", 0.0))
        for alpha in alphas:
            trial = {**config, fam: ("linear", alpha)}
            score = _score(sets, trial, fam, log, f"{fam}: ridge alpha={alpha:g}")
            if score > best[0] + 1e-9:
                best = (score, ("linear", alpha))
        chosen[fam] = best[1]
    preds = out_of_fold(sets, chosen)
    final: dict[str, Any] = {}
    for d, p in zip(sets, preds, strict=True):
        summary = replay(d, p)[0]
        final[d.name] = {k: None if v is None else round(v, 4) for k, v in summary.items()}
        print(f"chosen, {d.name}: {final[d.name]}", file=sys.stderr)
    # One knob map per family, measured on that family's rows: min_quality=0.95 keeps about 95%
    # on multiple-choice, maths and open-ended requests alike, whatever their catalog gaps.
    maps = {}
    for fam in FAMILIES:
        parts, weights = [], []
        for d, p in zip(sets, preds, strict=True):
            rows = np.where(d.family == fam)[0]
            if len(rows) >= MIN_ROWS:
                parts.append((d, p, rows))
                weights.append(float(np.sqrt(len(rows))))
        tolerances, kept = refine(KeptCurve(parts, weights), TOLERANCE_SWEEP)
        maps[fam] = knob_map(tolerances, kept)
        print(f"knob map {fam}: {len(tolerances)} tolerances replayed, {len(maps[fam])} pairs",
              file=sys.stderr, flush=True)
    families = {}
    for fam in FAMILIES:
        kind, alpha = chosen[fam]
        families[fam] = fit_family(sets, [d.family == fam for d in sets], kind, alpha)
    return {
        "format": FORMAT,
        "families": families,
        "knob_map": maps,
        "meta": {
            "cv": log,
            "chosen": {fam: f"{k} alpha={a:g}" if k == "linear" else k
                       for fam, (k, a) in chosen.items()},
            "chosen_cv_out_of_fold": final,
            "rows": {d.name: len(d.gain) for d in sets},
            "family_rows": {fam: {d.name: int((d.family == fam).sum()) for d in sets}
                            for fam in FAMILIES},
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/routellm"))
    parser.add_argument("--out", type=Path, default=Path("src/router/quality/weights.json"))
    args = parser.parse_args(argv)
    sets = load(args.data)
    model = select_and_fit(sets)
    model["dense"] = list(DENSE_FEATURES)
    model["meta"].update({
        "trained_on": "RouteLLM GSM8K, MMLU, MT-Bench train splits (scripts/routellm_traces.py)",
        "label": "gain = strong (gpt-4-1106-preview) score - weak (Mixtral-8x7B) score, 0-1 scale",
    })
    args.out.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {model['meta']['chosen']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
