"""The spend ledger behind shared budgets: one `Ledger` interface, three backends, one URL to pick.

`guard` is how the Router's shells use it (reserve, then settle); `report` reads it back.

    memory                        in-process (the default)
    sqlite:///var/lib/router.db   one file shared by the processes of a machine (sqlite:spend.db
                                  for a path relative to the working directory)
    redis://host:6379/0           shared by many machines (`pip install 'router[redis]'`);
                                  `?prefix=name` keeps several ledgers apart in one database
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from router.errors import ConfigError
from router.ledger.base import (
    Balance,
    BlockingLedger,
    Entry,
    Labels,
    Ledger,
    Limit,
    Outcome,
    Reservation,
    from_units,
    to_units,
)
from router.ledger.memory import MemoryLedger
from router.redaction import mask_url

__all__ = [
    "Balance",
    "BlockingLedger",
    "Entry",
    "Labels",
    "Ledger",
    "LedgerURL",
    "Limit",
    "MemoryLedger",
    "Outcome",
    "Reservation",
    "from_units",
    "open_ledger",
    "parse_ledger_url",
    "to_units",
]

_EXAMPLES = "use memory, sqlite:///absolute/path.db, sqlite:relative.db or redis://host:6379/0"


@dataclass(frozen=True, slots=True)
class LedgerURL:
    """A parsed ledger URL: which backend and where."""

    kind: Literal["memory", "sqlite", "redis"]
    target: str  # the file path for sqlite, the full URL for redis, "" for memory
    max_entries: int = 100_000

    def __repr__(self) -> str:  # a redis URL may hold a password
        return f"LedgerURL({self.kind!r}, {mask_url(self.target)!r}, max_entries={self.max_entries})"


def parse_ledger_url(url: str, *, path: str = "ledger") -> LedgerURL:
    """Check a ledger URL without touching any file or server; errors are `ConfigError`s at `path`."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"expected a ledger URL; {_EXAMPLES}", path=path)
    url = url.strip()
    scheme = url.split(":", 1)[0].lower() if ":" in url else url.lower()
    if scheme == "memory":
        rest = url[len("memory"):].removeprefix("://").removeprefix(":")
        options = dict(parse_qsl(rest.removeprefix("?"), keep_blank_values=True))
        unknown = set(options) - {"max_entries"}
        if (rest and not rest.startswith("?")) or unknown:
            raise ConfigError(f"{url!r}: memory takes only ?max_entries=N", path=path)
        try:
            max_entries = int(options.get("max_entries", 100_000))
        except ValueError:
            max_entries = 0
        if max_entries < 1:
            raise ConfigError(f"{url!r}: max_entries must be a whole number >= 1", path=path)
        return LedgerURL("memory", "", max_entries)
    if scheme == "sqlite":
        rest = url[len("sqlite:"):]
        if rest.startswith("///"):
            file = rest[2:]
        elif rest.startswith("//"):
            raise ConfigError(
                f"{url!r}: write sqlite:///absolute/path.db (three slashes) or sqlite:relative.db",
                path=path,
            )
        else:
            file = rest
        if not file or file.endswith("/") or "?" in file:
            raise ConfigError(f"{url!r}: name the database file, e.g. sqlite:///var/lib/router.db",
                              path=path)
        return LedgerURL("sqlite", file)
    shown = repr(mask_url(url))  # a redis URL may hold a password: never in an error
    if scheme in ("redis", "rediss"):
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{shown}: the port is not a number", path=path) from None
        db = parts.path.strip("/")
        if not parts.hostname or (db and not db.isdigit()) or (port is not None and port < 1):
            raise ConfigError(f"{shown}: expected redis://host:port/db, e.g. redis://127.0.0.1:6379/0",
                              path=path)
        options = dict(parse_qsl(parts.query))
        prefix = options.get("prefix", "router")
        if not prefix or any(ch in prefix for ch in "{}:"):
            raise ConfigError(f"{shown}: prefix must be a non-empty name without {{, }} or :",
                              path=path)
        return LedgerURL("redis", url)
    raise ConfigError(f"unknown ledger {shown}; {_EXAMPLES}", path=path)


def open_ledger(url: str, *, clock: Callable[[], float] = time.time) -> Ledger:
    """Open (and for SQLite create and migrate) the ledger at `url`.

    Raises `ConfigError` naming `ledger` for a malformed URL, a file that cannot be created, or a
    missing `redis` client. Redis connects on first use; an unreachable server then raises
    `LedgerError`.
    """
    spec = parse_ledger_url(url)
    if spec.kind == "memory":
        return MemoryLedger(clock=clock, max_entries=spec.max_entries)
    if spec.kind == "sqlite":
        from router.ledger.sqlite import SQLiteLedger

        return SQLiteLedger(spec.target, clock=clock)
    from router.ledger.redis import RedisLedger

    return RedisLedger(spec.target, clock=clock)
