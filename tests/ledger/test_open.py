"""Opening ledgers: URLs, SQLite files and migrations, Redis that is absent or refuses; bad input is
a clear `ConfigError` or `LedgerError`, never a half-written ledger."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from tests.ledger.conftest import _free_port

from router.errors import ConfigError, LedgerError
from router.ledger import Limit, MemoryLedger, open_ledger, parse_ledger_url
from router.ledger import sqlite as sqlite_ledger
from router.ledger.sqlite import MIGRATIONS, SQLiteLedger

LIMIT = Limit("g", Decimal(1), ("g|*|total",))


@pytest.mark.parametrize(("url", "kind", "target"), [
    ("memory", "memory", ""),
    ("memory://", "memory", ""),
    ("memory://?max_entries=10", "memory", ""),
    ("sqlite:///var/lib/router/spend.db", "sqlite", "/var/lib/router/spend.db"),
    ("sqlite:spend.db", "sqlite", "spend.db"),
    ("redis://127.0.0.1:6379/0", "redis", "redis://127.0.0.1:6379/0"),
    ("rediss://cache.internal:6380/2?prefix=prod", "redis", "rediss://cache.internal:6380/2?prefix=prod"),
])
def test_good_urls(url: str, kind: str, target: str) -> None:
    parsed = parse_ledger_url(url)
    assert (parsed.kind, parsed.target) == (kind, target)


@pytest.mark.parametrize(("url", "message"), [
    ("", "expected a ledger URL"),
    ("postgres://db/x", "unknown ledger"),
    ("memroy", "unknown ledger"),
    ("memory://?max_entries=0", "max_entries"),
    ("memory://?size=3", "max_entries"),
    ("sqlite://relative.db", "three slashes"),
    ("sqlite:", "name the database file"),
    ("sqlite:///var/lib/", "name the database file"),
    ("redis://", "expected redis://host:port/db"),
    ("redis://host:port/0", "port is not a number"),
    ("redis://host:6379/zero", "expected redis://host:port/db"),
    ("redis://host:6379/0?prefix={x}", "prefix"),
])
def test_malformed_urls_are_config_errors_naming_the_field(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_ledger_url(url)
    assert caught.value.path == "ledger"
    assert str(caught.value).startswith("ledger: ")


def test_open_ledger_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_ledger("memory"), MemoryLedger)
    ledger = open_ledger(f"sqlite://{tmp_path / 'spend.db'}")
    assert isinstance(ledger, SQLiteLedger)
    assert ledger.url == f"sqlite://{tmp_path / 'spend.db'}"
    ledger.close()


def test_sqlite_in_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as caught:
        open_ledger(f"sqlite://{tmp_path / 'nope' / 'spend.db'}")
    assert caught.value.path == "ledger"
    assert not (tmp_path / "nope").exists()


def test_sqlite_on_a_path_that_cannot_be_a_database_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(ConfigError, match="cannot open"):
        open_ledger(f"sqlite://{tmp_path / 'folder.db'}")


def test_a_file_that_is_not_a_ledger_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="not a database"):
        open_ledger(f"sqlite://{path}")
    assert path.read_bytes() == before


def test_migrations_are_append_only() -> None:
    """An applied migration never changes: add a new one at the end instead."""
    first = hashlib.sha256("\n".join(MIGRATIONS[0]).encode()).hexdigest()[:16]
    assert first == "b512a735843b79ae", "migration 1 changed; append a new migration instead"


def test_a_new_file_is_migrated_to_the_latest_version(tmp_path: Path) -> None:
    SQLiteLedger(tmp_path / "spend.db").close()
    with sqlite3.connect(tmp_path / "spend.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    SQLiteLedger(tmp_path / "spend.db").close()
    broken = (*MIGRATIONS, ("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"))
    monkeypatch.setattr(sqlite_ledger, "MIGRATIONS", broken)
    with pytest.raises(ConfigError, match="syntax error"):
        SQLiteLedger(tmp_path / "spend.db")
    with sqlite3.connect(tmp_path / "spend.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "extra" not in tables


def test_a_later_migration_is_applied_on_open(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = SQLiteLedger(tmp_path / "spend.db")
    ledger.settle(ledger.reserve([LIMIT], Decimal("0.5"), ttl=60), Decimal("0.5"))
    ledger.close()
    monkeypatch.setattr(sqlite_ledger, "MIGRATIONS",
                        (*MIGRATIONS, ("CREATE TABLE notes (text TEXT)",)))
    ledger = SQLiteLedger(tmp_path / "spend.db")
    assert ledger.balances(["g|*|total"])["g|*|total"].spent == Decimal("0.5")
    ledger.close()
    with sqlite3.connect(tmp_path / "spend.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1


def test_a_file_from_a_newer_router_is_refused(tmp_path: Path) -> None:
    SQLiteLedger(tmp_path / "spend.db").close()
    with sqlite3.connect(tmp_path / "spend.db") as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(ConfigError, match="^ledger: .* written by a newer router"):
        SQLiteLedger(tmp_path / "spend.db")


@pytest.mark.parametrize("user_version", [0, 1, 5])
def test_another_applications_database_is_left_alone(tmp_path: Path, user_version: int) -> None:
    # The audit's case: with a user_version of its own, another app's file was taken for a
    # ledger (or for a newer router's) and switched to WAL.
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
        conn.execute(f"PRAGMA user_version = {user_version}")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"^ledger: .* is not a router ledger: .*\(orders\)"):
        SQLiteLedger(path)
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_redis_without_its_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigError, match=r"pip install 'router\[redis\]'"):
        open_ledger("redis://127.0.0.1:6379/0")


def test_a_redis_that_refuses_the_connection_is_a_ledger_error() -> None:
    pytest.importorskip("redis")
    port = _free_port()  # nothing listens there
    ledger = open_ledger(f"redis://127.0.0.1:{port}/0")  # connects lazily
    with pytest.raises(LedgerError, match=f"redis ledger at redis://127.0.0.1:{port}/0: .*Connection.*"
                       "check that the server is up .* the `ledger` URL"):
        ledger.reserve([LIMIT], Decimal("0.1"), ttl=60)
    ledger.close()


async def test_a_redis_that_refuses_the_connection_is_a_ledger_error_async() -> None:
    pytest.importorskip("redis")
    ledger = open_ledger(f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.raises(LedgerError, match="ConnectionError"):
        await ledger.abalances(["g|*|total"])
    await ledger.aclose()


def test_processes_creating_one_new_ledger_at_once_all_open_it(tmp_path: Path) -> None:
    # A fresh file opened by several at once: each sees it empty or created, never "foreign",
    # and a WAL switch refused at once is tried again.
    for round_ in range(30):
        path, errors = tmp_path / f"spend{round_}.db", []

        def open_it(path: Path = path, errors: list[Exception] = errors) -> None:
            try:
                SQLiteLedger(path).close()
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
