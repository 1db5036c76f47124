"""How fast is the fake provider itself? Run: ``python bench/server_speed.py``.

The server runs in its own process; ``--clients`` processes of a bare keep-alive asyncio client
(64 connections each) send identical requests for ``--seconds``. Prints requests/s, plain and
streaming, and the server's CPU time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _clients import CLIENTS, Urls
from _common import cell, concurrent_rps, format_table, process_cpu_seconds

__all__ = ["main"]


def _client(url: str, stream: bool, seconds: float, concurrency: int) -> int:
    async def run() -> int:
        call = CLIENTS["bare-asyncio"].factory(Urls(url))
        await call(stream)
        _, done = await concurrent_rps(
            call, stream, count=10**9, concurrency=concurrency, cap=seconds
        )
        return int(done)

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64, help="connections per client")
    parser.add_argument("--output-tokens", type=int, default=16)
    args = parser.parse_args(argv)

    from router.testing import FakeProviderProcess

    rows = []
    server_args = ["--output-tokens", str(args.output_tokens), "--log-limit", "1000"]
    with (
        FakeProviderProcess(server_args) as server,
        multiprocessing.get_context("spawn").Pool(args.clients) as pool,
    ):
        for stream in (False, True):  # warm up: start the clients, fill the server's cache
            pool.starmap(_client, [(server.url, stream, 0.5, args.concurrency)] * args.clients)
        for stream in (False, True):
            before = process_cpu_seconds(server.pid)
            job = (server.url, stream, args.seconds, args.concurrency)
            done = sum(pool.starmap(_client, [job] * args.clients))
            after = process_cpu_seconds(server.pid)
            cpu = None if before is None or after is None else (after - before) / done * 1e6
            rps = done / args.seconds
            rows.append(["stream" if stream else "plain", f"{rps:,.0f}", cell(cpu, ".0f")])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"fake provider, {args.clients} bare client process(es) x {args.concurrency} connections, "
        f"{args.output_tokens} output tokens (cpus: {os.cpu_count()}, load average: {load})\n"
    )
    print(format_table(["mode", "req/s", "server CPU us/req"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
