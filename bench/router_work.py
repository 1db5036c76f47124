"""The router's own work per call: the raw `openai` SDK against `Router.complete`/`acomplete`, in
one process, over an `httpx.MockTransport` that returns a canned chat completion (no network).

Clients are measured interleaved, round by round, so that each router row and its raw SDK see the
same machine load; the added µs is the median of the per-round differences. A per-step breakdown
of one routed call follows. Runs in about 30 s:

    PYTHONPATH=src python bench/router_work.py [--rounds 15] [--calls 100]

`--server` runs the same interleaved comparison against the fake provider (`router.testing`) in
another process on 127.0.0.1, over real sockets: the raw SDK with its own client, the router on
each HTTP stack, timed in this process's CPU (the server's work is not counted). About 1 min.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import openai

from router import Router

MESSAGES = [{"role": "user", "content": "Say hello to the benchmark, in a few words."}]
MAX_TOKENS = 16
BASE = "http://x/v1"

_BODY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1764000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello, benchmark!"}}],
    "usage": {"prompt_tokens": 18, "completion_tokens": 4, "total_tokens": 22,
              "prompt_tokens_details": {"cached_tokens": 0}},
}).encode()


def _handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=_BODY, headers={"content-type": "application/json",
                                                        "x-request-id": "req-bench"})


def transport() -> httpx.MockTransport:
    return httpx.MockTransport(_handler)


def _dep(model: str) -> dict[str, Any]:
    return {"model": model, "provider": "openai", "api_key": "k", "base_url": BASE}


CONFIGS: dict[str, dict[str, Any]] = {
    "1 deployment": {"deployments": [_dep("gpt-4o-mini")]},
    "3 deployments": {"deployments": [_dep("gpt-4o-mini"), _dep("gpt-4o"), _dep("mistral-nemo")]},
    "shared budget": {"deployments": [_dep("gpt-4o-mini")],
                      "budgets": [{"scope": "global", "limit": "1000000", "window": "day"}]},
}


def raw_sync() -> Callable[[], object]:
    client = openai.OpenAI(api_key="k", base_url=BASE, max_retries=0,
                           http_client=httpx.Client(transport=transport()))
    create = client.chat.completions.create
    return lambda: create(model="gpt-4o-mini", messages=MESSAGES,  # type: ignore[arg-type]
                          max_completion_tokens=MAX_TOKENS)


def raw_post() -> Callable[[], object]:
    """The raw SDK on the router's own path: `post` with a ready body (no parameter transform),
    the decoded JSON back (no response model built)."""
    import httpx2

    client = openai.OpenAI(api_key="k", base_url=BASE, max_retries=0,
                           http_client=httpx.Client(transport=transport()))
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_completion_tokens": MAX_TOKENS}
    return lambda: client.post("/chat/completions", cast_to=httpx2.Response, body=body,
                               options={"timeout": 60.0}).json()


def raw_async() -> Callable[[], Awaitable[object]]:
    client = openai.AsyncOpenAI(api_key="k", base_url=BASE, max_retries=0,
                                http_client=httpx.AsyncClient(transport=transport()))
    create = client.chat.completions.create
    return lambda: create(model="gpt-4o-mini", messages=MESSAGES,  # type: ignore[arg-type]
                          max_completion_tokens=MAX_TOKENS)


def make_router(name: str) -> Router:
    return Router(CONFIGS[name], transport=transport(), env={})


def _time_sync(call: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) * 1e6 / n


async def _time_async(call: Callable[[], Awaitable[object]], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - started) * 1e6 / n


def _report(title: str, results: dict[str, list[float]], baseline: str) -> None:
    print(f"\n{title}")
    print(f"  {'client':<34} {'µs/call':>9} {'added µs':>9} {'ratio':>7}")
    base = results[baseline]
    for name, values in results.items():
        med = statistics.median(values)
        if name == baseline:
            print(f"  {name:<34} {med:9.1f}")
            continue
        added = statistics.median(v - b for v, b in zip(values, base, strict=True))
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        print(f"  {name:<34} {med:9.1f} {added:9.1f} {ratio:6.3f}x")


def measure_sync(rounds: int, calls: int) -> None:
    clients: dict[str, Callable[[], object]] = {"raw openai.OpenAI": raw_sync()}
    for name in CONFIGS:
        router = make_router(name)
        clients[f"router.complete, {name}"] = (
            lambda r=router: r.complete(MESSAGES, max_tokens=MAX_TOKENS))
    results: dict[str, list[float]] = {name: [] for name in clients}
    for call in clients.values():  # warm up: imports, tokenizer, pools
        _time_sync(call, 50)
    for i in range(rounds):
        names = list(clients)
        names = names[i % len(names):] + names[: i % len(names)]  # rotate who goes first
        for name in names:
            results[name].append(_time_sync(clients[name], calls))
    _report("sync (median of rounds)", results, "raw openai.OpenAI")


async def measure_async(rounds: int, calls: int) -> None:
    clients: dict[str, Callable[[], Awaitable[object]]] = {"raw openai.AsyncOpenAI": raw_async()}
    for name in ("1 deployment", "shared budget"):
        router = make_router(name)
        clients[f"router.acomplete, {name}"] = (
            lambda r=router: r.acomplete(MESSAGES, max_tokens=MAX_TOKENS))
    results: dict[str, list[float]] = {name: [] for name in clients}
    for call in clients.values():
        await _time_async(call, 50)
    for i in range(rounds):
        names = list(clients)
        names = names[i % len(names):] + names[: i % len(names)]
        for name in names:
            results[name].append(await _time_async(clients[name], calls))
    _report("async (median of rounds)", results, "raw openai.AsyncOpenAI")


def _cpu_sync(call: Callable[[], object], n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - started) * 1e6 / n


def measure_server(rounds: int, calls: int) -> None:
    """Raw SDK against the router over real sockets, interleaved, in client CPU µs per call."""
    from router.testing import FakeProviderProcess

    with FakeProviderProcess(["--output-tokens", "16"]) as server:
        base = server.url.rstrip("/") + "/v1"
        create = openai.OpenAI(api_key="k", base_url=base, max_retries=0).chat.completions.create
        clients: dict[str, Callable[[], object]] = {
            "raw openai.OpenAI (its httpx2)": lambda: create(
                model="gpt-4o-mini", messages=MESSAGES,  # type: ignore[arg-type]
                max_completion_tokens=MAX_TOKENS)}
        for stack in ("httpx", "httpx2"):
            config = {"deployments": [{**_dep("gpt-4o-mini"), "base_url": base}],
                      "http_client": stack}
            router = Router(config, env={})
            clients[f"router.complete, {stack}"] = (
                lambda r=router: r.complete(MESSAGES, max_tokens=MAX_TOKENS))
        results: dict[str, list[float]] = {name: [] for name in clients}
        for call in clients.values():
            _cpu_sync(call, 100)
        for i in range(rounds):
            names = list(clients)
            names = names[i % len(names):] + names[: i % len(names)]
            for name in names:
                results[name].append(_cpu_sync(clients[name], calls))
    _report("sync, fake provider over 127.0.0.1 (client CPU, median of rounds)", results,
            "raw openai.OpenAI (its httpx2)")


def breakdown(n: int) -> None:
    """The steps of one sync call on the 1-deployment router, each timed alone (µs, median of 5)."""
    from router.types import Completion, FinishReason, Usage

    router = make_router("1 deployment")
    router.complete(MESSAGES, max_tokens=MAX_TOKENS)
    routing = router._routing(MESSAGES, None, None, None, {"max_tokens": MAX_TOKENS})
    decision, hold = router._budgets.reserve(routing)
    hold.close()
    request = routing.request
    provider = router._provider(decision.candidates[0].target)
    completion = Completion("Hello, benchmark!", FinishReason.STOP, Usage(18, 4), (), "req", "m")
    import httpx2

    resp = provider.client.post(  # type: ignore[attr-defined]
        "/chat/completions", cast_to=httpx2.Response, body=provider._body(  # type: ignore[attr-defined]
            request, router._call(request, decision).options_for(decision.candidates[0])))

    def routing_step() -> None:
        router._routing(MESSAGES, None, None, None, {"max_tokens": MAX_TOKENS})

    def decide_step() -> None:
        routing.decide(None, {})

    def ledger_step() -> None:  # the decision is made inside: its time is subtracted below
        _, h = router._budgets.reserve(routing)
        h.close()

    def call_step() -> None:
        call = router._call(request, decision)
        action = call.next_action()
        call.accept(action, completion)  # type: ignore[arg-type]

    def adapter_step() -> None:
        call = router._call(request, decision)
        action = call.next_action()
        provider._body(request, action.options)  # type: ignore[union-attr]
        provider._completion(resp, 0.0)  # type: ignore[attr-defined]

    def adapter_only() -> None:
        router._call(request, decision).next_action()

    def whole() -> None:
        router.complete(MESSAGES, max_tokens=MAX_TOKENS)

    def raw() -> None:
        sdk()

    def raw_posted() -> None:
        post()

    sdk, post = raw_sync(), raw_post()
    steps: dict[str, Callable[[], None]] = {
        "_routing (validation, clock, breaker)": routing_step,
        "decide (tokens, price, rank)": decide_step,
        "ledger reserve + settle": ledger_step,
        "CallState + accept (reply, cost)": call_step,
        "adapter body + completion": adapter_step,
        "  (minus CallState + next_action)": adapter_only,
        "whole router.complete": whole,
        "raw SDK call": raw,
        POSTED: raw_posted,
    }
    timings: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(5):
        for name, step in steps.items():
            timings[name].append(_time_sync(step, n))
    print("\nper step, sync, 1 deployment (µs, median of 5 runs)")
    med = {name: statistics.median(v) for name, v in timings.items()}
    med["adapter body + completion"] -= med.pop("  (minus CallState + next_action)")
    med["ledger reserve + settle"] -= med["decide (tokens, price, rank)"]
    for name, value in med.items():
        print(f"  {name:<40} {value:8.1f}")
    whole = med["whole router.complete"]
    print(f"  {'whole - raw SDK call':<40} {whole - med['raw SDK call']:8.1f}")
    print(f"  {'router work (whole - raw SDK post)':<40} "
          f"{whole - med[POSTED]:8.1f}")


def count_only(kind: str, n: int) -> None:
    """`n` calls of one client and nothing else, for instruction counts under callgrind: run it
    with two values of `n` and divide the difference by theirs (start-up cancels out)."""
    router = None if kind in ("raw", "araw", "post") else make_router(
        CONFIG_OF[kind.removeprefix("a")])
    # Collections of the start-up heap would land at random in one run or the other.
    gc.freeze()
    if kind.startswith("a"):
        acall = raw_async() if router is None else (
            lambda: router.acomplete(MESSAGES, max_tokens=MAX_TOKENS))

        async def run() -> None:
            for _ in range(n + 5):
                await acall()

        asyncio.run(run())
        return
    call = (raw_post() if kind == "post" else raw_sync()) if router is None else (
        lambda: router.complete(MESSAGES, max_tokens=MAX_TOKENS))
    for _ in range(n + 5):
        call()


POSTED = "raw SDK post (the router's path)"
CONFIG_OF = {"router": "1 deployment", "router3": "3 deployments", "budget": "shared budget"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--server", action="store_true",
                        help="against the fake provider over real sockets (client CPU)")
    parser.add_argument("--count-only", nargs=2, metavar=("CLIENT", "N"),
                        help="raw, post, router, router3, budget, araw, arouter or abudget: N calls only")
    args = parser.parse_args()
    if args.count_only:
        count_only(args.count_only[0], int(args.count_only[1]))
        return
    if args.server:
        measure_server(args.rounds, args.calls)
        return
    measure_sync(args.rounds, args.calls)
    asyncio.run(measure_async(args.rounds, args.calls))
    breakdown(args.calls * 5)


if __name__ == "__main__":
    main()
