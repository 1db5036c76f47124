"""Timing loops, statistics and the results table shared by the benchmarks.

Each measurement runs one client against the fake provider: sequential latency (ms/request) and
the client process's CPU per request, or throughput at a fixed concurrency (requests/s),
stopping at a request count or a time cap.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Result",
    "cell",
    "concurrent_rps",
    "format_table",
    "median",
    "process_cpu_seconds",
    "sequential_ms",
    "sequential_ms_sync",
]

AsyncCall = Callable[[bool], Awaitable[None]]
SyncCall = Callable[[bool], None]


@dataclass
class Result:
    """What one worker measured for one client and mode (plain or streaming)."""

    client: str
    stream: bool
    seq_ms: list[float] = field(default_factory=list)
    seq_cpu_us: list[float] = field(default_factory=list)
    conc_rps: list[float] = field(default_factory=list)
    requests: int = 0
    error: str | None = None


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


async def sequential_ms(
    call: AsyncCall, stream: bool, *, count: int, cap: float
) -> tuple[float, int, float]:
    """Mean ms per request of ``count`` requests one after another (fewer if ``cap`` s pass),
    the number done, and the client process's CPU µs per request (the server runs elsewhere, so
    this is the client's own work, steadier than wall time on a shared machine)."""
    done = 0
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + cap
    while done < count:
        await call(stream)
        done += 1
        if done % 16 == 0 and time.perf_counter() > deadline:
            break
    wall = time.perf_counter() - started
    return wall * 1000 / done, done, (time.process_time() - cpu) * 1e6 / done


def sequential_ms_sync(
    call: SyncCall, stream: bool, *, count: int, cap: float
) -> tuple[float, int, float]:
    """The sync twin of :func:`sequential_ms`."""
    done = 0
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + cap
    while done < count:
        call(stream)
        done += 1
        if done % 16 == 0 and time.perf_counter() > deadline:
            break
    wall = time.perf_counter() - started
    return wall * 1000 / done, done, (time.process_time() - cpu) * 1e6 / done


async def concurrent_rps(
    call: AsyncCall, stream: bool, *, count: int, concurrency: int, cap: float
) -> tuple[float, int]:
    """Requests/s with ``concurrency`` requests in flight until ``count`` are done or ``cap`` s."""
    remaining = count
    done = 0
    started = time.perf_counter()
    deadline = started + cap

    async def worker() -> None:
        nonlocal remaining, done
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            await call(stream)
            done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started), done


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``); ``None`` elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cell(value: float | None, fmt: str) -> str:
    """A table cell: ``-`` for a missing value."""
    return "-" if value is None else format(value, fmt)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for n, row in enumerate([headers, *rows]):
        cells = [
            str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
            for i, c in enumerate(row)
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
