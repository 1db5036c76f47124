"""`router estimate`: what a prompt or a whole corpus would cost on each deployment, each model's
input counted with its own tokenizer (o200k_base for GPT-4o, Tekken for NeMo)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from router.cli.common import CliError, Options, dump_json, err_console, out_console, usd
from router.cli.corpus import Item, Skipped, collect_files, looks_like_path, read_items
from router.config import build_deployments
from router.deployments import Deployment, LifecycleState
from router.errors import InvalidRequestError
from router.messages import build_request
from router.settings import resolve
from router.tokens import RequestTokens, exact_tokenizer_available

__all__ = ["MAX_OUTPUT_TOKENS", "Tally", "estimate"]

MAX_OUTPUT_TOKENS = 10**9  # far above any model's output limit; beyond it is a typo
STDIN = "<stdin>"


@dataclass(slots=True)
class Tally:
    """What one deployment would be billed for the whole input."""

    deployment: Deployment
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    too_long: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether it can take every request (none too long for its context window)."""
        return not self.too_long

    def rank(self) -> tuple[int, Decimal, str]:
        """Those that take every request first, by cost; then by how many they cannot take."""
        return len(self.too_long), self.total, self.deployment.id

    @property
    def input_cost(self) -> Decimal:
        return self.input_tokens * self.deployment.price.input_per_token

    @property
    def output_cost(self) -> Decimal:
        return self.output_tokens * self.deployment.price.output_per_token

    @property
    def total(self) -> Decimal:
        return self.input_cost + self.output_cost

    def add(self, input_tokens: int, output_tokens: int, where: str) -> None:
        dep = self.deployment
        if input_tokens + output_tokens > dep.context_window:
            self.too_long.append(where)
            return
        self.requests += 1
        self.input_tokens += input_tokens
        self.output_tokens += min(output_tokens, dep.max_output_tokens)

    def as_json(self) -> dict[str, Any]:
        dep = self.deployment
        return {"deployment": dep.id, "model": dep.model, "tokenizer": dep.spec.tokenizer,
                "exact_tokenizer": exact_tokenizer_available(dep.spec.tokenizer),
                "requests": self.requests, "complete": self.complete,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "input_cost": self.input_cost,
                "output_cost": self.output_cost, "total_cost": self.total,
                "too_long": len(self.too_long), "price_source": dep.price.source}


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="PROMPT|FILE|DIR...")
@click.option("--text", "literal", is_flag=True,
              help="Treat the arguments as prompt text, even when they look like paths.")
@click.option("--output-tokens", type=click.IntRange(min=0, max=MAX_OUTPUT_TOKENS), metavar="N",
              help="Output tokens to assume per request [default: the config's "
                   "routing.expected_output_tokens, 256].")
@click.option("-m", "--model", "models", multiple=True, help="Only these catalog models.")
@click.option("--field", metavar="KEY",
              help="JSONL: the key holding each request's text or messages.")
@click.option("--skip-bad", is_flag=True,
              help="Skip unreadable files and malformed JSONL lines (listed) instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def estimate(opts: Options, inputs: tuple[str, ...], literal: bool, output_tokens: int | None,
             models: tuple[str, ...], field: str | None, skip_bad: bool, as_json: bool) -> None:
    """What the input would cost on each configured deployment, before sending anything.

    PROMPT is priced as one request; a FILE as one request, or one per line when it is JSONL
    ({"messages": [...]}, {"prompt": "..."} or {"text": "..."}); a DIR as every file under it;
    '-' as one request holding the whole of standard input.
    Each model counts the input with its own tokenizer; output is assumed, not known.
    Deployments that take every request are ranked first, by cost; the others after them.
    """
    resolved = resolve(opts.config, env=os.environ)
    _, deployments = build_deployments(resolved.config, resolved.unset, resolved.source)
    today = opts.date()
    known = {d.model for d in deployments}
    unknown = [m for m in models if m not in known]
    if unknown:
        raise CliError(f"no deployment serves {', '.join(map(repr, unknown))}; configured "
                       f"models: {', '.join(sorted(known))}")
    retired = [d for d in deployments if d.lifecycle_state(today) is LifecycleState.RETIRED]
    tallies = [Tally(d) for d in deployments if d not in retired and (not models or d.model in models)]
    if not tallies:
        raise CliError("no live deployment to estimate on (all retired or filtered out)")
    out_tokens = (resolved.config.routing.expected_output_tokens if output_tokens is None
                  else output_tokens)
    skipped: list[Skipped] = []
    from_stdin = not literal and inputs == ("-",)
    files = None if from_stdin else _files(inputs, literal, skip_bad=skip_bad, skipped=skipped)
    if files is None:
        text = sys.stdin.read() if from_stdin else " ".join(inputs)
        if not text.strip():
            raise CliError("the prompt is empty" + (" (standard input held no text)" if from_stdin
                           else "; give the text to estimate, or a FILE or DIR"))
        items: list[Item] = [Item(STDIN if from_stdin else "prompt", text, len(text.encode()))]
        _count(items, tallies, out_tokens, skipped, skip_bad, total_bytes=0)
    else:
        total = sum(p.stat().st_size for p in files)
        _count(read_items(files, field=field, skip_bad=skip_bad, skipped=skipped), tallies,
               out_tokens, skipped, skip_bad, total_bytes=total)
    tallies.sort(key=Tally.rank)
    requests = max(t.requests + len(t.too_long) for t in tallies)
    if requests == 0:
        raise CliError("the input holds no request to estimate")
    if as_json:
        dump_json({"requests": requests, "files": len(files or ()),
                   "output_tokens_per_request": out_tokens,
                   "cheapest": tallies[0].deployment.id if tallies[0].complete else None,
                   "deployments": [t.as_json() for t in tallies],
                   "retired": [d.id for d in retired],
                   "skipped": [{"where": s.where, "reason": s.reason} for s in skipped]})
        return
    _show(tallies, requests=requests, files=len(files or ()), out_tokens=out_tokens,
          retired=retired, skipped=skipped)


def _files(inputs: tuple[str, ...], literal: bool, *, skip_bad: bool,
           skipped: list[Skipped]) -> list[Path] | None:
    """The files to read, or None when the arguments are prompt text."""
    if literal:
        return None
    paths = [Path(a) for a in inputs]
    existing = [a != "" and _exists(p) for a, p in zip(inputs, paths, strict=True)]  # Path("") is "."
    if all(existing):
        return collect_files(paths, skip_bad=skip_bad, skipped=skipped)
    if any(existing) or any(looks_like_path(a) for a in inputs):
        missing = next(a for a, e in zip(inputs, existing, strict=True) if not e)
        if missing == "-":
            raise CliError("'-' (standard input) must be the only argument; to price a file "
                           "named '-', write ./-")
        raise CliError(f"no such file or directory: {missing} (use --text to price it as text)")
    return None


def _exists(path: Path) -> bool:
    """Whether something is there, even a broken link or a pipe (reported, never priced as text)."""
    return os.path.lexists(path)  # False on errors, e.g. a long prompt is "a file name too long"


def _count(items: Any, tallies: list[Tally], out_tokens: int, skipped: list[Skipped],
           skip_bad: bool, *, total_bytes: int) -> None:
    console = err_console()
    progress = Progress(TextColumn("counting tokens"), BarColumn(), TaskProgressColumn(),
                        TextColumn("{task.fields[n]} requests"), TimeRemainingColumn(),
                        console=console, transient=True,
                        disable=not console.is_terminal or total_bytes == 0)
    with progress:
        task = progress.add_task("count", total=total_bytes or None, n=0)
        for n, item in enumerate(items, start=1):
            try:
                request = build_request(item.messages)
            except InvalidRequestError as exc:
                if not skip_bad:
                    raise CliError(f"{item.where}: {exc} (--skip-bad skips such input)") from None
                skipped.append(Skipped(item.where, str(exc)))
                continue
            tokens = RequestTokens(request)  # counts once per tokenizer, shared by deployments
            for tally in tallies:
                tally.add(tokens.for_model(tally.deployment.spec), out_tokens, item.where)
            progress.update(task, advance=item.size, n=n)


def _show(tallies: list[Tally], *, requests: int, files: int, out_tokens: int,
          retired: list[Deployment], skipped: list[Skipped]) -> None:
    what = f"{requests:,} request{'s' if requests != 1 else ''}"
    if files:
        what += f" from {files:,} file{'s' if files != 1 else ''}"
    table = Table(title=f"Estimated cost of {what}, {out_tokens:,} output tokens assumed each")
    for col in ("deployment", "model", "tokenizer", "input tokens", "output tokens", "input",
                "output", "total", "too long"):
        table.add_column(col, overflow="fold", justify="left" if col in ("deployment", "model", "tokenizer")
                         else "right")
    for t in tallies:
        tok: str = t.deployment.spec.tokenizer
        if not exact_tokenizer_available(tok):
            tok += " (bytes: upper bound)"
        total = f"[bold]{usd(t.total)}[/bold]" if t.complete else f"{usd(t.total)} (partial)"
        table.add_row(t.deployment.id, t.deployment.model, tok, f"{t.input_tokens:,}",
                      f"{t.output_tokens:,}", usd(t.input_cost), usd(t.output_cost),
                      total, str(len(t.too_long)) if t.too_long else "")
    console = out_console()
    console.print(table)
    console.print(_cheapest(tallies[0], requests), markup=False)
    for dep in retired:
        console.print(f"not estimated: {dep.id} (retired on {dep.host})", markup=False)
    for t in tallies:
        if t.too_long:
            console.print(f"{t.deployment.id}: {len(t.too_long)} request(s) do not fit its "
                          f"context window of {t.deployment.context_window:,} (first: "
                          f"{t.too_long[0]}); not counted", markup=False)
    for s in skipped:
        console.print(f"skipped {s.where}: {s.reason}", markup=False)


def _cheapest(best: Tally, requests: int) -> str:
    """The summary line: only a deployment that takes every request is "cheapest"."""
    if best.complete:
        return f"cheapest: {best.deployment.id} at {usd(best.total)}"
    every = "the one request" if requests == 1 else f"all {requests:,} requests"
    if best.requests == 0:
        return f"cheapest: none; no deployment can take {every} (too long for every context window)"
    return (f"cheapest: none; no deployment can take {every}; the most any takes is "
            f"{best.requests:,} of {requests:,}, cheapest on {best.deployment.id} at "
            f"{usd(best.total)} for those")
