"""Shared budgets as pure data and functions: what a budget is, its windows in a timezone, which
budgets apply to a call, what is left of them and whether spend runs ahead of pace.

`budget_routing` turns what is left into the routing decision; the ledger does the I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.errors import ConfigError, InvalidRequestError
from router.ledger.base import MAX_USD, Balance, Limit, from_units, to_units
from router.money import format_usd, parse_money

__all__ = [
    "ROLLING_SLOTS",
    "Applied",
    "Bucket",
    "Budget",
    "CallScope",
    "LedgerErrorPolicy",
    "OnExceed",
    "Scope",
    "Window",
    "apply_budgets",
    "bucket_for",
    "check_budgets",
    "check_ttl",
    "pace",
    "remaining",
    "window_bounds",
]

ROLLING_SLOTS = 24  # a rolling window is counted in slots of 1/24 of its length


class Scope(enum.StrEnum):
    """Whose spend a budget caps: everyone's, each user's, team's or tag's, or one model's or
    deployment's."""

    GLOBAL = "global"
    USER = "user"
    TEAM = "team"
    TAG = "tag"
    MODEL = "model"
    DEPLOYMENT = "deployment"


class Window(enum.StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class LedgerErrorPolicy(enum.StrEnum):
    """What a call does when the ledger cannot be reached: raise `LedgerError` (fail_closed), or
    go ahead unbudgeted with a warning (fail_open)."""

    FAIL_CLOSED = "fail_closed"
    FAIL_OPEN = "fail_open"


class OnExceed(enum.StrEnum):
    """`reject`: raise `BudgetExceeded`; `downgrade`: route among the models that still fit."""

    REJECT = "reject"
    DOWNGRADE = "downgrade"


_SECONDS = {Window.MINUTE: 60, Window.HOUR: 3600, Window.DAY: 86400, Window.WEEK: 7 * 86400,
            Window.MONTH: 30 * 86400}
_PER_CANDIDATE = (Scope.MODEL, Scope.DEPLOYMENT)


class Budget(BaseModel):
    """One shared budget, e.g. `Budget(scope="user", limit="2.00", window="day")`.

    Without `match`, every user (team, tag, model, deployment) gets a budget of its own; with it,
    only that one. A calendar window starts at midnight (Monday, the 1st) in `timezone`; `rolling`
    counts the last minute/hour/day/week/30 days instead; no window means for ever.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope = Field(description="global, user, team, tag, model or deployment")
    limit: Decimal = Field(description='USD, as a string: "2.00"')
    window: Window | None = Field(None, description="minute, hour, day, week or month; none: "
                                  "for ever")
    rolling: bool = Field(False, description="The last window's length, not the calendar window")
    on_exceed: OnExceed = Field(OnExceed.REJECT, description="reject, or downgrade to a model "
                                "that still fits")
    pace: bool = Field(False, description="Prefer cheaper models while spend runs ahead of the "
                       "window's pro-rated share")
    match: str | None = Field(None, description="Only this user, team, tag, model or deployment "
                              "(default: each one its own budget)")
    name: str | None = Field(None, description="Its identity in the ledger (default: scope, match "
                             "and window, e.g. user/day)")
    timezone: str = Field("UTC", description="Where calendar windows start (IANA name)")

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value: Any) -> Decimal:
        try:
            limit = parse_money(value, field="limit")
        except InvalidRequestError:
            raise ValueError(f'{value!r} is not a USD amount >= 0; write it as a string, e.g. "2.00"'
                             ) from None
        if limit > MAX_USD:
            raise ValueError(f"{value!r} is more than a ledger can count (at most "
                             f"{format_usd(MAX_USD)}); split it into smaller budgets, or leave "
                             "the budget out for no limit")
        return limit

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Europe/Paris"
                             ) from None
        return value

    @field_validator("name", "match")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(ch in value for ch in "|\n")):
            raise ValueError("must be non-empty, without | or line breaks")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Budget:
        if self.rolling and self.window is None:
            raise ValueError("rolling needs a window (minute, hour, day, week or month)")
        if self.pace and (self.window is None or self.rolling):
            raise ValueError("pace needs a calendar window (not rolling, not none)")
        if self.scope is Scope.GLOBAL and self.match is not None:
            raise ValueError("a global budget takes no match")
        return self

    @property
    def id(self) -> str:
        """The budget's identity in the ledger: its `name`, or scope, match and window."""
        if self.name:
            return self.name
        who = f"{self.scope}={self.match}" if self.match else str(self.scope)
        when = "" if self.window is None else f"/{self.window}" + ("-rolling" if self.rolling else "")
        return who + when

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def check_budgets(budgets: Sequence[Budget], *, models: Iterable[str],
                  deployments: Iterable[str], source: str | None = None) -> None:
    """Config checks that need the whole list or the deployments; `ConfigError` names the key."""
    seen: dict[str, int] = {}
    known = {Scope.MODEL: set(models), Scope.DEPLOYMENT: set(deployments)}
    for i, budget in enumerate(budgets):
        if budget.id in seen:
            raise ConfigError(f"budgets[{seen[budget.id]}] is already called {budget.id!r}; "
                              "give one of them a distinct `name`", path=f"budgets[{i}]",
                              source=source)
        seen[budget.id] = i
        names = known.get(budget.scope)
        if names is not None and budget.match is not None and budget.match not in names:
            raise ConfigError(f"no {budget.scope} called {budget.match!r}; configured: "
                              f"{', '.join(sorted(names))}", path=f"budgets[{i}].match",
                              source=source)


def check_ttl(ttl: float, deadline: float | None, *, budgets: Sequence[Budget],
              source: str | None = None,
              settings: Sequence[tuple[str, float]] = ()) -> None:
    """A reservation must outlive the call holding it: otherwise it expires mid-call, its room is
    handed to other calls, and the late settlement takes the budget past its limit.

    `settings` are where the deadline comes from (`TimeoutsConfig.deadline_settings`): the error
    names the one that made it too long, and every one to lower for a fix that is accepted."""
    if not budgets:
        return
    if deadline is None:
        raise ConfigError(
            f"shared budgets need calls that end: with timeouts.total unset (no deadline) a call "
            f"can outlive its reservation ({ttl:g}s). Set timeouts.total below reservation_ttl",
            path="timeouts.total", source=source)
    if deadline >= ttl:
        over = [(name, seconds) for name, seconds in settings or [("timeouts.total", deadline)]
                if seconds >= ttl]
        cause, seconds = max(over, key=lambda s: s[1], default=("timeouts.total", deadline))
        why = (f"{cause.removesuffix(' (default)')}: {deadline:g}s" if cause.startswith("timeouts.total")
               else f"{deadline:g}s: the default timeouts.total grows to fit {cause}, {seconds:g}s")
        lower = " and ".join(name.removesuffix(" (default)") for name, _ in over)
        raise ConfigError(
            f"{ttl:g}s is not longer than a call may take ({why}), so a reservation could expire "
            f"while its call runs and the budget be overspent. Raise reservation_ttl above "
            f"{deadline:g}s (leave a margin), or lower {lower} below {ttl:g}s",
            path="reservation_ttl", source=source)


@dataclass(frozen=True, slots=True)
class CallScope:
    """Who a call is for: the `user=`, `team=` and `tags=` of `complete()`."""

    user: str | None = None
    team: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Bucket:
    """A budget applied to one user/team/tag/model/deployment in its current window."""

    budget: Budget
    limit: Limit
    start: dt.datetime | None = None  # calendar windows only
    end: dt.datetime | None = None

    @property
    def name(self) -> str:
        return self.limit.name


@dataclass(frozen=True, slots=True)
class Applied:
    """The buckets of a call: those that apply whatever the model, and those per deployment."""

    common: tuple[Bucket, ...] = ()
    by_deployment: Mapping[str, tuple[Bucket, ...]] = dataclasses.field(default_factory=dict)

    def __iter__(self) -> Iterator[Bucket]:
        yield from self.common
        for buckets in self.by_deployment.values():
            yield from buckets

    def counters(self) -> list[str]:
        return list(dict.fromkeys(c for b in self for c in b.limit.counters))

    def for_candidate(self, deployment: str) -> tuple[Bucket, ...]:
        return self.common + tuple(self.by_deployment.get(deployment, ()))


def window_bounds(window: Window, now: dt.datetime, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The calendar window around `now` (aware) in `tz`: [start, end)."""
    local = now.astimezone(tz)
    if window in (Window.MINUTE, Window.HOUR):
        start = local.replace(second=0, microsecond=0)
        if window is Window.HOUR:
            start = start.replace(minute=0)
        step = dt.timedelta(seconds=_SECONDS[window])
        return start, (start.astimezone(dt.UTC) + step).astimezone(tz)
    start = dt.datetime(local.year, local.month, local.day, tzinfo=tz)
    if window is Window.DAY:
        nxt = start.date() + dt.timedelta(days=1)
    elif window is Window.WEEK:
        start = dt.datetime.combine(start.date() - dt.timedelta(days=start.weekday()), dt.time(),
                                    tzinfo=tz)
        nxt = start.date() + dt.timedelta(days=7)
    else:
        start = start.replace(day=1)
        nxt = (start.date() + dt.timedelta(days=32)).replace(day=1)
    return start, dt.datetime.combine(nxt, dt.time(), tzinfo=tz)


def bucket_for(budget: Budget, value: str | None, now: dt.datetime) -> Bucket:
    """`budget` for one user/team/tag/model/deployment (`None`: global) in the window of `now`."""
    who = "*" if value is None else quote(value, safe="")
    name = budget.id if value is None or budget.match else f"{budget.id}:{value}"
    base = f"{budget.id}|{who}|"
    if budget.window is None:
        return Bucket(budget, Limit(name, budget.limit, (base + "total",)))
    if budget.rolling:
        slot = _SECONDS[budget.window] / ROLLING_SLOTS
        current = int(now.timestamp() // slot)
        counters = tuple(f"{base}r{current - i}" for i in range(ROLLING_SLOTS + 1))
        return Bucket(budget, Limit(name, budget.limit, counters))
    start, end = window_bounds(budget.window, now, budget.tz)
    tag = {Window.MINUTE: "%Y-%m-%dT%H:%M", Window.HOUR: "%Y-%m-%dT%H", Window.DAY: "%Y-%m-%d",
           Window.WEEK: "%G-W%V", Window.MONTH: "%Y-%m"}[budget.window]
    # The hour repeated when clocks go back has the same local time as the first: its own
    # counter, so that it does not start with the first one's spend.
    repeated = "~2" if start.fold and budget.window in (Window.MINUTE, Window.HOUR) else ""
    return Bucket(budget, Limit(name, budget.limit, (base + start.strftime(tag) + repeated,)),
                  start, end)


def apply_budgets(budgets: Sequence[Budget], scope: CallScope,
                  deployments: Iterable[tuple[str, str]], now: dt.datetime) -> Applied:
    """The buckets that apply to a call by `scope` at `now`; `deployments` are (id, model) pairs."""
    common: list[Bucket] = []
    values = {Scope.USER: [scope.user] if scope.user else [], Scope.TEAM: [scope.team] if scope.team
              else [], Scope.TAG: list(dict.fromkeys(scope.tags))}
    for budget in budgets:
        if budget.scope is Scope.GLOBAL:
            common.append(bucket_for(budget, None, now))
        elif budget.scope not in _PER_CANDIDATE:
            common += [bucket_for(budget, v, now) for v in values[budget.scope]
                       if budget.match is None or v == budget.match]
    by_deployment: dict[str, tuple[Bucket, ...]] = {}
    for dep_id, model in deployments:
        value = {Scope.MODEL: model, Scope.DEPLOYMENT: dep_id}
        mine = tuple(bucket_for(b, value[b.scope], now) for b in budgets if b.scope in _PER_CANDIDATE
                     and (b.match is None or b.match == value[b.scope]))
        if mine:
            by_deployment[dep_id] = mine
    return Applied(tuple(common), by_deployment)


def remaining(bucket: Bucket, balances: Mapping[str, Balance]) -> Decimal:
    """What is left of a bucket: limit minus spent minus reserved, never below zero, in whole
    nano-dollars (the ledger's unit), so that whatever fits here fits the ledger too."""
    used = sum((balances.get(c, Balance()).spent + balances.get(c, Balance()).reserved
                for c in bucket.limit.counters), Decimal(0))
    return from_units(max(to_units(bucket.limit.limit - used, up=False), 0))


def pace(bucket: Bucket, balances: Mapping[str, Balance], now: dt.datetime) -> str | None:
    """A note when a paced bucket's spend (with reservations) runs ahead of its pro-rated share."""
    if not bucket.budget.pace or bucket.start is None or bucket.end is None:
        return None
    elapsed = (now - bucket.start) / (bucket.end - bucket.start)
    share = bucket.limit.limit * Decimal(str(round(min(max(elapsed, 0.0), 1.0), 6)))
    used = bucket.limit.limit - remaining(bucket, balances)
    if used <= share:
        return None
    return (f"pacing: budget {bucket.name!r} has used {format_usd(used)} of "
            f"{format_usd(bucket.limit.limit)}, ahead of {format_usd(share)} pro rata; "
            "preferring cheaper models")
