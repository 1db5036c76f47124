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
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

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


# -- worker: one client, in its own process, measuring on command ----------------------------


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def _serve_async(spec: ClientSpec, urls: Urls, warmup: int) -> None:
    call = spec.factory(urls)
    for stream in MODES.values():
        if not await call(stream):
            raise RuntimeError(f"{spec.name}: empty reply")
        for _ in range(warmup):
            await call(stream)
    _say({"ready": True})
    burst_warm: set[bool] = set()
    for line in sys.stdin:
        job = json.loads(line)
        if job["kind"] != "seq" and job["stream"] not in burst_warm:
            # Open the pool's connections before the first timed burst (after every sequential
            # run, which must see a one-connection pool), so no client is timed dialling.
            burst_warm.add(job["stream"])
            for _ in range(3):
                await asyncio.gather(*(call(job["stream"]) for _ in range(job["concurrency"])))
        cpu_us = None
        if job["kind"] == "seq":
            value, done, cpu_us = await sequential_ms(
                call, job["stream"], count=job["count"], cap=job["cap"]
            )
        else:
            value, done = await concurrent_rps(
                call,
                job["stream"],
                count=job["count"],
                concurrency=job["concurrency"],
                cap=job["cap"],
            )
        _say({"value": value, "done": done, "cpu_us": cpu_us})


def _serve_sync(spec: ClientSpec, urls: Urls, warmup: int) -> None:
    call = spec.factory(urls)
    for stream in MODES.values():
        if not call(stream):
            raise RuntimeError(f"{spec.name}: empty reply")
        for _ in range(warmup):
            call(stream)
    _say({"ready": True})
    for line in sys.stdin:
        job = json.loads(line)
        value, done, cpu_us = sequential_ms_sync(
            call, job["stream"], count=job["count"], cap=job["cap"]
        )
        _say({"value": value, "done": done, "cpu_us": cpu_us})


def run_worker(args: argparse.Namespace) -> int:
    """Set the client up, warm it up, then run the measurements the orchestrator asks for."""
    spec = CLIENTS[args.worker]
    if spec.is_async:
        asyncio.run(_serve_async(spec, Urls(args.url), args.warmup))
    else:
        _serve_sync(spec, Urls(args.url), args.warmup)
    return 0


class Worker:
    """The orchestrator's handle on one worker process (JSON lines over stdin/stdout)."""

    def __init__(self, spec: ClientSpec, python: str, url: str, warmup: int) -> None:
        self.spec = spec
        self.error: str | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        command = [python, __file__, "--worker", spec.name, "--url", url, "--warmup", str(warmup)]
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        self._read()  # {"ready": true} once imported and warmed up

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline() if self.error is None else ""
        if not line:
            self._stderr.seek(0)
            lines = self._stderr.read().strip().splitlines() or ["exited without output"]
            self.error = self.error or lines[-1][:120]
            return {}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, **job: Any) -> tuple[float, int, float | None] | None:
        """One measurement (value, requests done, client CPU µs/request for sequential runs);
        ``None`` if the worker has failed."""
        if self.error is not None:
            return None
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(job) + "\n")
        self._process.stdin.flush()
        answer = self._read()
        return (answer["value"], answer["done"], answer.get("cpu_us")) if answer else None

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()


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


def _paired(workers: list[Worker]) -> list[Worker]:
    """``workers`` reordered so that each one with a baseline comes right after it."""
    ordered = [w for w in workers if w.spec.baseline is None]
    for worker in [w for w in workers if w.spec.baseline is not None]:
        names = [w.spec.name for w in ordered]
        base = worker.spec.baseline
        ordered.insert(names.index(base) + 1 if base in names else len(ordered), worker)
    return ordered


def _ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


def _report(results: dict[tuple[str, bool], Result], skipped: dict[str, str]) -> str:
    rows = []
    for (name, stream), r in results.items():
        mode = "stream" if stream else "plain"
        if r.error:
            rows.append([CLIENTS[name].label, mode, "error", r.error, "", ""])
            continue
        rps = median(r.conc_rps)
        rows.append(
            [
                CLIENTS[name].label,
                mode,
                cell(median(r.seq_ms), ".3f"),
                cell(median(r.seq_cpu_us), ",.0f"),
                cell(rps, ",.0f"),
                str(r.requests),
            ]
        )
    for name, why in skipped.items():
        rows.append([CLIENTS[name].label, "-", "skipped", why, "", ""])
    headers = ["client", "mode", "seq ms/req", "seq client CPU us/req", "conc req/s", "requests"]
    out = [format_table(headers, rows)]
    ratios = []
    for (name, stream), r in results.items():
        base = results.get((CLIENTS[name].baseline or "", stream))
        if base is None or r.error or base.error:
            continue
        seq = _ratio(median(r.seq_ms), median(base.seq_ms))
        cpu = _ratio(median(r.seq_cpu_us), median(base.seq_cpu_us))
        conc = _ratio(median(r.conc_rps), median(base.conc_rps))
        ratios.append(
            [
                f"{CLIENTS[name].label} / {CLIENTS[base.client].label}",
                "stream" if stream else "plain",
                cell(seq, ".2f") + ("x" if seq else ""),
                cell(cpu, ".2f") + ("x" if cpu else ""),
                cell(conc, ".2f") + ("x" if conc else ""),
            ]
        )
    if ratios:
        headers = [
            "ratio (target: seq <= 1.05x, conc >= 0.95x)", "mode", "seq time", "seq CPU",
            "conc req/s",
        ]
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
        workers: list[Worker] = []
        for name in wanted:
            spec = CLIENTS[name]
            python, why = _interpreter(spec, args.extra_python)
            if python is None:
                skipped[name] = why
                continue
            print(f"  starting {spec.label} ...", file=sys.stderr, flush=True)
            workers.append(Worker(spec, python, server.url, args.warmup))
            for stream in MODES.values():
                results[(name, stream)] = Result(name, stream)
        # Rounds across clients, each right after its baseline, so that a router and its raw
        # SDK are measured close in time; every sequential run comes before any burst (bursts
        # grow the SDKs' idle pools).
        workers = _paired(workers)
        steps = [("seq", stream) for stream in MODES.values()]
        steps += [("conc", stream) for stream in MODES.values()]
        for kind, stream in steps:
            for rep in range(args.reps):
                print(
                    f"  {kind} {'stream' if stream else 'plain'} run {rep + 1}/{args.reps}",
                    file=sys.stderr,
                    flush=True,
                )
                for worker in workers:
                    if kind == "conc" and not worker.spec.is_async:
                        continue
                    job: dict[str, Any] = {"kind": kind, "stream": stream}
                    if kind == "seq":
                        job.update(count=args.seq, cap=args.seq_cap)
                    else:
                        job.update(count=args.conc, cap=args.conc_cap, concurrency=args.concurrency)
                    measured = worker.run(**job)
                    result = results[(worker.spec.name, stream)]
                    if measured is None:
                        result.error = worker.error
                        continue
                    (result.seq_ms if kind == "seq" else result.conc_rps).append(measured[0])
                    if measured[2] is not None:
                        result.seq_cpu_us.append(measured[2])
                    result.requests += measured[1]
        for worker in workers:
            worker.close()
        cpu_after = process_cpu_seconds(server.pid)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nrouter overhead benchmark ({args.seq} sequential x {args.reps}, {args.conc} at "
        f"{args.concurrency} concurrent; {args.output_tokens} output tokens; "
        f"{time.perf_counter() - started:.0f} s; {os.cpu_count()} cpus, load average {load})\n"
    )
    print(_report(results, skipped))
    served = sum(r.requests for r in results.values())
    if cpu_before is not None and cpu_after is not None and served:
        per_request = (cpu_after - cpu_before) / served
        print(
            f"\nfake provider: {served:,} requests, {per_request * 1e6:.0f} us of its CPU each "
            "at these clients' pace (its ceiling: bench/server_speed.py)"
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
    parser.add_argument("--warmup", type=int, default=30, help="requests per mode before timing")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seq-cap", type=float, default=2.0, help="max seconds per seq run")
    parser.add_argument("--conc-cap", type=float, default=3.0, help="max seconds per conc run")
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
