"""How much time does the router add to a raw SDK call? Run: ``python bench/overhead.py``.

A fake provider (``router.testing``) runs in its own process on 127.0.0.1; each client runs in a
fresh process: first sequential latency (median of ``--reps`` runs, before any burst, because
the openai SDK slows down as its idle pool grows), then throughput at ``--concurrency``, plain
and streaming. Prints a table and the router/raw ratios. ``--quick`` for a short run.
litellm and aiohttp rows need those packages: in this interpreter or in ``--extra-python``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _clients import CLIENTS, ClientSpec, Urls
from _common import (
    Result,
    cell,
    concurrent_rps,
    format_table,
    median,
    process_cpu_seconds,
    sequential_ms,
    sequential_ms_sync,
)

__all__ = ["main"]

MODES = {"plain": False, "stream": True}


# -- worker: one client, in its own process --------------------------------------------------


async def _measure_async(spec: ClientSpec, urls: Urls, args: argparse.Namespace) -> list[Result]:
    call = spec.factory(urls)
    results = [Result(spec.name, stream) for stream in MODES.values()]
    for result in results:
        if not await call(result.stream):
            raise RuntimeError(f"{spec.name}: empty reply")
        for _ in range(args.warmup):
            await call(result.stream)
        for _ in range(args.reps):
            ms, done = await sequential_ms(call, result.stream, count=args.seq, cap=args.seq_cap)
            result.seq_ms.append(ms)
            result.requests += done
    for result in results:  # bursts last: they grow the connection pool
        for _ in range(args.reps):
            rps, done = await concurrent_rps(
                call,
                result.stream,
                count=args.conc,
                concurrency=args.concurrency,
                cap=args.conc_cap,
            )
            result.conc_rps.append(rps)
            result.requests += done
    return results


def _measure_sync(spec: ClientSpec, urls: Urls, args: argparse.Namespace) -> list[Result]:
    call = spec.factory(urls)
    results = [Result(spec.name, stream) for stream in MODES.values()]
    for result in results:
        if not call(result.stream):
            raise RuntimeError(f"{spec.name}: empty reply")
        for _ in range(args.warmup):
            call(result.stream)
        for _ in range(args.reps):
            ms, done = sequential_ms_sync(call, result.stream, count=args.seq, cap=args.seq_cap)
            result.seq_ms.append(ms)
            result.requests += done
    return results


def run_worker(args: argparse.Namespace) -> int:
    spec = CLIENTS[args.worker]
    urls = Urls(args.url)
    if spec.is_async:
        results = asyncio.run(_measure_async(spec, urls, args))
    else:
        results = _measure_sync(spec, urls, args)
    print(json.dumps([asdict(r) for r in results]), flush=True)
    return 0


# -- orchestrator ----------------------------------------------------------------------------


def _importable(module: str, python: str) -> bool:
    if python == sys.executable:
        return importlib.util.find_spec(module) is not None
    check = [
        python,
        "-c",
        f"import importlib.util as u, sys; sys.exit(u.find_spec({module!r}) is None)",
    ]
    return subprocess.run(check, capture_output=True).returncode == 0


def _interpreter(spec: ClientSpec, extra: str | None) -> tuple[str | None, str]:
    """The Python to run ``spec`` with, or ``None`` and why it is skipped."""
    if spec.module is None or _importable(spec.module, sys.executable):
        if spec.module == "router":
            import router

            if not hasattr(router, "Router"):
                return None, "router.Router is not there yet"
        return sys.executable, ""
    if extra and _importable(spec.module, extra):
        return extra, ""
    return None, f"{spec.module} is not installed (see --extra-python)"


def _run_client(spec: ClientSpec, python: str, url: str, args: argparse.Namespace) -> list[Result]:
    command = [python, __file__, "--worker", spec.name, "--url", url]
    for option in ("seq", "conc", "reps", "warmup", "concurrency", "seq_cap", "conc_cap"):
        command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1][:120]
        return [Result(spec.name, stream, error=error) for stream in MODES.values()]
    return [Result(**item) for item in json.loads(lines[-1])]


def _ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


def _report(results: dict[tuple[str, bool], Result], skipped: dict[str, str]) -> str:
    rows = []
    for (name, stream), r in results.items():
        mode = "stream" if stream else "plain"
        if r.error:
            rows.append([CLIENTS[name].label, mode, "error", r.error, ""])
            continue
        rps = median(r.conc_rps)
        rows.append(
            [
                CLIENTS[name].label,
                mode,
                cell(median(r.seq_ms), ".3f"),
                cell(rps, ",.0f"),
                str(r.requests),
            ]
        )
    for name, why in skipped.items():
        rows.append([CLIENTS[name].label, "-", "skipped", why, ""])
    out = [format_table(["client", "mode", "seq ms/req", "conc req/s", "requests"], rows)]
    ratios = []
    for (name, stream), r in results.items():
        base = results.get((CLIENTS[name].baseline or "", stream))
        if base is None or r.error or base.error:
            continue
        seq = _ratio(median(r.seq_ms), median(base.seq_ms))
        conc = _ratio(median(r.conc_rps), median(base.conc_rps))
        ratios.append(
            [
                f"{CLIENTS[name].label} / {CLIENTS[base.client].label}",
                "stream" if stream else "plain",
                cell(seq, ".2f") + ("x" if seq else ""),
                cell(conc, ".2f") + ("x" if conc else ""),
            ]
        )
    if ratios:
        headers = ["ratio (target: seq <= 1.05x, conc >= 0.95x)", "mode", "seq time", "conc req/s"]
        out += ["", format_table(headers, ratios)]
    return "\n".join(out)


def run_all(args: argparse.Namespace) -> int:
    from router.testing import FakeProviderProcess

    wanted = args.only.split(",") if args.only else list(CLIENTS)
    unknown = sorted(set(wanted) - set(CLIENTS))
    if unknown:
        sys.exit(f"unknown client(s) {unknown}; known: {', '.join(CLIENTS)}")
    results: dict[tuple[str, bool], Result] = {}
    skipped: dict[str, str] = {}
    started = time.perf_counter()
    server_args = ["--output-tokens", str(args.output_tokens), "--log-limit", "1000"]
    with FakeProviderProcess(server_args) as server:
        cpu_before = process_cpu_seconds(server.pid)
        for name in wanted:
            spec = CLIENTS[name]
            python, why = _interpreter(spec, args.extra_python)
            if python is None:
                skipped[name] = why
                continue
            print(f"  measuring {spec.label} ...", file=sys.stderr, flush=True)
            for result in _run_client(spec, python, server.url, args):
                results[(name, result.stream)] = result
        cpu_after = process_cpu_seconds(server.pid)
    print(
        f"\nrouter overhead benchmark ({args.seq} sequential x {args.reps}, {args.conc} at "
        f"{args.concurrency} concurrent; {args.output_tokens} output tokens; "
        f"{time.perf_counter() - started:.0f} s)\n"
    )
    print(_report(results, skipped))
    served = sum(r.requests for r in results.values())
    if cpu_before is not None and cpu_after is not None and served:
        per_request = (cpu_after - cpu_before) / served
        print(
            f"\nfake provider: {served:,} requests, {per_request * 1e6:.0f} us CPU each "
            f"(about {1 / per_request:,.0f} req/s on one core)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results.values()], indent=1))
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--only", help=f"comma-separated clients: {', '.join(CLIENTS)}")
    parser.add_argument("--seq", type=int, default=2000, help="sequential requests per run")
    parser.add_argument("--conc", type=int, default=5000, help="requests per concurrent run")
    parser.add_argument("--reps", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seq-cap", type=float, default=2.0, help="max seconds per seq run")
    parser.add_argument("--conc-cap", type=float, default=2.5, help="max seconds per conc run")
    parser.add_argument("--output-tokens", type=int, default=16)
    parser.add_argument("--extra-python", help="an interpreter with litellm / aiohttp")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--worker", choices=list(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.seq, args.conc, args.reps, args.warmup = 300, 1000, 1, 20
        args.seq_cap, args.conc_cap = 0.75, 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    return run_worker(args) if args.worker else run_all(args)


if __name__ == "__main__":
    sys.exit(main())
