"""The `router` command group: global options, one-line errors with exit codes, the subcommands."""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
import warnings
from typing import Any, NoReturn

import click

from router.cli.common import BAD_INPUT, Options, check_file, classify, warn
from router.settings import ConfigWarning

__all__ = ["cli"]


class RouterGroup(click.Group):
    """Turns every error of a subcommand into one line on stderr and an exit code.

    `--debug` (or `ROUTER_DEBUG=1`) prints the traceback first; the exit code stays the documented
    one, so a script that checks it behaves the same with and without `--debug`.
    """

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        if parent is None:
            args = _debug_first(args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # the group's own options, e.g. --today tomorrow
            debug = "--debug" in args or bool(os.environ.get("ROUTER_DEBUG"))
            _fail(f"{info_name or 'router'}: error: {exc.format_message()}", BAD_INPUT, debug)

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            with warnings.catch_warnings():
                # Warnings raised while a command runs (a misspelt ROUTER_* variable) are one
                # clean line each, like the command's own, not Python's two-line format.
                warnings.simplefilter("always", ConfigWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # `router models | head`: the reader left; say nothing more
            _silence_stdout()
            raise click.exceptions.Exit(0) from None
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "router"
            _fail(f"{where}: error: {exc.format_message()} (see '{where} --help')", BAD_INPUT, debug)
        except click.ClickException as exc:
            _fail(f"router: error: {exc.format_message()}", exc.exit_code, debug)
        except Exception as exc:
            code, line = classify(exc)
            _fail(f"router: error: {line}", code, debug)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    warn(str(message))


def _fail(line: str, code: int, debug: bool) -> NoReturn:
    """Print the error being handled (its traceback first under `--debug`), exit with `code`."""
    if debug:
        traceback.print_exc()
    _one_line(line)
    raise click.exceptions.Exit(code) from None


def _debug_first(args: list[str]) -> list[str]:
    """`--debug` is a global option, but people type it anywhere: move it before the subcommand
    (up to a `--`, after which everything is an argument)."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[1:end]:
        return args
    return ["--debug", *(a for i, a in enumerate(args) if i >= end or a != "--debug")]


def _one_line(text: str) -> None:
    click.echo(" ".join(text.split()), err=True)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. a test runner's buffer)
        pass


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD") from None


@click.group(cls=RouterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config", metavar="FILE", envvar="ROUTER_CONFIG",
              help="Config file (YAML, TOML or JSON). Default: $ROUTER_CONFIG, else the built-in "
                   "catalog with keys from the environment.")
@click.option("--today", metavar="YYYY-MM-DD", callback=_date,
              help="Judge lifecycles on this day instead of today (e.g. the day after a shutdown).")
@click.option("--debug", is_flag=True, envvar="ROUTER_DEBUG",
              help="Show the traceback before the one-line error (anywhere on the line; same exit codes).")
@click.version_option(package_name="router", prog_name="router")
@click.pass_context
def cli(ctx: click.Context, config: str | None, today: dt.date | None, debug: bool) -> None:
    """Route LLM requests to the cheapest model that fits, within a hard USD budget.

    Exit codes: 0 ok; 1 the answer is no (nothing fits the budget, a deployment is retired);
    2 bad input; 3 a feature or extra is missing; 4 a provider or the ledger failed.
    """
    if config is not None:
        check_file(config, "config file")
    ctx.obj = Options(config=config, debug=debug, today=today)


@cli.command()
def demo() -> None:
    """Route a few realistic requests offline through the real adapters and a built-in mock.

    Needs no API key and no network; prints each decision, its cost and the total.
    """
    from router.demo import run_demo

    run_demo(sys.stdout)


def _register() -> None:
    from router.cli.configcmd import config_group
    from router.cli.estimate import estimate
    from router.cli.models import models
    from router.cli.route import route
    from router.cli.wrappers import eval_command, spend

    for command in (models, estimate, route, spend, eval_command, config_group):
        cli.add_command(command)


_register()
