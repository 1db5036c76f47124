"""`router spend` and `router eval`: thin wrappers over the spend ledger and the replay evaluator.

When what one needs is missing (a shared ledger, the evaluator), it says so in one line and
exits 3.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from router.cli.common import (
    UNAVAILABLE,
    CliError,
    Options,
    check_file,
    configured_ledger,
    dump_json,
    err_console,
    make_router,
    out_console,
)
from router.cli.models import catalog_of

__all__ = ["eval_command", "spend"]

_DIMENSIONS = ("budget", "window", "model", "deployment", "user", "team")


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or time; write YYYY-MM-DD[THH:MM]") \
            from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@click.command()
@click.option("--by", type=click.Choice(_DIMENSIONS), multiple=True,
              help="Group spend by this; repeatable [default: budget].")
@click.option("--since", callback=_when, metavar="DATE", help="From this day or time (UTC).")
@click.option("--until", callback=_when, metavar="DATE", help="Up to this day or time (UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def spend(opts: Options, by: tuple[str, ...], since: dt.datetime | None,
          until: dt.datetime | None, as_json: bool) -> None:
    """Spend recorded by the config's ledger, by budget, window, model or deployment.

    Needs a ledger that outlives the process (`ledger: sqlite:///...` or `redis://...`): without
    one, or when its SQLite file does not exist, it says so and creates nothing.
    """
    ledger = configured_ledger(opts)
    if ledger.kind == "memory":
        raise CliError("router spend reads a shared ledger, and the config has none (a memory "
                       "ledger in a fresh process has nothing to report); set `ledger:` to "
                       "sqlite:///path.db or redis://host:6379/0", UNAVAILABLE)
    if ledger.kind == "sqlite" and not Path(ledger.target).is_file():
        raise CliError(f"no ledger file at {ledger.target}: nothing has been recorded there; "
                       "check `ledger:` in the config")
    router, _ = make_router(opts)
    with router:
        data = _plain(router.spend(**_spend_args(by, since, until)))
    if as_json:
        dump_json(data)
    else:
        _show_rows("spend", data)


def _spend_args(by: tuple[str, ...], since: dt.datetime | None,
                until: dt.datetime | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if by:
        kwargs["by"] = list(by)
    if since is not None:
        kwargs["since"] = since
    if until is not None:
        kwargs["until"] = until
    return kwargs


@click.command("eval")
@click.argument("traces", metavar="TRACES.jsonl")
@click.option("-m", "--model", "pairs", multiple=True, required=True, metavar="CATALOG=TRACE",
              help="Map a catalog model to the model name used in the traces; two or more.")
@click.option("--target", type=click.FloatRange(0, 1, min_open=True), default=0.95,
              show_default=True, help="Quality to reach, as a share of the strong model's.")
@click.option("--strong", help="The strong model [default: best mean score].")
@click.option("--cheap", help="The cheap model [default: lowest cost].")
@click.option("--skip-bad", is_flag=True, help="Skip malformed trace lines (listed).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def eval_command(opts: Options, traces: str, pairs: tuple[str, ...], target: float,
                 strong: str | None, cheap: str | None, skip_bad: bool, as_json: bool) -> None:
    """Replay TRACES (prompts with each model's score) through the router's quality policy.

    Reports APGR, CPT(50%), CPT(80%) and the savings at --target against always-strong, random
    and oracle routing.
    """
    check_file(traces, "trace file")
    models: dict[str, str] = {}
    for pair in pairs:
        name, sep, trace_name = pair.partition("=")
        if not sep or not name or not trace_name:
            raise CliError(f"--model {pair!r}: write CATALOG=TRACE, e.g. gpt-4o=gpt-4-1106-preview")
        models[name] = trace_name
    try:
        from router.quality.evaluate import run_eval
    except ImportError:
        raise CliError("router eval needs the replay evaluator (router.quality.evaluate), which "
                       "this build of router does not include yet", UNAVAILABLE) from None
    console = err_console()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("reading traces", total=None)

        def report(stage: str, done: int, total: int) -> None:
            progress.update(task, description=f"{stage} traces", completed=done,
                            total=total or None)

        result = run_eval(traces, models=models, target=target, strong=strong, cheap=cheap,
                          skip_bad=skip_bad, catalog=catalog_of(opts), progress=report)
    data = _plain(result)
    if as_json:
        dump_json(data)
        return
    _show_eval(data, target)


def _plain(value: Any) -> Any:
    """A result object as JSON-ready data: `to_json()`, dataclasses, mappings, sequences."""
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _show_rows(title: str, data: Any) -> None:
    console = out_console()
    rows = data.get("rows") if isinstance(data, Mapping) else data
    extra: Mapping[str, Any]
    if isinstance(rows, list) and rows and all(isinstance(r, Mapping) for r in rows):
        table = Table(title=title)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        for col in columns:
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(*(Text(_cell(r.get(c))) for c in columns))
        console.print(table)
        extra = {k: v for k, v in data.items() if k != "rows"} if isinstance(data, Mapping) else {}
    else:
        extra = data if isinstance(data, Mapping) else {title: data}
    for key, value in extra.items():
        console.print(f"{key}: {_cell(value)}", markup=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _show_eval(data: Mapping[str, Any], target: float) -> None:
    pct = round(target * 100)
    console = out_console()
    table = Table(title=f"Replay of {data.get('n')} prompts: {data.get('cheap')} vs "
                        f"{data.get('strong')}, target {pct}% of the strong model's quality")
    for col in ("policy", "APGR", "CPT(50%)", "CPT(80%)", f"savings at {pct}%", "cost at target"):
        table.add_column(col, overflow="fold", justify="left" if col == "policy" else "right")
    for name, p in (data.get("policies") or {}).items():
        table.add_row(name, _cell(p.get("apgr")), _cell(p.get("cpt50")), _cell(p.get("cpt80")),
                      _cell(p.get(f"savings_at_{pct}")), _cell(p.get("cost_at_target")))
    console.print(table)
    for name, point in (data.get("baselines") or {}).items():
        console.print(f"{name}: quality {_cell(point.get('quality'))}, cost "
                      f"{_cell(point.get('cost'))}", markup=False)
    for bad in data.get("skipped") or ():
        console.print(f"skipped line {bad.get('line')}: {bad.get('reason')}", markup=False)
