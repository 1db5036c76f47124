"""Decision time of the quality strategy: predictor + choice over the catalog's three models.

    PYTHONPATH=src python bench/quality_latency.py [runs]

Prints the median and 99th percentile per decision for a short, a typical and a long prompt,
after a warm-up (weights are loaded once, before timing). `scripts/quality_embed.py` times the
embedding experiment on the same prompts.
"""

from __future__ import annotations

import statistics
import sys
import time

from router.catalog import builtin_catalog
from router.messages import build_request
from router.quality.predictor import Predictor
from router.quality.strategy import QualityStrategy, choose

__all__ = ["PROMPTS", "main"]

PROMPTS = {
    "short (60 chars)": "What is the capital of Australia, and why is it not Sydney?",
    "typical (400 chars)": (
        "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
        "muffins for her friends every day with four. She sells the remainder at the farmers' "
        "market daily for $2 per fresh duck egg. How much in dollars does she make every day at "
        "the farmers' market? Explain each step, then give the final answer on its own line "
        "as a number."
    ),
    "long (8,000 chars)": ("Summarise the following report in five bullet points. " * 150),
}


def bench(label: str, predictor: Predictor, runs: int, warmup: int) -> None:
    catalog = builtin_catalog()
    specs = [catalog.get(name) for name in ("gpt-4o", "gpt-4o-mini", "mistral-nemo")]
    strategy = QualityStrategy(predictor=predictor)
    for name, text in PROMPTS.items():
        request = build_request([{"role": "user", "content": text}])
        tokens = [len(text) // 4 + 8] * 3

        def decide() -> None:
            prediction = predictor.predict(request)  # noqa: B023
            choose(prediction, specs, tokens, tolerance=strategy.tolerance(prediction.family),  # noqa: B023
                   reference_tokens=1000)

        for _ in range(warmup):
            decide()
        times = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            decide()
            times.append(time.perf_counter_ns() - start)
        times.sort()
        median = statistics.median(times) / 1000
        p99 = times[min(len(times) - 1, int(0.99 * len(times)))] / 1000
        print(f"{label:6s} {name:22s} median {median:9.1f} us   p99 {p99:9.1f} us")


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    runs = int(args[0]) if args else 3000
    bench("light", QualityStrategy().predictor, runs, 200)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
