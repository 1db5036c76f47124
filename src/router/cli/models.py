"""`router models`: the catalog as a table (prices, context, capabilities, quality, lifecycle)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import click
from rich.table import Table

from router.catalog import Catalog, Lifecycle, ModelSpec, load_catalog
from router.cli.common import CliError, Options, dump_json, out_console, usd
from router.money import parse_money
from router.settings import resolve

__all__ = ["catalog_of", "lifecycle_json", "lifecycle_text", "models"]

_CAPABILITIES = {"image": "image input", "tools": "tools", "json": "structured output"}


def catalog_of(opts: Options) -> Catalog:
    """The built-in catalog with the config's `models:` overrides."""
    resolved = resolve(opts.config, env=os.environ)
    return load_catalog(resolved.config.models, source=resolved.source)


def lifecycle_text(entry: Lifecycle, today: dt.date) -> str:
    then = f" -> {entry.replacement}" if entry.replacement else (
        f" (suggested: {entry.replacement_note})" if entry.replacement_note else "")
    if entry.shutdown_on is not None and today >= entry.shutdown_on:
        return f"[red]{entry.host}: retired {entry.shutdown_on}{then}[/red]"
    if entry.shutdown_on is not None:
        days = (entry.shutdown_on - today).days
        return f"[yellow]{entry.host}: shuts down {entry.shutdown_on} ({days} days left){then}[/yellow]"
    if entry.deprecated_on is not None and today >= entry.deprecated_on:
        return f"[yellow]{entry.host}: deprecated since {entry.deprecated_on}{then}[/yellow]"
    return f"{entry.host}: deprecation announced for {entry.deprecated_on}{then}"


def lifecycle_json(entry: Lifecycle, today: dt.date) -> dict[str, Any]:
    state = "active"
    if entry.shutdown_on is not None and today >= entry.shutdown_on:
        state = "retired"
    elif entry.shutdown_on is not None or (entry.deprecated_on and today >= entry.deprecated_on):
        state = "deprecated"
    days = (entry.shutdown_on - today).days if entry.shutdown_on and state != "retired" else None
    return {"host": entry.host, "state": state, "deprecated_on": entry.deprecated_on,
            "shutdown_on": entry.shutdown_on, "days_left": days, "replacement": entry.replacement,
            "replacement_note": entry.replacement_note or None}


def _matches(spec: ModelSpec, *, vendors: tuple[str, ...], takes: tuple[str, ...],
             min_context: int | None, max_price: Any) -> bool:
    caps = spec.capabilities
    checks = {"image": spec.takes_images, "tools": caps.tools, "json": caps.structured_output}
    return (
        (not vendors or spec.vendor in vendors)
        and all(checks[t] for t in takes)
        and (min_context is None or caps.context_window >= min_context)
        and (max_price is None or spec.price.input <= max_price)
    )


@click.command()
@click.argument("names", nargs=-1, metavar="[MODEL]...")
@click.option("--vendor", multiple=True, help="Only this vendor (openai, mistral...); repeatable.")
@click.option("--takes", type=click.Choice(sorted(_CAPABILITIES)), multiple=True,
              help="Only models with this capability; repeatable.")
@click.option("--min-context", type=click.IntRange(min=1), metavar="TOKENS",
              help="Only models whose context window is at least this.")
@click.option("--max-input-price", metavar="USD",
              help="Only models whose input list price (per 1M tokens) is at most this.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def models(opts: Options, names: tuple[str, ...], vendor: tuple[str, ...],
           takes: tuple[str, ...], min_context: int | None, max_input_price: str | None,
           as_json: bool) -> None:
    """The model catalog: prices (USD per 1M tokens), context, capabilities, quality, lifecycle.

    Shows the built-in catalog with the config's overrides; name MODELs to show only those.
    """
    catalog = catalog_of(opts)
    unknown = [n for n in names if n not in catalog.models]
    if unknown:
        raise CliError(f"unknown model {', '.join(map(repr, unknown))}; known: "
                       f"{', '.join(sorted(catalog.models))}")
    max_price = None if max_input_price is None else parse_money(max_input_price,
                                                                 field="--max-input-price")
    today = opts.date()
    chosen = [spec for name, spec in catalog.models.items() if (not names or name in names)
              and _matches(spec, vendors=vendor, takes=takes, min_context=min_context,
                           max_price=max_price)]
    if as_json:
        dump_json({"catalog_version": catalog.catalog_version, "today": today, "models": [
            {**spec.model_dump(mode="json", exclude={"lifecycle"}),
             "lifecycle": [lifecycle_json(e, today) for e in spec.lifecycle]}
            for spec in chosen
        ]})
        return
    table = Table(title=f"Model catalog {catalog.catalog_version} (USD per 1M tokens; {today})")
    for col in ("model", "input", "cached", "output", "context", "max out", "takes", "tools",
                "json", "tokenizer", "quality", "hosts", "lifecycle"):
        table.add_column(col, overflow="fold", justify="right" if col in (
            "input", "cached", "output", "context", "max out") else "left")
    for spec in chosen:
        caps, price = spec.capabilities, spec.price
        hosts = [f"{h}: {o.model_id}" + (f" ({usd(o.price.input)}/{usd(o.price.output)})"
                                         if o.price else "") for h, o in spec.hosts.items()]
        scores = "\n".join(f"{k} {v:g}" for k, v in spec.quality.scores.items())
        table.add_row(
            spec.name, usd(price.input), usd(price.cached_input), usd(price.output),
            f"{caps.context_window:,}", f"{caps.max_output_tokens:,}",
            ", ".join(sorted(caps.input_modalities)), "yes" if caps.tools else "no",
            "yes" if caps.structured_output else "no", spec.tokenizer, scores, "\n".join(hosts),
            "\n".join(lifecycle_text(e, today) for e in spec.lifecycle) or "active",
        )
    console = out_console()
    if not chosen:
        console.print("no model matches these filters")
        return
    console.print(table)
