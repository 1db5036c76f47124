"""`router route`: the decision `complete()` would act on, explained, without sending anything."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from router.cli.common import (
    REFUSED,
    CliError,
    Options,
    check_file,
    configured_ledger,
    decision_json,
    dump_json,
    err_console,
    make_router,
    out_console,
    usd,
)
from router.decision import Decision
from router.errors import LedgerError, NoRouteError
from router.ledger import LedgerURL, MemoryLedger
from router.money import parse_money

__all__ = ["build_messages", "route"]


def build_messages(prompt: str, *, system: str | None, images: tuple[str, ...],
                   detail: str) -> list[dict[str, Any]]:
    """Chat messages from the command line: an optional system message, the prompt, images."""
    content: Any = prompt
    if images:
        content = [{"type": "text", "text": prompt}]
        for image in images:
            content.append({"type": "image_url",
                            "image_url": {"url": _image_url(image), "detail": detail}})
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": content})
    return messages


# The formats the vision APIs take, by their first bytes (a file's name may say anything).
_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


def _image_url(value: str) -> str:
    if value.startswith(("http://", "https://", "data:")):
        return value
    check_file(value, "image file")
    data = Path(value).read_bytes()
    kind = next((k for magic, k in _IMAGE_MAGIC if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "image/webp"
    if kind is None:
        raise CliError(f"{value} is not an image: --image takes PNG, JPEG, GIF or WEBP files "
                       "(or an http(s) URL)")
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def read_prompt(prompt: str | None, prompt_file: str | None) -> str:
    if prompt_file is not None:
        check_file(prompt_file, "prompt file")
        text = Path(prompt_file).read_text("utf-8")
    elif prompt is None:
        raise CliError("give a PROMPT, '-' to read it from stdin, or --file PATH")
    else:
        text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise CliError("the prompt is empty; give the text to route")
    return text


@click.command()
@click.argument("prompt", required=False)
@click.option("-f", "--file", "prompt_file", metavar="PATH", help="Read the prompt from a file.")
@click.option("-b", "--budget", metavar="USD", help="The most this request may cost, e.g. 0.002.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Output cap to send.")
@click.option("-s", "--strategy", help="cheapest, best, or a registered strategy.")
@click.option("-m", "--model", "models", multiple=True,
              help="Only these catalog models; repeatable.")
@click.option("--system", help="A system message to send before the prompt.")
@click.option("--image", "images", multiple=True, metavar="FILE|URL",
              help="Attach an image (priced per model); repeatable.")
@click.option("--detail", type=click.Choice(["auto", "low", "high"]), default="auto",
              show_default=True, help="Image detail.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.pass_obj
def route(opts: Options, prompt: str | None, prompt_file: str | None, budget: str | None,
          max_tokens: int | None, strategy: str | None, models: tuple[str, ...],
          system: str | None, images: tuple[str, ...], detail: str, as_json: bool) -> None:
    """Explain where PROMPT would go within --budget, and why; sends nothing.

    Shared budgets count with what the config's ledger says is left; a dry run creates no ledger
    file, and routes without the ledger (saying so) when it cannot be reached.
    Exits 1 when no deployment can take the request (e.g. nothing fits the budget).
    """
    # Every argument is checked before anything is opened: bad input changes nothing.
    text = read_prompt(prompt, prompt_file)
    messages = build_messages(text, system=system, images=images, detail=detail)
    limit = None if budget is None else parse_money(budget, field="--budget")
    options: dict[str, Any] = {}
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    notes: list[str] = []
    stand_in = _stand_in(configured_ledger(opts), notes)
    router, _ = make_router(opts, strategy=strategy, ledger=stand_in)
    wanted = list(models) or None
    error: NoRouteError | None = None
    try:
        try:
            decision = router.route(messages, budget=limit, models=wanted, **options)
        except LedgerError as exc:
            router.close()
            notes.append(f"the ledger cannot be reached ({exc}): shared budgets were not checked "
                         "(counted as unspent)")
            router, _ = make_router(opts, strategy=strategy, ledger=MemoryLedger())
            decision = router.route(messages, budget=limit, models=wanted, **options)
    except NoRouteError as exc:
        if exc.decision is None:
            raise
        decision, error = exc.decision, exc
    finally:
        router.close()
    if notes:
        decision = decision.evolve(notes=(*decision.notes, *notes))
    if as_json:
        dump_json({**decision_json(decision), "error": None if error is None else str(error)})
    else:
        _show(decision, keyless={d.id for d in router.deployments if not d.has_key})
    if error is not None:
        err_console().print(f"router: {error}", markup=False)
        raise click.exceptions.Exit(REFUSED)


def _stand_in(ledger: LedgerURL, notes: list[str]) -> MemoryLedger | None:
    """An empty ledger in place of a SQLite file that does not exist yet: it would hold nothing,
    and a dry run must not create it."""
    if ledger.kind != "sqlite" or Path(ledger.target).exists():
        return None
    notes.append(f"the ledger file {ledger.target} does not exist yet: shared budgets count as "
                 "unspent (nothing was created)")
    return MemoryLedger()


def _show(decision: Decision, *, keyless: set[str]) -> None:
    console = out_console()
    chosen = decision.chosen
    budget = f" within {usd(decision.budget)}" if decision.budget is not None else ""
    if chosen is not None:
        console.print(f"[bold]{chosen.model}[/bold] via {chosen.deployment} "
                      f"({decision.strategy}{budget})")
    else:
        console.print(f"[red]no deployment can take this request[/red] ({decision.strategy}{budget})")
    if decision.candidates:
        table = Table(title="candidates, in the order they would be tried")
        for col in ("#", "model", "deployment", "input tokens", "max output", "estimated",
                    "worst case"):
            table.add_column(col, overflow="fold",
                             justify="left" if col in ("model", "deployment") else "right")
        for i, c in enumerate(decision.candidates, start=1):
            cap = f"{c.max_output_tokens:,}" + (" (capped)" if c.output_capped else "")
            table.add_row(str(i), c.model, Text(c.deployment), f"{c.input_tokens:,}", cap,
                          usd(c.estimated_cost), usd(c.worst_case_cost))
        console.print(table)
    if decision.excluded_deployments:
        table = Table(title="left out")
        for col in ("deployment", "why", "reason"):
            table.add_column(col, overflow="fold")
        for dep, reason in decision.excluded_deployments.items():
            table.add_row(Text(dep), decision.exclusion_kinds.get(dep, ""), Text(reason))
        console.print(table)
    for note in decision.notes:
        console.print(f"note: {note}", markup=False)
    if decision.missing_keys:
        # An entry is the variable a key comes from, or a deployment written without one.
        fixes = [f"give deployment {k!r} an api_key in the config" if k in keyless else f"set {k}"
                 for k in decision.missing_keys]
        console.print("note: no API key is set, so this is the plan only; to send it, "
                      + " or ".join(fixes), markup=False)
