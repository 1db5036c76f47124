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


@pytest.mark.parametrize(("args", "expected"), [
    (["-c", "{d}", "models"], "{d} is a directory, not a file (expected: config file)"),
    (["config", "check", "{d}"], "{d} is a directory, not a file (expected: config file)"),
    (["route", "-f", "{d}"], "{d} is a directory, not a file (expected: prompt file)"),
    (["route", "hi", "--image", "{d}"], "{d} is a directory, not a file (expected: image file)"),
    (["eval", "{d}", "-m", "a=b"], "{d} is a directory, not a file (expected: trace file)"),
])
def test_a_directory_where_a_file_is_wanted_says_so(tmp_path: Path, args: list[str],
                                                    expected: str) -> None:
    line = one_line_error(run(*(a.format(d=tmp_path) for a in args)))
    assert line == f"router: error: {expected.format(d=tmp_path)}"


def test_image_must_be_an_image(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"  # the name says PNG; the bytes say text
    text.write_text("deployments: []\n")
    line = one_line_error(run("route", "hi", "--image", str(text)))
    assert line == (f"router: error: {text} is not an image: --image takes PNG, JPEG, GIF or "
                    "WEBP files (or an http(s) URL)")
    gif = tmp_path / "pixel"
    gif.write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    result = run("route", "hi", "--image", str(gif), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["excluded"]["mistral-nemo"].startswith("does not take image input")


@pytest.mark.parametrize("args", [["route", " \n\t"], ["route", "-"], ["route", "-f", "{blank}"]])
def test_a_blank_prompt_is_refused(tmp_path: Path, args: list[str]) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n")
    result = CliRunner().invoke(cli, [a.format(blank=blank) for a in args], input="   \n")
    assert one_line_error(result) == "router: error: the prompt is empty; give the text to route"


def test_an_empty_config_fails_the_check(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = run("config", "check", str(empty))
    assert result.exit_code == 1
    assert "refused: no deployment can serve a request: add a live one under `deployments:`" \
        in result.stderr
    data = json.loads(run("config", "check", str(empty), "--json").output)
    assert data["ok"] is False


@pytest.mark.parametrize("where", ["before", "after", "last"])
def test_debug_is_accepted_anywhere(tmp_path: Path, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("deployments: 5\n")
    args = {"before": ["--debug", "config", "check", str(path)],
            "after": ["config", "--debug", "check", str(path)],
            "last": ["config", "check", str(path), "--debug"]}[where]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "Traceback" in result.stderr  # the traceback, then the one line
    # After `--`, it is an argument like any other.
    assert "--debug" not in run("route", "--json", "--", "--debug").stderr


def test_yaml_errors_name_the_file_not_a_unicode_string(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("deployments: [\n  - {model: x\n")
    line = one_line_error(run("config", "check", str(path)))
    assert f'{path}: is not valid YAML: line 2, column 3' in line
    assert "<unicode string>" not in line


def test_missing_keys_say_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "r.yaml"
    config.write_text("deployments:\n  - {model: gpt-4o, provider: openai, api_key: ''}\n"
                      "  - {model: gpt-4o-mini, provider: openai, api_key: '${NO_SUCH_KEY}'}\n")
    result = run("--config", str(config), "route", "hi")
    assert result.exit_code == 0, result.output
    assert "note: no API key is set, so this is the plan only; to send it, set NO_SUCH_KEY or " \
           "give deployment 'gpt-4o@openai' an api_key in the config" in result.output
    assert "a real call would need" not in result.output


@pytest.mark.parametrize("prompt", ["", " \n"])
def test_estimate_refuses_a_blank_prompt(tmp_path: Path, monkeypatch: Any, prompt: str) -> None:
    monkeypatch.chdir(tmp_path)  # "" is not the current directory
    (tmp_path / "a.txt").write_text("not to be read")
    line = one_line_error(run("estimate", prompt))
    assert line == "router: error: the prompt is empty; give the text to estimate, or a FILE or DIR"
