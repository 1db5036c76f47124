"""The offline demo: realistic requests routed through the real adapters against the built-in mock.

Run it with `python -m router.demo` (or `router demo`); no API key or network needed.
"""

from __future__ import annotations

import base64
import struct
import sys
import warnings
from decimal import Decimal
from typing import Any, TextIO

from router.client import Router
from router.errors import BudgetExceeded
from router.mock import mock_transport
from router.money import format_usd

__all__ = ["DEMO_CONFIG", "main", "run_demo"]

DEMO_CONFIG: dict[str, Any] = {
    "deployments": [
        {"model": "gpt-4o-mini", "provider": "openai", "api_key": "demo-key"},
        {"model": "gpt-4o", "provider": "openai", "api_key": "demo-key"},
        {"model": "mistral-nemo", "provider": "openai", "base_url": "https://openrouter.ai/api/v1",
         "api_key": "demo-key"},
        {"model": "mistral-nemo", "provider": "mistral", "api_key": "demo-key"},
    ],
}

CHINESE_DOC = (
    "人工智能正在深刻改变企业的运营方式。从客户服务到供应链管理，越来越多的公司开始使用大型语言模型"
    "来自动化重复性工作、总结长篇文档并辅助决策。然而，模型调用的成本会随着使用量迅速增长，"
    "因此选择合适的模型、控制每次请求的预算变得至关重要。"
) * 12


def _png_data_url(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", width, height) + b"\x08\x06"
    return "data:image/png;base64," + base64.b64encode(header + b"\x00" * 32).decode()


def _requests() -> list[tuple[str, Any, dict[str, Any]]]:
    return [
        ("short question", "What is the capital of Australia?", {"budget": "0.001", "max_tokens": 100}),
        ("code task (best model within budget)",
         [{"role": "system", "content": "You are a senior Python reviewer."},
          {"role": "user", "content": "Write a function that merges overlapping intervals, "
                                      "with type hints and tests."}],
         {"budget": "0.01", "max_tokens": 600, "strategy": "best"}),
        ("image question (2048x2048 photo)",
         [{"role": "user", "content": [
             {"type": "text", "text": "What is written on this receipt?"},
             {"type": "image_url", "image_url": {"url": _png_data_url(2048, 2048)}}]}],
         {"budget": "0.01", "max_tokens": 100}),
        ("long Chinese document", f"请用三句话总结以下文档：\n{CHINESE_DOC}", {"budget": "0.002"}),
        ("cannot fit its budget", "Summarise the history of Rome in detail. " * 50,
         {"budget": "0.00001", "max_tokens": 2000}),
    ]


def run_demo(out: TextIO = sys.stdout) -> Decimal:
    """Route the demo requests, print each decision and cost, and return the total spent."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router = Router(DEMO_CONFIG, transport=mock_transport(), env={})
    out.write("router demo: offline, through the real OpenAI and Mistral adapters and a built-in mock\n")
    for w in caught:
        out.write(f"  lifecycle: {w.message}\n")
    total = Decimal(0)
    for title, messages, options in _requests():
        out.write(f"\n== {title} (budget {format_usd(Decimal(options['budget']))})\n")
        try:
            reply = router.complete(messages, **options)
        except BudgetExceeded as exc:
            out.write(f"  refused before sending: {exc}\n")
            continue
        out.write("  " + str(reply.decision).replace("\n", "\n  ") + "\n")
        out.write(
            f"  -> {reply.model} answered {reply.usage.input_tokens} in / "
            f"{reply.usage.output_tokens} out tokens, cost {format_usd(reply.cost)}\n"
        )
        total += reply.cost
    stream = router.stream("Give me three tips for writing clear commit messages.", budget="0.001")
    out.write("\n== streaming: ")
    for delta in stream:
        out.write(delta)
    out.write(f"\n  -> {stream.reply.model}, cost {format_usd(stream.reply.cost)}\n")
    total += stream.reply.cost
    out.write(f"\nTotal spent: {format_usd(total)}\n")
    router.close()
    return total


def main() -> None:
    run_demo()


if __name__ == "__main__":
    main()
