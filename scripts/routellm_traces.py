"""Convert RouteLLM's eval data (GSM8K, MMLU, MT-Bench) into router trace files (JSONL).

    PYTHONPATH=src python scripts/routellm_traces.py --data ../shared/data/routellm --out out/traces

Writes `<dataset>.jsonl` (or `<dataset>-<split>.jsonl` with --split) and drops the prompts RouteLLM
marked as contaminated. Each line carries `meta.split`, the held-out split used in docs/quality.md:
MMLU by subject, GSM8K and MT-Bench by question, decided by a hash so nobody picks the test set.
Output tokens are counted with o200k_base; MT-Bench also records its two calls' input tokens,
which the first-turn messages alone cannot give. The output is data, never committed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from router.tokens import count_tokens

__all__ = [
    "DATASETS",
    "STRONG",
    "WEAK",
    "convert",
    "convert_gsm8k",
    "convert_mmlu",
    "convert_mt_bench",
    "split_of",
]

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
DATASETS = ("gsm8k", "mmlu", "mt_bench")
TEST_SHARE = 0.5
TOKENIZER = "o200k_base"
_CONV_START = "<|The Start of Assistant A's Conversation with User|>"
_CONV_END = "<|The End of Assistant A's Conversation with User|>"


def split_of(dataset: str, group: str) -> str:
    """"test" for about half of the groups (subjects or questions), by a fixed hash."""
    digest = hashlib.sha256(f"{dataset}:{group}".encode()).digest()
    return "test" if int.from_bytes(digest[:4], "big") / 2**32 < TEST_SHARE else "train"


def _contaminated(root: Path, dataset: str) -> set[str]:
    path = root / f"{dataset}_contaminated_prompts.jsonl"
    with open(path, encoding="utf-8") as handle:
        return {json.loads(line)["eval_prompt"] for line in handle if line.strip()}


def _line(
    trace_id: str, text: str, outcomes: dict[str, dict[str, Any]], meta: dict[str, str]
) -> dict[str, Any]:
    return {
        "id": trace_id,
        "messages": [{"role": "user", "content": text}],
        "outcomes": outcomes,
        "meta": meta,
    }


def convert_gsm8k(root: Path) -> Iterator[dict[str, Any]]:
    drop = _contaminated(root, "gsm8k")
    with open(root / "gsm8k_responses.csv", encoding="utf-8", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            prompt = row["prompt"]
            if prompt in drop:
                continue
            outcomes = {
                model: {
                    "score": 1.0 if row[model] == "True" else 0.0,
                    "output_tokens": count_tokens(row[f"{model}_response"], TOKENIZER),
                }
                for model in (STRONG, WEAK)
            }
            group = f"q{index}"
            meta = {"dataset": "gsm8k", "group": group, "split": split_of("gsm8k", group)}
            yield _line(f"gsm8k-{index}", prompt, outcomes, meta)


def convert_mmlu(root: Path) -> Iterator[dict[str, Any]]:
    drop = _contaminated(root, "mmlu")
    for path in sorted((root / "mmlu").glob("*.csv")):
        subject = path.stem
        with open(path, encoding="utf-8", newline="") as handle:
            for index, row in enumerate(csv.DictReader(handle)):
                if row["prompt"] in drop:
                    continue
                # The answer is one letter: one output token on any tokenizer.
                outcomes = {
                    model: {"score": 1.0 if row[model] == "True" else 0.0, "output_tokens": 1}
                    for model in (STRONG, WEAK)
                }
                meta = {
                    "dataset": "mmlu",
                    "group": subject,
                    "split": split_of("mmlu", subject),
                }
                yield _line(f"mmlu-{subject}-{index}", row["prompt"], outcomes, meta)


def _turns(judge_prompt: str) -> list[str]:
    """The user and assistant texts of a multi-turn judge prompt, in order."""
    body = judge_prompt.split(_CONV_START, 1)[1].split(_CONV_END, 1)[0]
    parts: list[str] = []
    for chunk in body.split("### User:\n")[1:]:
        user, _, answer = chunk.partition("### Assistant A:\n")
        parts += [user.strip(), answer.strip()]
    return parts


def convert_mt_bench(root: Path) -> Iterator[dict[str, Any]]:
    """One line per question: routed on the first turn, both turns served by the same model.

    The score is the mean of the two turns' judge scores (1-10); tokens add up both calls.
    """
    drop = _contaminated(root, "mt_bench")
    scores: dict[tuple[int, str], dict[int, float]] = defaultdict(dict)
    dialogs: dict[tuple[int, str], list[str]] = {}
    with open(root / "mt_bench_judgements.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            key = (int(row["question_id"]), str(row["model"]))
            scores[key][int(row["turn"])] = float(row["score"])
            if int(row["turn"]) == 2:
                dialogs[key] = _turns(row["user_prompt"])
    with open(root / "mt_bench_questions.jsonl", encoding="utf-8") as handle:
        for line in handle:
            question = json.loads(line)
            turns = question["turns"]
            if turns[0] in drop or turns[1] in drop:
                continue
            qid = int(question["question_id"])
            outcomes: dict[str, dict[str, Any]] = {}
            for model in (STRONG, WEAK):
                _user1, answer1, _user2, answer2 = dialogs[(qid, model)]
                first = count_tokens(turns[0], TOKENIZER)
                second = first + count_tokens(answer1, TOKENIZER) + count_tokens(turns[1], TOKENIZER)
                outcomes[model] = {
                    "score": statistics.fmean(scores[(qid, model)].values()),
                    "input_tokens": first + second,
                    "output_tokens": count_tokens(answer1, TOKENIZER)
                    + count_tokens(answer2, TOKENIZER),
                }
            group = f"q{qid}"
            meta = {
                "dataset": "mt_bench",
                "group": group,
                "category": str(question["category"]),
                "split": split_of("mt_bench", group),
            }
            yield _line(f"mt_bench-{qid}", turns[0], outcomes, meta)


_CONVERTERS = {"gsm8k": convert_gsm8k, "mmlu": convert_mmlu, "mt_bench": convert_mt_bench}


def convert(root: Path, dataset: str, *, split: str = "all") -> list[dict[str, Any]]:
    """The trace lines of one dataset, optionally only its "train" or "test" split."""
    rows = list(_CONVERTERS[dataset](root))
    return [row for row in rows if split == "all" or row["meta"]["split"] == split]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/routellm"))
    parser.add_argument("--out", type=Path, default=Path("out/traces"))
    parser.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    parser.add_argument("--split", choices=["all", "train", "test"], default="all")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in DATASETS if args.dataset == "all" else (args.dataset,):
        rows = convert(args.data, dataset, split=args.split)
        suffix = "" if args.split == "all" else f"-{args.split}"
        path = args.out / f"{dataset}{suffix}.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path}: {len(rows)} traces", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
