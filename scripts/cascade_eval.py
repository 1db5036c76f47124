"""Replay a FrugalGPT-style cascade on RouteLLM's GSM8K and MT-Bench data (docs/quality.md).

    PYTHONPATH=src python scripts/cascade_eval.py --data ../shared/data/routellm \
        --write src/router/quality/answer_check.json    # train the checker (train split only)
    PYTHONPATH=src python scripts/cascade_eval.py --data ../shared/data/routellm   # test table

The cascade always calls the cheap model (gpt-4o-mini <- Mixtral), checks its answer, and calls
the strong one (gpt-4o <- GPT-4-1106) when the check fails: cost = cheap call + strong call when
escalated, quality = the strong score when escalated, else the cheap one. MT-Bench is checked on
the first turn's answer; an escalated dialogue is served by the strong model for both turns, so
it pays the cheap first-turn call extra. MMLU has no answer texts: no cascade there.

Checkers: the shipped rule validators (empty, cut off, refusal), and a learned answer checker
(`router.quality.answer_check`): logistic regression over cheap answer features, L2 strength
chosen by 5-fold grouped CV inside the train split on the out-of-fold cascade's savings at 95%
in dollars. Its threshold is swept for the curve. Needs numpy (training only).
Same split as `scripts/routellm_traces.py`; the test split is read only for the final table.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from routellm_traces import STRONG, TOKENIZER, WEAK, _turns, convert
from train_quality import fold_ids

from router.catalog import builtin_catalog
from router.messages import parse_messages
from router.quality.answer_check import (
    ANSWER_FEATURES,
    FORMAT,
    AnswerChecker,
    answer_features,
    default_answer_checker,
)
from router.quality.cascade import check_answer, finished, not_empty, not_refusal
from router.quality.evaluate import evaluate_items
from router.quality.metrics import Point, apgr, savings_at, share_at_quality
from router.quality.replay import ReplayItem, build_items
from router.quality.strategy import QualityStrategy
from router.quality.traces import parse_trace
from router.tokens import count_tokens
from router.types import Completion, FinishReason, Request, Usage

MODELS = {"gpt-4o": STRONG, "gpt-4o-mini": WEAK}
CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # inverse L2 strength (standardised features)
TARGET = 0.95


@dataclass
class Split:
    """One dataset's split: priced items, the cheap answer texts, the cascade's cheap cost."""

    dataset: str
    items: list[ReplayItem]
    questions: list[str]
    answers: list[str]
    groups: np.ndarray
    cheap_first: list[Decimal]  # what the cascade pays the cheap model before escalating

    def scores(self, model: str) -> np.ndarray:
        return np.array([i.options[model].score for i in self.items])


def _answers(root: Path, dataset: str) -> dict[str, str]:
    """Trace id -> the cheap model's (first-turn) answer."""
    if dataset == "gsm8k":
        with open(root / "gsm8k_responses.csv", encoding="utf-8", newline="") as handle:
            return {f"gsm8k-{i}": row[f"{WEAK}_response"]
                    for i, row in enumerate(csv.DictReader(handle))}
    out = {}
    with open(root / "mt_bench_judgements.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["model"] == WEAK and int(row["turn"]) == 2:
                out[f"mt_bench-{row['question_id']}"] = _turns(row["user_prompt"])[1]
    return out


def load(root: Path, dataset: str, split: str) -> Split:
    rows = convert(root, dataset, split=split)
    traces = [parse_trace(json.dumps(r), line=i + 1) for i, r in enumerate(rows)]
    items = build_items(traces, MODELS, builtin_catalog())
    texts = _answers(root, dataset)
    answers = [texts[r["id"]] for r in rows]
    questions = [r["messages"][0]["content"] for r in rows]
    price = builtin_catalog().get("gpt-4o-mini").price
    if dataset == "mt_bench":  # first turn only: its question in, its answer out
        first = [count_tokens(q, TOKENIZER) * price.input_per_token
                 + count_tokens(a, TOKENIZER) * price.output_per_token
                 for q, a in zip(questions, answers, strict=True)]
    else:
        first = [i.options["gpt-4o-mini"].cost for i in items]
    return Split(dataset, items, questions, answers,
                 np.array([r["meta"]["group"] for r in rows]), first)


def cascade_point(data: Split, escalate: np.ndarray, knob: float | None = None) -> Point:
    quality, cost = 0.0, Decimal(0)
    for item, first, up in zip(data.items, data.cheap_first, escalate, strict=True):
        cheap, strong = item.options["gpt-4o-mini"], item.options["gpt-4o"]
        if up:
            quality += strong.score
            cost += first + strong.cost
        else:
            quality += cheap.score
            cost += cheap.cost
    share = float(np.mean(escalate))
    return Point(quality / len(data.items), cost, share, knob,
                 {"gpt-4o": share, "gpt-4o-mini": 1 - share})


def curve(data: Split, risk: np.ndarray) -> list[Point]:
    """The cascade at every threshold: escalate the answers with risk above it."""
    cuts = sorted(set(risk.tolist()), reverse=True)
    return [cascade_point(data, risk >= c, knob=float(c)) for c in cuts]


def summary(data: Split, points: list[Point]) -> dict[str, Any]:
    """Savings at 95% ($ and strong calls avoided) and APGR of a cascade curve; anchored at
    all-cheap (no escalation) only: escalating everything is the cascade's own last point."""
    weak = cascade_point(data, np.zeros(len(data.items), dtype=bool))
    strong_cost = sum((i.options["gpt-4o"].cost for i in data.items), Decimal(0))
    strong_q = float(data.scores("gpt-4o").mean())
    anchored = [weak, *points, cascade_point(data, np.ones(len(data.items), dtype=bool))]
    goal = TARGET * strong_q
    share = share_at_quality(anchored, goal)
    return {"savings": savings_at(anchored, goal, strong_cost=strong_cost),
            "call_savings": None if share is None else 1 - share,
            "apgr": apgr(anchored, weak=weak.quality, strong=strong_q)}


LABELS = ("wrong", "gain")


def label(data: Split, kind: str = "gain") -> np.ndarray:
    """"wrong": the cheap answer is wrong (below the top score); "gain": it scored below the
    strong model's, i.e. escalating would have helped."""
    cheap = data.scores("gpt-4o-mini")
    if kind == "wrong":
        top = 10.0 if data.dataset == "mt_bench" else 1.0
        return (cheap < top * 0.8).astype(float)
    return (data.scores("gpt-4o") > cheap).astype(float)


def features(data: Split) -> np.ndarray:
    return np.array([answer_features(q, a) for q, a in zip(data.questions, data.answers,
                                                          strict=True)])


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float) -> AnswerChecker:
    """L2 logistic regression (Newton), standardised features, intercept unpenalised."""
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], 1.0 / c)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -40, 40)))
        grad = z.T @ (p - y) + penalty * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    sig = lambda v: float(f"{float(v):.6g}")  # noqa: E731
    return AnswerChecker(tuple(sig(v) for v in mean), tuple(sig(v) for v in scale),
                         tuple(sig(v) for v in beta[1:]), sig(beta[0]), 0.5)


def risk_of(checker: AnswerChecker, data: Split) -> np.ndarray:
    return np.array([checker.p_wrong(q, a) for q, a in zip(data.questions, data.answers,
                                                          strict=True)])


def auc(score: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)) if n1 and n0 else float("nan")


def out_of_fold(data: Split, x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    folds, risk = fold_ids(data.groups), np.zeros(len(y))
    for k in sorted(set(folds.tolist())):
        held = folds == k
        model = fit_logistic(x[~held], y[~held], c)
        risk[held] = [model.p_wrong(data.questions[i], data.answers[i]) for i in np.where(held)[0]]
    return risk


def threshold_at_target(data: Split, risk: np.ndarray) -> float:
    """The highest threshold (fewest escalations) whose replay keeps 95% of strong quality."""
    goal = TARGET * float(data.scores("gpt-4o").mean())
    for point in curve(data, risk):
        if point.quality >= goal and point.knob is not None:
            return float(np.nextafter(point.knob, -1))  # escalate when p > threshold
    return 0.0


def rules_escalate(data: Split) -> np.ndarray:
    validators = (not_empty(), finished(), not_refusal())
    out = []
    for q, a in zip(data.questions, data.answers, strict=True):
        request = Request(messages=parse_messages([{"role": "user", "content": q}]))
        done = Completion(a, FinishReason.STOP, Usage(0, 0))
        out.append(not check_answer(done, request, validators).ok)
    return np.array(out, dtype=bool)


def train(root: Path, dataset: str) -> tuple[AnswerChecker, dict[str, Any]]:
    """Label and L2 strength by grouped 5-fold CV on the train split, then one fit on all of it."""
    data = load(root, dataset, "train")
    x = features(data)
    log: dict[str, Any] = {}
    for kind in LABELS:
        y = label(data, kind)
        for c in CS:
            risk = out_of_fold(data, x, y, c)
            s = summary(data, curve(data, risk))
            log[f"{kind}/C={c}"] = {"oof_savings": round(s["savings"] or 0, 4),
                                    "oof_call_savings": round(s["call_savings"] or 0, 4),
                                    "oof_apgr": round(s["apgr"], 4),
                                    "oof_auc_gain": round(auc(risk, label(data)), 4)}
            print(f"  {dataset} {kind} C={c}: {log[f'{kind}/C={c}']}", file=sys.stderr)
    best = max(log, key=lambda k: (log[k]["oof_savings"], log[k]["oof_apgr"]))
    kind, c = best.split("/C=")[0], float(best.split("/C=")[1])
    y = label(data, kind)
    threshold = threshold_at_target(data, out_of_fold(data, x, y, c))
    model = fit_logistic(x, y, c)
    model = AnswerChecker(model.mean, model.scale, model.coef, model.intercept,
                          float(f"{threshold:.6g}"))
    return model, {"label": kind, "C": c, "cv": log, "n_train": len(y),
                   "label_rate": round(float(y.mean()), 4)}


def _pct(v: float | None) -> str:
    return "  n/a" if v is None else f"{v * 100:5.1f}%"


def report(root: Path, checkers: dict[str, AnswerChecker]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    knobs = sorted({*[round(0.8 + 0.0025 * i, 4) for i in range(81)], 0.95})
    for dataset in ("gsm8k", "mt_bench"):
        data = load(root, dataset, "test")
        base = evaluate_items(data.items, policies=[QualityStrategy().replay_policy(name="light")],
                              knobs=knobs, strong="gpt-4o", cheap="gpt-4o-mini")
        rows: dict[str, dict[str, Any]] = {}
        for name in ("random", "light", "oracle"):
            s = base.curves[name].summary
            rows[name] = {"savings": s.savings, "call_savings": s.call_savings, "apgr": s.apgr}
        rules = rules_escalate(data)
        rows["cascade: rules"] = summary(data, [cascade_point(data, rules)])
        rows["cascade: rules"]["escalated"] = float(rules.mean())
        if dataset in checkers:
            checker = checkers[dataset]
            risk = risk_of(checker, data)
            rows["cascade: learned"] = summary(data, curve(data, risk))
            at = cascade_point(data, risk > checker.threshold)
            strong_cost = sum((i.options["gpt-4o"].cost for i in data.items), Decimal(0))
            rows["cascade: learned"]["at_default"] = {
                "kept": at.quality / float(data.scores("gpt-4o").mean()),
                "savings": 1 - float(at.cost / strong_cost), "escalated": at.strong_share,
                "auc": auc(risk, label(data))}
        if dataset == "mt_bench":  # the shipped maths check on open-ended traffic, as is
            shipped = default_answer_checker()
            risk = np.array([shipped.p_wrong(q, a) if any(ch.isdigit() for ch in a) else 0.0
                             for q, a in zip(data.questions, data.answers, strict=True)])
            rows["cascade: maths check"] = summary(data, curve(data, risk))
        # A perfect checker (escalates exactly when the strong model scores higher): the ceiling.
        rows["cascade: perfect check"] = summary(data, curve(data, label(data)))
        cap = 1 - float(sum(data.cheap_first, Decimal(0))
                        / sum((i.options["gpt-4o"].cost for i in data.items), Decimal(0)))
        out[dataset] = {"n": len(data.items), "cascade_cap": cap, "rows": rows}
        print(f"\n{dataset} (test split, n={len(data.items)}; a cascade saves at most "
              f"{cap * 100:.1f}% of always-strong's dollars)")
        print(f"  {'policy':24s} {'savings@95':>10s} {'calls@95':>9s} {'APGR':>6s}")
        for name, s in rows.items():
            extra = ""
            if "at_default" in s:
                d = s["at_default"]
                extra = (f"   default threshold: kept {d['kept'] * 100:.1f}%, saved "
                         f"{d['savings'] * 100:.1f}%, escalated {d['escalated'] * 100:.1f}%, "
                         f"AUC {d['auc']:.3f}")
            elif "escalated" in s:
                extra = f"   escalated {s['escalated'] * 100:.1f}%"
            print(f"  {name:24s} {_pct(s['savings']):>10s} {_pct(s['call_savings']):>9s} "
                  f"{s['apgr']:6.3f}{extra}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/routellm"))
    parser.add_argument("--write", type=Path, help="train on GSM8K's train split, write weights")
    parser.add_argument("--test", action="store_true", help="print the test-split table")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    checkers: dict[str, AnswerChecker] = {}
    if args.write:
        model, log = train(args.data, "gsm8k")
        payload = {"format": FORMAT, "features": list(ANSWER_FEATURES), "mean": list(model.mean),
                   "scale": list(model.scale), "coef": list(model.coef),
                   "intercept": model.intercept, "threshold": model.threshold,
                   "trained_on": "RouteLLM GSM8K train split (Mixtral-8x7B answers)", "log": log}
        args.write.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.write}", file=sys.stderr)
        checkers["gsm8k"] = model
    else:
        checkers["gsm8k"] = default_answer_checker()
    # MT-Bench: the same features, trained on its own train split (experiment, not shipped).
    checkers["mt_bench"], log = train(args.data, "mt_bench")
    if not args.test:
        return 0
    out = report(args.data, checkers)
    out["mt_bench_checker_cv"] = log
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
