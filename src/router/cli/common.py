"""What every subcommand shares: exit codes, the one-line errors, consoles, JSON, building a Router."""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import click
from rich.console import Console

from router.client import Router
from router.decision import Decision
from router.errors import ConfigError, InvalidRequestError, NoRouteError, RouterError
from router.ledger import Ledger, LedgerURL, parse_ledger_url
from router.lifecycle import ModelLifecycleWarning
from router.money import format_usd, plain_usd
from router.settings import resolve

__all__ = [
    "BAD_INPUT",
    "FAILED",
    "OK",
    "REFUSED",
    "UNAVAILABLE",
    "CliError",
    "Options",
    "check_file",
    "classify",
    "configured_ledger",
    "decision_json",
    "dump_json",
    "err_console",
    "make_router",
    "out_console",
    "usd",
    "warn",
]

OK = 0
REFUSED = 1  # the answer is no: nothing fits the budget, a deployment is retired
BAD_INPUT = 2  # usage, missing or unreadable file, malformed config, unknown model
UNAVAILABLE = 3  # a feature or an optional extra is not installed
FAILED = 4  # a provider or the ledger failed, or a bug


class CliError(Exception):
    """A problem to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = BAD_INPUT):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Options:
    """The global options, handed to every subcommand through `click`'s context."""

    config: str | None
    debug: bool
    today: dt.date | None

    def clock(self) -> Callable[[], dt.datetime]:
        if self.today is None:
            return lambda: dt.datetime.now(dt.UTC)
        when = dt.datetime.combine(self.today, dt.time(12), tzinfo=dt.UTC)
        return lambda: when

    def date(self) -> dt.date:
        return self.clock()().date()


def classify(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line to print for an error."""
    if isinstance(exc, CliError):
        return exc.code, str(exc)
    if isinstance(exc, ConfigError | InvalidRequestError) or (
        isinstance(exc, RouterError) and isinstance(exc, ValueError)  # e.g. a bad trace line
    ):
        return BAD_INPUT, str(exc)
    if isinstance(exc, NoRouteError):
        return REFUSED, str(exc)
    if isinstance(exc, RouterError):
        return FAILED, f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ImportError):
        return UNAVAILABLE, str(exc)
    if isinstance(exc, FileNotFoundError):
        return BAD_INPUT, f"no such file: {exc.filename}"
    if isinstance(exc, IsADirectoryError | PermissionError | NotADirectoryError):
        return BAD_INPUT, f"cannot read {exc.filename}: {exc.strerror}"
    if isinstance(exc, UnicodeDecodeError):
        return BAD_INPUT, f"not UTF-8 text ({exc.reason})"
    if isinstance(exc, OSError):
        return BAD_INPUT, f"cannot read {exc.filename or 'input'}: {exc.strerror or exc}"
    return FAILED, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)"


def check_file(path: str, what: str) -> None:
    """A `what` the user named must be a file: say which, when it is missing or a directory."""
    if os.path.isdir(path):
        raise CliError(f"{path} is a directory, not a file (expected: {what})")
    if not os.path.isfile(path):
        raise CliError(f"no such {what}: {path}")


def out_console() -> Console:
    """Rich output on stdout; wide enough for tables when piped."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 160))
    return console


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def dump_json(data: Any) -> None:
    """Print JSON: Decimals as exact strings, dates as ISO."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain_usd(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def usd(amount: Decimal | None) -> str:
    return "-" if amount is None else format_usd(amount)


def make_router(opts: Options, *, strategy: str | None = None,
                ledger: Ledger | None = None) -> tuple[Router, list[str]]:
    """The router of `--config` (or `$ROUTER_CONFIG`, or the built-in one), without network,
    and the lifecycle warnings its construction raised (other warnings go to stderr).
    `ledger` replaces the config's (e.g. a stand-in that a dry run may write to)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router = Router(opts.config, env=os.environ, clock=opts.clock(), strategy=strategy,
                        ledger=ledger)
    lifecycle = [str(w.message) for w in caught if issubclass(w.category, ModelLifecycleWarning)]
    for w in caught:
        if not issubclass(w.category, ModelLifecycleWarning):
            warn(str(w.message))
    return router, lifecycle


def warn(message: str) -> None:
    """`router: warning: MESSAGE` on stderr, once per command however often it is raised (the
    config is resolved more than once by some commands)."""
    ctx = click.get_current_context(silent=True)
    seen: set[str] = ctx.find_root().meta.setdefault("router.warned", set()) if ctx else set()
    if message not in seen:
        seen.add(message)
        err_console().print(f"router: warning: {message}", markup=False)


def configured_ledger(opts: Options) -> LedgerURL:
    """The ledger the config names, parsed; nothing is opened or created."""
    return parse_ledger_url(resolve(opts.config, env=os.environ).config.ledger)


def decision_json(decision: Decision) -> dict[str, Any]:
    """A decision as plain data (`router route --json`)."""
    return {
        "model": decision.model,
        "deployment": decision.deployment,
        "strategy": decision.strategy,
        "budget": decision.budget,
        "max_tokens": decision.max_tokens,
        "candidates": [
            {"model": c.model, "deployment": c.deployment, "input_tokens": c.input_tokens,
             "max_output_tokens": c.max_output_tokens, "estimated_cost": c.estimated_cost,
             "worst_case_cost": c.worst_case_cost, "output_capped": c.output_capped}
            for c in decision.candidates
        ],
        "excluded": dict(decision.excluded),
        "excluded_deployments": {
            dep: {"reason": reason, "kind": decision.exclusion_kinds.get(dep)}
            for dep, reason in decision.excluded_deployments.items()
        },
        "cheapest_cost": decision.cheapest_cost,
        "missing_keys": list(decision.missing_keys),
        "notes": list(decision.notes),
        "explanation": str(decision),
    }
