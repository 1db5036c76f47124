"""`router route` and `router spend` against the config's ledger: a dry run creates nothing, bad
input changes nothing, and a missing or unreachable ledger is said, not papered over."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.test_cli import KEY, clean_env, one_line_error

from router import Router
from router.cli.app import cli

__all__ = ["clean_env"]  # the autouse fixture: no ROUTER_* or *_API_KEY from the outer shell


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--today", "2026-11-25", *args])


def _config(tmp_path: Path, ledger: str) -> Path:
    path = tmp_path / "router.yaml"
    path.write_text(f"""
deployments:
  - {{model: gpt-4o-mini, provider: openai, api_key: "{KEY}"}}
  - {{model: gpt-4o, provider: openai, api_key: "{KEY}"}}
ledger: "{ledger}"
budgets:
  - {{scope: global, limit: "500", window: month}}
""")
    return path


def _listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())


@pytest.mark.parametrize("args", [
    ["route", "hi", "--budget", "abc"],
    ["route"],
    ["route", "hi", "-m", "gpt-9"],
])
def test_bad_route_arguments_do_not_create_the_ledger(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "data" / "spend.db"
    db.parent.mkdir()
    config = _config(tmp_path, f"sqlite://{db}")
    one_line_error(run("--config", str(config), *args))
    assert list(db.parent.iterdir()) == []


def test_route_is_a_dry_run_that_creates_no_ledger_file(tmp_path: Path) -> None:
    db = tmp_path / "spend.db"
    config = _config(tmp_path, f"sqlite://{db}")
    before = _listing(tmp_path)
    result = run("--config", str(config), "route", "hi", "--budget", "0.01", "--json")
    assert result.exit_code == 0, result.output
    assert _listing(tmp_path) == before
    notes = json.loads(result.output)["notes"]
    assert f"the ledger file {db} does not exist yet: shared budgets count as unspent " \
           "(nothing was created)" in notes


def test_route_reads_an_existing_ledger(tmp_path: Path) -> None:
    from router.mock import mock_transport

    db = tmp_path / "spend.db"
    config = _config(tmp_path, f"sqlite://{db}")
    with Router(config, env={}, transport=mock_transport()) as router:
        router.complete("hi", max_tokens=10)
    result = run("--config", str(config), "route", "hi", "--budget", "0.01")
    assert result.exit_code == 0, result.output
    assert "does not exist yet" not in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_route_without_a_reachable_redis_routes_and_says_so(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    config = _config(tmp_path, f"redis://127.0.0.1:{_free_port()}/0")
    result = run("--config", str(config), "route", "hi", "--budget", "0.01")
    assert result.exit_code == 0, result.output + result.stderr
    assert "gpt-4o-mini via gpt-4o-mini@openai" in result.output
    assert "note: the ledger cannot be reached" in result.output
    assert "shared budgets were not checked (counted as unspent)" in result.output


def test_spend_on_a_missing_sqlite_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    config = _config(tmp_path, f"sqlite://{db}")
    before = _listing(tmp_path)
    line = one_line_error(run("--config", str(config), "spend"))
    assert line == (f"router: error: no ledger file at {db}: nothing has been recorded there; "
                    "check `ledger:` in the config")
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("ledger", [None, "memory"])
def test_spend_without_a_shared_ledger_says_so_and_exits_3(tmp_path: Path,
                                                           ledger: str | None) -> None:
    config = tmp_path / "router.yaml"
    text = f'deployments:\n  - {{model: gpt-4o-mini, provider: openai, api_key: "{KEY}"}}\n'
    config.write_text(text + (f"ledger: {ledger}\n" if ledger else ""))
    line = one_line_error(run("--config", str(config), "spend"), 3)
    assert "router spend reads a shared ledger, and the config has none" in line
    # The built-in config has no ledger either.
    assert "has none" in one_line_error(run("spend", "--json"), 3)


def test_spend_with_an_unreachable_redis_fails_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    config = _config(tmp_path, f"redis://127.0.0.1:{_free_port()}/0")
    line = one_line_error(run("--config", str(config), "spend"), 4)
    assert "LedgerError" in line
