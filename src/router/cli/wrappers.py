"""`router spend` and `router eval`: thin wrappers over the spend ledger and the replay evaluator.

When what one needs is missing (a shared ledger, the evaluator), it says so in one line and
exits 3.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
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
from router.money import format_usd

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
        _show_rows("spend", _dollars(data))


_MONEY_KEYS = frozenset({"cost", "limit", "spent", "reserved", "remaining", "total"})


def _dollars(data: Any) -> Any:
    """The spend report for people: amounts as `$0.00000034` (the JSON keeps plain digits)."""
    if isinstance(data, Mapping):
        return {k: format_usd(Decimal(v)) if k in _MONEY_KEYS and isinstance(v, str)
                else _dollars(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_dollars(v) for v in data]
    return data


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


_STAGES = {"read": "reading traces", "price": "pricing calls", "predict": "predicting",
           "replay": "replaying settings"}


def _plot_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """Checked before the replay, so a missing extra or folder does not cost a long run."""
    import importlib.util

    if value is None:
        return None
    path = Path(value)
    if not path.parent.is_dir():
        raise click.BadParameter(f"no such folder: {path.parent}")
    if importlib.util.find_spec("matplotlib") is None:
        raise CliError("--plot needs matplotlib, which is not installed: "
                       "pip install 'router[plot]'", UNAVAILABLE)
    return path


@click.command("eval")
@click.argument("traces", metavar="TRACES.jsonl")
@click.option("-m", "--model", "pairs", multiple=True, required=True, metavar="CATALOG=TRACE",
              help="Map a catalog model to the model name used in the traces; two or more.")
@click.option("--target", type=click.FloatRange(0, 1, min_open=True), default=0.95,
              show_default=True, help="Quality to reach, as a share of the strong model's.")
@click.option("--strong", help="The strong model, a mapped catalog name [default: best mean "
                               "score; on a tie the catalog-stronger].")
@click.option("--cheap", help="The cheap model, a mapped catalog name [default: lowest cost].")
@click.option("--skip-bad", is_flag=True, help="Skip malformed trace lines (listed).")
@click.option("--plot", "plot", metavar="OUT.png", callback=_plot_path,
              help="Also draw every policy's cost-quality curve to this image (needs "
                   "router[plot]).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def eval_command(opts: Options, traces: str, pairs: tuple[str, ...], target: float,
                 strong: str | None, cheap: str | None, skip_bad: bool, plot: Path | None,
                 as_json: bool) -> None:
    """Replay TRACES (prompts with each model's score) through the router's quality policy.

    Reports, for always-strong, always-cheap, random, oracle and the router: quality, cost and
    share of calls per model at --target, the savings there, APGR, CPT(50%) and CPT(80%).
    """
    check_file(traces, "trace file")
    models: dict[str, str] = {}
    for pair in pairs:
        name, sep, trace_name = pair.partition("=")
        if not sep or not name or not trace_name:
            raise CliError(f"--model {pair!r}: write CATALOG=TRACE, e.g. gpt-4o=gpt-4-1106-preview")
        if name in models:
            raise CliError(f"--model maps {name!r} twice ({name}={models[name]} and {pair}); "
                           "map each catalog model once")
        models[name] = trace_name
    try:
        from router.quality.evaluate import run_eval
    except ImportError:
        raise CliError("router eval needs the replay evaluator (router.quality.evaluate), which "
                       "this build of router does not include yet", UNAVAILABLE) from None
    console = err_console()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(_STAGES["read"], total=None)

        def report(stage: str, done: int, total: int) -> None:
            progress.update(task, description=_STAGES.get(stage, stage), completed=done,
                            total=total or None)

        result = run_eval(traces, models=models, target=target, strong=strong, cheap=cheap,
                          skip_bad=skip_bad, catalog=catalog_of(opts), progress=report)
    if plot is not None:
        from router.quality.plot import plot_result

        plot_result(result, plot)
        console.print(f"plot written to {plot}", markup=False)
    data = _plain(result)
    if as_json:
        dump_json(data)
        return
    _show_eval(data)


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


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def _money_cell(value: Any) -> str:
    from decimal import Decimal

    return "-" if value is None else f"${Decimal(value):.4g}"


def _show_eval(data: Mapping[str, Any], console: Any = None) -> None:
    """Two tables: each policy where it reaches the target (quality, cost, savings, share of
    calls per model), then the whole-curve metrics; fits 100 columns for two or three models.
    `console`: a rich Console (default: stdout)."""
    from decimal import Decimal

    from rich import box

    console = console or out_console()
    pct = format(round(data["target"] * 100, 4), "g")  # 95, 95.5, 99.9: never rounded up
    strong, cheap = data["strong"], data["cheap"]
    chosen = data.get("chosen") or {}
    console.print(f"{data['n']} prompts. strong model: {strong} ({chosen.get('strong', 'given')}); "
                  f"cheap model: {cheap} ({chosen.get('cheap', 'given')})", markup=False)
    baselines = data.get("baselines") or {}
    full = baselines.get(f"always:{strong}") or {}
    full_cost = Decimal(full.get("cost") or 0)
    models = list(full.get("shares") or ())
    policies = data.get("policies") or {}
    table = Table(title=f"At {pct}% of {strong}'s quality", box=box.SIMPLE_HEAD,
                  title_justify="left", show_edge=False, padding=(0, 1, 0, 0))
    # Names never wrap; on a narrow terminal the model columns' headers fold instead.
    table.add_column("policy", no_wrap=True)
    table.add_column("min_\nquality", justify="right", no_wrap=True)
    # (calls saved = 100% - calls to the strong model: not a column of its own)
    for col in ("quality", "cost", "saved\ndollars"):
        table.add_column(col, justify="right", no_wrap=True)
    for model in models:
        table.add_column(f"calls to\n{model}", justify="right", overflow="fold", min_width=6)

    def row(name: str, point: Mapping[str, Any] | None, setting: Any = None) -> None:
        if point is None:
            table.add_row(name, "-", "never", *["-"] * (2 + len(models)))
            return
        cost = Decimal(point["cost"])
        shares = point.get("shares") or {}
        table.add_row(
            name, "-" if setting is None else f"{setting:g}", f"{point['quality']:.4g}",
            _money_cell(cost), _pct(float(1 - cost / full_cost) if full_cost else None),
            *(_pct(shares.get(m)) for m in models),
        )

    for name, point in baselines.items():
        row(name, point)
    for name, p in policies.items():
        at = p.get("at_target")
        row(name, at, None if name in ("random", "oracle") or at is None else at.get("knob"))
    console.print(table)
    console.print()
    curve = Table(title="Whole curve (RouteLLM)", box=box.SIMPLE_HEAD, title_justify="left",
                  show_edge=False, padding=(0, 1, 0, 0))
    for col in ("policy", "APGR", "CPT(50%)", "CPT(80%)"):
        curve.add_column(col, justify="left" if col == "policy" else "right")
    for name, p in policies.items():
        apgr = p.get("apgr")
        curve.add_row(name, "-" if apgr is None else f"{apgr:.3f}", _pct(p.get("cpt50")),
                      _pct(p.get("cpt80")))
    console.print(curve)
    for bad in data.get("skipped") or ():
        console.print(f"skipped line {bad.get('line')}: {bad.get('reason')}", markup=False)
    unmapped = (data.get("unmapped") or {}).get("models") or {}
    if unmapped:
        named = ", ".join(f"{m} ({k} line{'s' if k != 1 else ''})" for m, k in unmapped.items())
        console.print(f"not evaluated: {len(unmapped)} model(s) in the traces are not mapped: "
                      f"{named}; add --model CATALOG=TRACE to include them", markup=False)
