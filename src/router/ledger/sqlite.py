"""The SQLite ledger: budgets that survive restarts and are shared by the processes of one machine.

WAL mode and short `BEGIN IMMEDIATE` transactions make every reserve and settle atomic across
processes. The schema migrates itself from an append-only list (`MIGRATIONS`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from router.errors import ConfigError, LedgerError
from router.ledger.base import (
    NO_LABELS,
    Balance,
    BlockingLedger,
    Entry,
    Labels,
    Limit,
    Outcome,
    Reservation,
    check_amount,
    check_ttl,
    from_units,
    not_live,
    refused,
)

__all__ = ["MIGRATIONS", "SQLiteLedger"]

T = TypeVar("T")

# Append only: each item upgrades the file from `PRAGMA user_version` n to n + 1, in one transaction.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE counters (key TEXT PRIMARY KEY, spent INTEGER NOT NULL) WITHOUT ROWID",
        # state: live, or expired (kept a while so that a late settlement is still recorded)
        "CREATE TABLE reservations (id TEXT PRIMARY KEY, amount INTEGER NOT NULL,"
        " books TEXT NOT NULL, ttl REAL NOT NULL, expires_at REAL NOT NULL, state TEXT NOT NULL)"
        " WITHOUT ROWID",
        "CREATE INDEX reservations_by_state ON reservations (state, expires_at)",
        "CREATE TABLE holds (key TEXT NOT NULL, reservation TEXT NOT NULL,"
        " amount INTEGER NOT NULL, PRIMARY KEY (key, reservation)) WITHOUT ROWID",
        "CREATE INDEX holds_by_reservation ON holds (reservation)",
        "CREATE TABLE entries (seq INTEGER PRIMARY KEY, at REAL NOT NULL,"
        " reservation TEXT NOT NULL UNIQUE, cost INTEGER NOT NULL, outcome TEXT NOT NULL,"
        " model TEXT, deployment TEXT, user TEXT, team TEXT, tags TEXT NOT NULL,"
        " budgets TEXT NOT NULL)",
        "CREATE INDEX entries_by_time ON entries (at)",
    ),
)

_TOMBSTONE_SECONDS = 7 * 86400
_PAGE = 1000
_OPEN_TRIES = 6


_LEDGER_TABLES = frozenset({"counters", "reservations", "holds", "entries"})


class SQLiteLedger(BlockingLedger):
    """A ledger in one SQLite file. Each thread gets its own connection; async calls run on one
    worker thread, so an event loop never waits on the file lock."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = 30.0):
        self.path = Path(path)
        self.url = f"sqlite://{self.path}" if self.path.is_absolute() else f"sqlite:{self.path}"
        self._clock = clock
        self._timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._open()

    def __repr__(self) -> str:
        return f"SQLiteLedger({str(self.path)!r})"

    # -- opening ----------------------------------------------------------------------------

    def _open(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            raise ConfigError(f"cannot open {self.url}: the folder {folder} does not exist",
                              path="ledger")
        try:
            conn = self._conn()
            for attempt in range(_OPEN_TRIES):
                try:
                    self._refuse_foreign(conn)
                    conn.execute("PRAGMA journal_mode=WAL")
                    self._migrate(conn)
                    break
                except sqlite3.OperationalError as exc:
                    # Switching a new file to WAL while another process does the same can be
                    # refused at once, without the busy timeout: try again shortly.
                    if "locked" not in str(exc) or attempt == _OPEN_TRIES - 1:
                        raise
                    time.sleep(0.01 * 2**attempt)
        except sqlite3.Error as exc:
            self.close()
            raise ConfigError(f"cannot open {self.url}: {exc}", path="ledger") from exc
        except LedgerError as exc:
            self.close()
            raise ConfigError(str(exc), path="ledger") from exc

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        """Never turn another application's database into a ledger (WAL mode, our tables)."""
        conn.execute("BEGIN")  # one snapshot: another process may be creating the ledger now
        try:
            tables = [row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        finally:
            conn.execute("COMMIT")
        # Ours once it holds the first migration's tables; any other table-holding file is not,
        # whatever its user_version says (other applications set it too).
        if tables and not set(tables) >= _LEDGER_TABLES:
            raise LedgerError(
                f"{self.url} is not a router ledger: it already holds other tables "
                f"({', '.join(tables[:4])}{', ...' if len(tables) > 4 else ''}); point "
                "`ledger` at a new file")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise LedgerError(
                    f"{self.url} has schema version {version}, written by a newer router "
                    f"(this one knows up to {len(MIGRATIONS)}); upgrade the router"
                )
            for number, steps in enumerate(MIGRATIONS[version:], start=version + 1):
                for sql in steps:
                    conn.execute(sql)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    def _write(self, work: Callable[[sqlite3.Connection, float], T], *, sweep: bool = True) -> T:
        """Run `work` in one write transaction (after expiring overdue reservations)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock()
                if sweep:
                    _sweep(conn, now)
                result = work(conn, now)
                conn.execute("COMMIT")
                return result
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.url}: {exc}") from exc

    def _read(self, work: Callable[[sqlite3.Connection, float], T]) -> T:
        try:
            return work(self._conn(), self._clock())
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.url}: {exc}") from exc

    runs_inline = False  # a write may wait on another process's lock: keep it off the loop

    async def _offload(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._executor is None:
            with self._guard:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="router-ledger")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)  # not on the worker: close() joins it

    def close(self) -> None:
        with self._guard:
            connections, self._connections = self._connections, []
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- the ledger -------------------------------------------------------------------------

    def reserve(self, limits: Sequence[Limit], amount: Decimal, *, ttl: float,
                labels: Labels = NO_LABELS) -> Reservation:
        units, ttl, limits = check_amount(amount, field="amount"), check_ttl(ttl), tuple(limits)
        rid = os.urandom(16).hex()
        books = tuple(dict.fromkeys(limit.book for limit in limits))

        def work(conn: sqlite3.Connection, now: float) -> float:
            _check(conn, limits, units, now)
            expires_at = now + ttl
            conn.execute("INSERT INTO reservations VALUES (?, ?, ?, ?, ?, 'live')",
                         (rid, units, "\n".join(books), ttl, expires_at))
            conn.executemany("INSERT INTO holds VALUES (?, ?, ?)",
                             [(book, rid, units) for book in books])
            return expires_at

        expires_at = self._write(work)
        return Reservation(rid, from_units(units), limits, expires_at, labels)

    def extend(self, reservation: Reservation, extra: Decimal) -> Reservation:
        units, rid = check_amount(extra, field="extra"), reservation.id

        def work(conn: sqlite3.Connection, now: float) -> tuple[int, float]:
            row = conn.execute("SELECT amount, ttl FROM reservations WHERE id = ? AND state = 'live'",
                               (rid,)).fetchone()
            if row is None:
                raise not_live(reservation)
            _check(conn, reservation.limits, units, now)
            amount, expires_at = row[0] + units, now + row[1]
            conn.execute("UPDATE reservations SET amount = ?, expires_at = ? WHERE id = ?",
                         (amount, expires_at, rid))
            conn.execute("UPDATE holds SET amount = ? WHERE reservation = ?", (amount, rid))
            return amount, expires_at

        amount, expires_at = self._write(work)
        return Reservation(rid, from_units(amount), reservation.limits, expires_at,
                           reservation.labels)

    def settle(self, reservation: Reservation, cost: Decimal, *, outcome: Outcome = Outcome.OK,
               model: str | None = None, deployment: str | None = None) -> bool:
        units, labels = check_amount(cost, field="cost"), reservation.labels
        budgets = json.dumps([limit.name for limit in reservation.limits])

        def work(conn: sqlite3.Connection, now: float) -> bool:
            books = _close(conn, reservation.id)
            if books is None:
                return False
            conn.executemany(
                "INSERT INTO counters VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET spent = spent + excluded.spent",
                [(book, units) for book in books],
            )
            conn.execute(
                "INSERT INTO entries (at, reservation, cost, outcome, model, deployment, user,"
                " team, tags, budgets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, reservation.id, units, str(outcome), model, deployment, labels.user,
                 labels.team, json.dumps(list(labels.tags)), budgets),
            )
            return True

        return self._write(work)

    def release(self, reservation: Reservation) -> bool:
        return self._write(lambda conn, now: _close(conn, reservation.id) is not None)

    def balances(self, counters: Iterable[str]) -> dict[str, Balance]:
        keys = list(dict.fromkeys(counters))
        return self._read(lambda conn, now: _balances(conn, keys, now)) if keys else {}

    def scan(self, prefix: str) -> dict[str, Balance]:
        def work(conn: sqlite3.Connection, now: float) -> dict[str, Balance]:
            # a key range, so that the primary keys' indexes answer it
            low, high = prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
            rows = conn.execute(
                "SELECT key FROM counters WHERE key >= ? AND key < ?"
                " UNION SELECT key FROM holds WHERE key >= ? AND key < ?", (low, high, low, high),
            ).fetchall()
            return _balances(conn, sorted(r[0] for r in rows), now)

        return self._read(work)

    def entries(self, *, since: float | None = None, until: float | None = None) -> Iterator[Entry]:
        low = float("-inf") if since is None else since
        high = float("inf") if until is None else until
        seq = 0
        while True:
            rows = self._entries_after(seq, low, high)
            for row in rows:
                yield Entry(at=row[1], reservation=row[2], cost=from_units(row[3]),
                            outcome=Outcome(row[4]), model=row[5], deployment=row[6], user=row[7],
                            team=row[8], tags=tuple(json.loads(row[9])),
                            budgets=tuple(json.loads(row[10])))
            if len(rows) < _PAGE:
                return
            seq = rows[-1][0]

    def _entries_after(self, seq: int, low: float, high: float) -> list[Any]:
        query = ("SELECT seq, at, reservation, cost, outcome, model, deployment, user, team, tags,"
                 " budgets FROM entries WHERE seq > ? AND at >= ? AND at < ? ORDER BY seq LIMIT ?")
        return self._read(lambda conn, now: conn.execute(query, (seq, low, high, _PAGE)).fetchall())

    def expire(self) -> int:
        return self._write(_sweep, sweep=False)

    def check(self) -> str:
        """`PRAGMA integrity_check` of the file: "ok" when it is sound."""
        return str(self._read(lambda conn, now: conn.execute("PRAGMA integrity_check").fetchone()[0]))


def _sweep(conn: sqlite3.Connection, now: float) -> int:
    """Expire live reservations past their deadline (and forget week-old expired ones)."""
    overdue = [r[0] for r in conn.execute(
        "SELECT id FROM reservations WHERE state = 'live' AND expires_at <= ?", (now,))]
    if overdue:  # rare: only a dead (or very slow) process leaves reservations to expire
        conn.executemany("DELETE FROM holds WHERE reservation = ?", [(r,) for r in overdue])
        conn.executemany("UPDATE reservations SET state = 'expired' WHERE id = ?",
                         [(r,) for r in overdue])
        conn.execute("DELETE FROM reservations WHERE state = 'expired' AND expires_at <= ?",
                     (now - _TOMBSTONE_SECONDS,))
    return len(overdue)


def _close(conn: sqlite3.Connection, rid: str) -> list[str] | None:
    """Delete a live or expired reservation; return the counters it books to, or None if gone."""
    row = conn.execute("SELECT books FROM reservations WHERE id = ?", (rid,)).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM holds WHERE reservation = ?", (rid,))
    conn.execute("DELETE FROM reservations WHERE id = ?", (rid,))
    return [b for b in row[0].split("\n") if b]


def _sums(conn: sqlite3.Connection, keys: Sequence[str], now: float) -> tuple[int, int]:
    marks = ",".join("?" * len(keys))
    row = conn.execute(
        f"SELECT (SELECT COALESCE(SUM(spent), 0) FROM counters WHERE key IN ({marks})),"
        f" (SELECT COALESCE(SUM(h.amount), 0) FROM holds h JOIN reservations r"
        f" ON r.id = h.reservation WHERE h.key IN ({marks}) AND r.expires_at > ?)",
        (*keys, *keys, now),
    ).fetchone()
    return int(row[0]), int(row[1])


def _check(conn: sqlite3.Connection, limits: Sequence[Limit], units: int, now: float) -> None:
    for limit in limits:
        spent, held = _sums(conn, limit.counters, now)
        if spent + held + units > limit.units:
            raise refused(limit, from_units(units), from_units(spent), from_units(held))


def _balances(conn: sqlite3.Connection, keys: Sequence[str], now: float) -> dict[str, Balance]:
    spent: dict[str, int] = {}
    held: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        marks = ",".join("?" * len(chunk))
        spent.update(conn.execute(f"SELECT key, spent FROM counters WHERE key IN ({marks})", chunk))
        held.update(conn.execute(
            f"SELECT h.key, SUM(h.amount) FROM holds h JOIN reservations r ON r.id = h.reservation"
            f" WHERE h.key IN ({marks}) AND r.expires_at > ? GROUP BY h.key", (*chunk, now),
        ))
    return {k: Balance(from_units(spent.get(k, 0)), from_units(held.get(k, 0))) for k in keys}
