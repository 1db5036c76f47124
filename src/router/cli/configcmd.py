"""`router config check|schema`: validate a config before a deploy; print the config's schema."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from router.cli.common import (
    REFUSED,
    CliError,
    Options,
    check_file,
    dump_json,
    err_console,
    out_console,
    usd,
    warn,
)
from router.config import build_deployments
from router.deployments import Deployment, LifecycleState
from router.errors import ConfigError
from router.lifecycle import Notice, notices
from router.schema import config_schema, schema_markdown
from router.settings import ConfigWarning, Resolved, located, resolve
from router.strategies import resolve_strategy

__all__ = ["config_group"]

_NOTHING_SERVES = ("no deployment can serve a request: add a live one under `deployments:` "
                   "(see examples/)")


@click.group("config")
def config_group() -> None:
    """Check a config file, or print the config's JSON Schema."""


@config_group.command("check")
@click.argument("file", required=False, metavar="FILE")
@click.option("--strict", is_flag=True,
              help="Also fail (exit 1) on deprecated models and missing API keys.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def check(opts: Options, file: str | None, strict: bool, as_json: bool) -> None:
    """Validate FILE (default: --config) and print its deployments, keys masked.

    Warns about deprecated models with the days left; refuses (exit 1) retired ones, naming their
    replacement, and a ROUTER_* variable that names no config key; a malformed file exits 2
    naming the file, the key and the fix.
    """
    path = file or opts.config
    if path is None:
        raise CliError("name the config FILE to check (or pass --config)")
    check_file(path, "config file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        resolved = resolve(path, env=os.environ)
    # An ignored ROUTER_* variable is a problem: what it meant to set (a ledger...) is not set.
    ignored = [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]
    _, deployments = build_deployments(resolved.config, resolved.unset, resolved.source)
    _check_strategy(resolved)
    today = opts.date()
    found = notices(deployments, today)
    retired = [n for n in found if n.state is LifecycleState.RETIRED]
    deprecated = [n for n in found if n.state is LifecycleState.DEPRECATED]
    keyless = [d for d in deployments if not d.has_key]
    problems = ignored + [n.message for n in retired]
    if len(retired) == len(deployments):  # none at all, or every one retired
        problems.append(_NOTHING_SERVES)
    if strict:
        problems += [n.message for n in deprecated] + [d.missing_key_hint() for d in keyless]
    if as_json:
        dump_json({"file": path, "ok": not problems, "today": today,
                   "deployments": [_dep_json(d, today) for d in deployments],
                   "overrides": dict(resolved.origins),
                   "retired": [_notice_json(n) for n in retired],
                   "deprecated": [_notice_json(n) for n in deprecated],
                   "missing_keys": [d.missing_key_hint() for d in keyless],
                   "problems": problems})
    else:
        _show(path, deployments, today, resolved.origins)
        for message in ignored:
            warn(message)
        err = err_console()
        for n in deprecated:  # the one documented form of a warning line
            err.print(Text(f"router: warning: {n.message}", style="yellow"))
        for d in keyless:
            err.print(Text(f"router: warning: {d.missing_key_hint()}", style="yellow"))
        for n in retired:
            err.print(Text(f"refused: {n.message}", style="red"))
        if _NOTHING_SERVES in problems:
            err.print(Text(f"refused: {_NOTHING_SERVES}", style="red"))
        if not problems:
            out_console().print(f"{path}: ok ({len(deployments)} deployments)", markup=False)
    if problems:
        if not as_json:
            err_console().print(f"{path}: {len(problems)} problem(s); fix the config before "
                                "deploying it", markup=False)
        raise click.exceptions.Exit(REFUSED)


def _key(dep: Deployment) -> str:
    if dep.api_key:
        return dep.api_key.masked()
    if not dep.key_required:
        return "not needed"
    return f"missing (set {dep.key_env})" if dep.key_env else "missing"


def _state(dep: Deployment, today: Any) -> str:
    state = dep.lifecycle_state(today)
    life = dep.lifecycle
    if state is LifecycleState.ACTIVE or life is None:
        return "active"
    if state is LifecycleState.RETIRED:
        return f"retired {life.shutdown_on}"
    if life.shutdown_on is not None:
        return f"deprecated, {(life.shutdown_on - today).days} days left"
    return "deprecated"


def _dep_json(dep: Deployment, today: Any) -> dict[str, Any]:
    return {"id": dep.id, "model": dep.model, "provider": dep.provider, "model_id": dep.model_id,
            "base_url": dep.base_url, "host": dep.host, "api_key": _key(dep),
            "price": {"input": dep.price.input, "output": dep.price.output,
                      "cached_input": dep.price.cached_input, "source": dep.price.source},
            "context_window": dep.context_window, "max_output_tokens": dep.max_output_tokens,
            "timeout": dep.timeout, "lifecycle": _state(dep, today)}


def _notice_json(n: Notice) -> dict[str, Any]:
    return {"deployment": n.deployment, "model": n.model, "message": n.message,
            "shutdown_on": n.shutdown_on, "days_left": n.days_left, "replacement": n.replacement}


def _show(path: str, deployments: tuple[Deployment, ...], today: Any,
          origins: Any) -> None:
    table = Table(title=f"{path}: resolved deployments ({today})")
    for col in ("id", "model", "provider", "model id", "base url", "api key", "input", "output",
                "context", "lifecycle"):
        table.add_column(col, overflow="fold",
                         justify="right" if col in ("input", "output", "context") else "left")
    for d in deployments:
        state = _state(d, today)
        style = "red" if state.startswith("retired") else "yellow" if state != "active" else ""
        table.add_row(Text(d.id), d.model, d.provider, Text(d.model_id), Text(d.base_url),
                      Text(_key(d)), usd(d.price.input), usd(d.price.output),
                      f"{d.context_window:,}", Text(state, style=style))
    console = out_console()
    console.print(table)
    for key, origin in origins.items():
        console.print(f"override: {key} from {origin}", markup=False)


@config_group.command("schema")
@click.option("--markdown", is_flag=True, help="Print the reference tables instead of JSON.")
def schema(markdown: bool) -> None:
    """Print the JSON Schema of the config (for editors and CI validation)."""
    if markdown:
        click.echo(schema_markdown(), nl=False)
    else:
        click.echo(json.dumps(config_schema(), indent=2))


def _check_strategy(resolved: Resolved) -> None:
    """Build the routing strategy as a router would: a bad option fails here, not on first use."""
    routing = resolved.config.routing
    try:
        resolve_strategy(routing.strategy, **routing.options)
    except ConfigError as exc:
        raise located(exc, resolved) from None
