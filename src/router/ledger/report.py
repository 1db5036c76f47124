"""Spend you can see: what each budget has spent, reserved and left in its current window, spend by
model and deployment, and the ledger's entries exported as CSV or JSONL for finance.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Literal
from urllib.parse import unquote

from router.budgets import Bucket, Budget, CallScope, Scope, apply_budgets, bucket_for
from router.errors import InvalidRequestError
from router.ledger import Balance, Entry, Ledger
from router.money import format_usd, plain_usd

__all__ = [
    "DIMENSIONS",
    "BudgetStatus",
    "ExportFormat",
    "ModelSpend",
    "SpendGroup",
    "SpendReport",
    "export_entries",
    "spend_report",
]

ExportFormat = Literal["csv", "jsonl"]
DIMENSIONS = ("budget", "window", "model", "deployment", "user", "team")  # for `spend(by=...)`
_COLUMNS = ("at", "reservation", "cost_usd", "outcome", "model", "deployment", "user", "team",
            "tags", "budgets")


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One budget for one user/team/tag/model/deployment (or everyone) in its current window."""

    budget: str  # the budget's id (its name, or e.g. "user/day")
    name: str  # the bucket, e.g. "user/day:alice"
    scope: Scope
    value: str | None
    window: str  # "day 2026-11-25", "rolling day", "no window"
    limit: Decimal
    spent: Decimal
    reserved: Decimal
    remaining: Decimal
    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelSpend:
    model: str | None
    deployment: str | None
    cost: Decimal
    calls: int


@dataclass(frozen=True, slots=True)
class SpendGroup:
    """Settled spend of the entries that share `key` (dimension -> value; window is the UTC day)."""

    key: tuple[tuple[str, str | None], ...]
    cost: Decimal
    calls: int


@dataclass(frozen=True, slots=True)
class SpendReport:
    """`router.spend()`: budgets in their current windows and settled spend by model/deployment
    (and by the `by` dimensions, when asked)."""

    budgets: tuple[BudgetStatus, ...]
    by_model: tuple[ModelSpend, ...]
    total: Decimal
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    by: tuple[str, ...] = ()
    groups: tuple[SpendGroup, ...] = ()

    def to_json(self) -> dict[str, object]:
        """Rows for `router spend`: the `by` groups, else the budgets (else spend by model)."""
        rows: list[dict[str, object]]
        if self.by and not set(self.by) <= {"budget", "window"}:
            rows = [{**dict(g.key), "calls": g.calls, "cost": plain_usd(g.cost)}
                    for g in self.groups]
        elif self.budgets:
            rows = [{"budget": b.name, "window": b.window, "limit": plain_usd(b.limit),
                     "spent": plain_usd(b.spent), "reserved": plain_usd(b.reserved),
                     "remaining": plain_usd(b.remaining)} for b in self.budgets]
        else:
            rows = [{"model": m.model, "deployment": m.deployment, "calls": m.calls,
                     "cost": plain_usd(m.cost)} for m in self.by_model]
        return {"rows": rows, "total": plain_usd(self.total),
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}

    def __str__(self) -> str:
        lines = [f"{'budget':<28} {'window':<18} {'spent':>14} {'reserved':>14} "
                 f"{'remaining':>14} {'limit':>10}"]
        for b in self.budgets:
            lines.append(f"{b.name:<28} {b.window:<18} {format_usd(b.spent):>14} "
                         f"{format_usd(b.reserved):>14} {format_usd(b.remaining):>14} "
                         f"{format_usd(b.limit):>10}")
        lines += ["", f"{'model':<16} {'deployment':<30} {'calls':>7} {'cost':>14}"]
        for m in self.by_model:
            lines.append(f"{m.model or '-':<16} {m.deployment or '-':<30} {m.calls:>7} "
                         f"{format_usd(m.cost):>14}")
        lines.append(f"{'total':<16} {'':<30} {sum(m.calls for m in self.by_model):>7} "
                     f"{format_usd(self.total):>14}")
        return "\n".join(lines)


def _status(bucket: Bucket, value: str | None, balances: Mapping[str, Balance]) -> BudgetStatus:
    budget = bucket.budget
    spent = sum((balances.get(c, Balance()).spent for c in bucket.limit.counters), Decimal(0))
    reserved = sum((balances.get(c, Balance()).reserved for c in bucket.limit.counters),
                   Decimal(0))
    if budget.window is None:
        window = "no window"
    elif budget.rolling:
        window = f"rolling {budget.window}"
    else:
        window = f"{budget.window} {bucket.limit.book.rsplit('|', 1)[1]}"
    return BudgetStatus(
        budget=budget.id, name=bucket.name, scope=budget.scope, value=value, window=window,
        limit=budget.limit, spent=spent, reserved=reserved,
        remaining=max(budget.limit - spent - reserved, Decimal(0)), start=bucket.start,
        end=bucket.end,
    )


def _values_seen(ledger: Ledger, budget: Budget) -> list[str]:
    """The users (teams, tags) a per-value budget has counters for, from the ledger's keys."""
    keys = ledger.scan(f"{budget.id}|")
    return sorted({unquote(key.split("|")[1]) for key in keys})


def _group_keys(entry: Entry, by: Sequence[str]) -> list[tuple[tuple[str, str | None], ...]]:
    values: dict[str, list[str | None]] = {
        "budget": list(entry.budgets) or [None],
        "window": [dt.datetime.fromtimestamp(entry.at, dt.UTC).date().isoformat()],
        "model": [entry.model], "deployment": [entry.deployment], "user": [entry.user],
        "team": [entry.team],
    }
    keys: list[tuple[tuple[str, str | None], ...]] = [()]
    for dim in by:  # an entry booked to two budgets counts in each
        keys = [(*k, (dim, v)) for k in keys for v in values[dim]]
    return keys


def spend_report(ledger: Ledger, budgets: Sequence[Budget], *, now: dt.datetime,
                 deployments: Sequence[tuple[str, str]], scope: CallScope | None = None,
                 since: dt.datetime | None = None, until: dt.datetime | None = None,
                 by: Sequence[str] = ()) -> SpendReport:
    """Build `router.spend()`. With `scope`, only the budgets a call by it would meet; otherwise
    every budget, per value for those without `match` (the values found in the ledger)."""
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise InvalidRequestError(f"unknown {', '.join(map(repr, unknown))}; group by "
                                  f"{', '.join(DIMENSIONS)}", field="by")
    buckets: list[tuple[Bucket, str | None]] = []
    if scope is not None:
        applied = apply_budgets(budgets, scope, deployments, now)
        seen: set[str] = set()
        for bucket in applied:
            if bucket.name not in seen:
                seen.add(bucket.name)
                buckets.append((bucket, _value(bucket)))
    else:
        for budget in budgets:
            if budget.scope is Scope.GLOBAL:
                values: Iterable[str | None] = [None]
            elif budget.match is not None:
                values = [budget.match]
            elif budget.scope is Scope.MODEL:
                values = sorted({model for _, model in deployments})
            elif budget.scope is Scope.DEPLOYMENT:
                values = [dep for dep, _ in deployments]
            else:
                values = _values_seen(ledger, budget)
            buckets += [(bucket_for(budget, v, now), v) for v in values]
    counters = list(dict.fromkeys(c for b, _ in buckets for c in b.limit.counters))
    balances = ledger.balances(counters) if counters else {}
    totals: dict[tuple[str | None, str | None], tuple[Decimal, int]] = {}
    grouped: dict[tuple[tuple[str, str | None], ...], tuple[Decimal, int]] = {}
    for entry in ledger.entries(since=since.timestamp() if since else None,
                                until=until.timestamp() if until else None):
        cost, calls = totals.get((entry.model, entry.deployment), (Decimal(0), 0))
        totals[(entry.model, entry.deployment)] = (cost + entry.cost, calls + 1)
        for key in _group_keys(entry, by) if by else ():
            cost, calls = grouped.get(key, (Decimal(0), 0))
            grouped[key] = (cost + entry.cost, calls + 1)
    by_model = tuple(ModelSpend(m, d, cost, calls) for (m, d), (cost, calls)
                     in sorted(totals.items(), key=lambda kv: -kv[1][0]))
    statuses = [_status(b, v, balances) for b, v in buckets]
    return SpendReport(
        # values found in the ledger but idle in this window are history, not news
        budgets=tuple(s for s in statuses if s.spent or s.reserved or not _scanned(s, scope)),
        by_model=by_model, total=sum((m.cost for m in by_model), Decimal(0)),
        since=since, until=until, by=tuple(by),
        groups=tuple(SpendGroup(k, cost, calls) for k, (cost, calls)
                     in sorted(grouped.items(), key=lambda kv: -kv[1][0])),
    )


def _scanned(status: BudgetStatus, scope: CallScope | None) -> bool:
    per_value = status.scope in (Scope.USER, Scope.TEAM, Scope.TAG)
    return scope is None and per_value and status.name != status.budget


def _value(bucket: Bucket) -> str | None:
    value = bucket.limit.book.split("|")[1]
    return None if value == "*" else unquote(value)


def _row(entry: Entry) -> dict[str, str]:
    return {
        "at": dt.datetime.fromtimestamp(entry.at, dt.UTC).isoformat(timespec="microseconds"),
        "reservation": entry.reservation,
        "cost_usd": plain_usd(entry.cost),  # plain digits: 0.00000026, never 2.6E-7
        "outcome": str(entry.outcome),
        "model": entry.model or "",
        "deployment": entry.deployment or "",
        "user": entry.user or "",
        "team": entry.team or "",
        # JSON arrays: unambiguous whatever a tag or budget name holds (spaces, commas)
        "tags": json.dumps(list(entry.tags)),
        "budgets": json.dumps(list(entry.budgets)),
    }


def export_entries(entries: Iterable[Entry], target: str | os.PathLike[str] | IO[str], *,
                   format: ExportFormat | None = None) -> int:
    """Write entries as CSV (one header row) or JSONL (costs as decimal strings); return the count.

    `format` defaults to the file suffix (.csv, .jsonl).
    """
    if format is None:
        suffix = Path(target).suffix.lower() if isinstance(target, str | os.PathLike) else ""
        format = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix)  # type: ignore[assignment]
    if format not in ("csv", "jsonl"):
        raise InvalidRequestError('must be "csv" or "jsonl" (or a target ending in .csv/.jsonl)',
                                  field="format")
    if isinstance(target, str | os.PathLike):
        try:
            fp = open(target, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise InvalidRequestError(f"cannot write {os.fspath(target)!r}: {exc.strerror}",
                                      field="target") from exc
        with fp:
            return _write(entries, fp, format)
    return _write(entries, target, format)


def _write(entries: Iterable[Entry], fp: IO[str], format: ExportFormat) -> int:
    count = 0
    if format == "csv":
        writer = csv.DictWriter(fp, fieldnames=_COLUMNS)
        writer.writeheader()
        for entry in entries:
            writer.writerow(_row(entry))
            count += 1
        return count
    for entry in entries:
        row: dict[str, object] = dict(_row(entry))
        row["tags"], row["budgets"] = list(entry.tags), list(entry.budgets)  # real arrays
        fp.write(json.dumps(row) + "\n")
        count += 1
    return count
