"""Bad input to the `router` command: unreadable corpora, directories where files are wanted,
non-images, empty prompts, empty configs; each is one clear line and a non-zero exit."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tests.test_cli import clean_env, one_line_error

from router.cli.app import cli

__all__ = ["clean_env"]  # the autouse fixture: no ROUTER_* or *_API_KEY from the outer shell


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--today", "2026-11-25", *args])


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: Any) -> Path:
    """c2/ with one readable file, and c2/secret/ holding 3 more that cannot be listed."""
    top = tmp_path / "c2"
    (top / "secret").mkdir(parents=True)
    (top / "t1.txt").write_text("Summarise this ticket: my invoice is wrong.")
    for i in range(3):
        (top / "secret" / f"s{i}.txt").write_text(f"secret ticket {i}")
    locked = str(top / "secret")
    real = os.scandir

    def scandir(path: Any = ".") -> Any:  # as mode 000 does, even for root (who ignores it)
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return top


def test_an_unreadable_subdirectory_is_an_error_not_left_out(corpus: Path) -> None:
    line = one_line_error(run("estimate", "--json", str(corpus)))
    assert line == (f"router: error: {corpus / 'secret'}: cannot read the directory: Permission "
                    "denied (--skip-bad skips such input)")


def test_skip_bad_lists_the_unreadable_subdirectory(corpus: Path) -> None:
    result = run("estimate", "--json", "--skip-bad", str(corpus))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["files"], data["requests"]) == (1, 1)
    assert data["skipped"] == [{"where": str(corpus / "secret"),
                                "reason": "cannot read the directory: Permission denied"}]
    table = run("estimate", "--skip-bad", str(corpus))
    assert f"skipped {corpus / 'secret'}: cannot read the directory" in table.output


def test_a_directory_that_cannot_be_read_at_all_says_so(corpus: Path) -> None:
    line = one_line_error(run("estimate", str(corpus / "secret")))
    assert "cannot read the directory: Permission denied" in line
    assert "holds no files" not in line
