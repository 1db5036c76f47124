"""Held-out results of the quality strategy on RouteLLM's data (the table in docs/quality.md).

    PYTHONPATH=src python scripts/routellm_traces.py --split test --out out/traces
    PYTHONPATH=src python bench/quality_eval.py out/traces [--json]

Maps gpt-4o <- GPT-4-1106 (strong) and gpt-4o-mini <- Mixtral-8x7B (cheap), so costs are
catalog list prices on the traces' token counts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from router.quality.evaluate import run_eval
from router.quality.strategy import QualityStrategy

__all__ = ["MODELS", "main"]

MODELS = {"gpt-4o": "gpt-4-1106-preview", "gpt-4o-mini": "mistralai/Mixtral-8x7B-Instruct-v0.1"}


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "out/traces")
    as_json = "--json" in argv
    policies = [
        QualityStrategy().replay_policy(),
        QualityStrategy(reference_tokens=None).replay_policy(),
    ]
    policies[1].name = "quality-size-blind"
    out = {}
    for dataset in ("mmlu", "gsm8k", "mt_bench"):
        result = run_eval(folder / f"{dataset}-test.jsonl", models=MODELS, policies=policies)
        out[dataset] = result.to_json()
        if as_json:
            continue
        print(f"\n{dataset} (test split, n={result.n})")
        print(f"  {'policy':20s} {'savings@95':>10s} {'calls@95':>9s} {'APGR':>6s} "
              f"{'CPT50':>6s} {'CPT80':>6s}")
        for name, curve in result.curves.items():
            s = curve.summary
            def pct(v: float | None) -> str:
                return "  n/a" if v is None else f"{v * 100:5.1f}%"
            print(f"  {name:20s} {pct(s.savings):>10s} {pct(s.call_savings):>9s} "
                  f"{s.apgr:6.3f} {pct(s.cpt50):>6s} {pct(s.cpt80):>6s}")
    if as_json:
        for data in out.values():
            data.pop("policies")
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
