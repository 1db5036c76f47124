"""Held-out results of the quality strategy on RouteLLM's data (the table in docs/quality.md).

    PYTHONPATH=src python scripts/routellm_traces.py --split test --out out/traces
    PYTHONPATH=src python bench/quality_eval.py out/traces [--json]

Maps gpt-4o <- GPT-4-1106 (strong) and gpt-4o-mini <- Mixtral-8x7B (cheap), so costs are
catalog list prices on the traces' token counts. Also prints what the default knob
(min_quality=0.95) gives on each test set: the share of the strong model's quality kept, and the
savings; and, when `<dataset>-train.jsonl` is in the folder too, the setting `calibrate()` finds on
the train split for 95% and what that setting keeps and saves on test (tuned on train only).
`scripts/quality_embed.py` calls `main` with its embedding predictor as an extra policy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from router.quality.calibrate import calibrate
from router.quality.evaluate import run_eval
from router.quality.predictor import Predictor
from router.quality.replay import ReplayPolicy
from router.quality.strategy import QualityStrategy

__all__ = ["MODELS", "main"]

MODELS = {"gpt-4o": "gpt-4-1106-preview", "gpt-4o-mini": "mistralai/Mixtral-8x7B-Instruct-v0.1"}
DEFAULT_KNOB = 0.95


def _pct(v: float | None) -> str:
    return "  n/a" if v is None else f"{v * 100:5.1f}%"


def main(argv: list[str], extra: dict[str, Predictor] | None = None) -> int:
    args = [a for a in argv if not a.startswith("--")]
    folder = Path(args[0] if args else "out/traces")
    as_json = "--json" in argv
    policies: list[ReplayPolicy] = [
        QualityStrategy().replay_policy(name="light"),
        QualityStrategy(reference_tokens=None).replay_policy(name="light-size-blind"),
    ]
    for name, predictor in (extra or {}).items():
        policies.append(QualityStrategy(predictor=predictor).replay_policy(name=name))
    knobs = sorted({*[round(0.8 + 0.0025 * i, 4) for i in range(81)], DEFAULT_KNOB})
    out: dict[str, Any] = {}
    for dataset in ("mmlu", "gsm8k", "mt_bench"):
        result = run_eval(folder / f"{dataset}-test.jsonl", models=MODELS, policies=policies,
                          knobs=knobs)
        data = out[dataset] = result.to_json()
        strong = result.baselines["always:gpt-4o"]
        fidelity = {}
        for policy in policies:
            point = next(p for p in result.curves[policy.name].points if p.knob == DEFAULT_KNOB)
            fidelity[policy.name] = {"quality_kept": round(point.quality / strong.quality, 4),
                                     "savings": round(1 - float(point.cost / strong.cost), 4)}
        data["at_default_knob"] = fidelity
        train = folder / f"{dataset}-train.jsonl"
        calibrated = None
        if train.is_file():
            knob = calibrate(train, models=MODELS, target=0.95)
            check = run_eval(folder / f"{dataset}-test.jsonl", models=MODELS, knobs=(knob,),
                             policies=[QualityStrategy().replay_policy(name="light")])
            point = check.curves["light"].points[0]
            calibrated = data["calibrated_on_train"] = {
                "knob": knob, "quality_kept": round(point.quality / strong.quality, 4),
                "savings": round(1 - float(point.cost / strong.cost), 4)}
        if as_json:
            continue
        print(f"\n{dataset} (test split, n={result.n})")
        print(f"  {'policy':20s} {'savings@95':>10s} {'calls@95':>9s} {'APGR':>6s} "
              f"{'CPT50':>6s} {'CPT80':>6s}   at min_quality={DEFAULT_KNOB}: kept / saved")
        for name, curve in result.curves.items():
            s = curve.summary
            at = fidelity.get(name)
            tail = f"   {at['quality_kept'] * 100:5.1f}% / {_pct(at['savings'])}" if at else ""
            print(f"  {name:20s} {_pct(s.savings):>10s} {_pct(s.call_savings):>9s} "
                  f"{s.apgr:6.3f} {_pct(s.cpt50):>6s} {_pct(s.cpt80):>6s}{tail}")
        if calibrated:
            print(f"  calibrate(train, 0.95) = {calibrated['knob']}: on test kept "
                  f"{calibrated['quality_kept'] * 100:.1f}% / saved {_pct(calibrated['savings'])}")
    if as_json:
        for data in out.values():
            data.pop("policies")
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
