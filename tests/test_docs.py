"""The documentation runs: every example marked `<!-- runnable -->` is executed offline (Python
blocks as scripts, `router ...` shell lines through the CLI runner), the generated config
reference is current, every example config validates, and the site builds with --strict."""

from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from router.cli.app import cli
from router.schema import config_schema, schema_markdown
from router.settings import resolve

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"<!-- runnable(?P<opts>[^>]*)-->\s*\n```(?P<lang>\w+)[^\n]*\n(?P<code>.*?)\n```",
                   re.S)
KEYS = ("OPENAI_API_KEY", "OPENROUTER_API_KEY", "MISTRAL_API_KEY")


def _blocks(lang: str) -> list[Any]:
    out = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text("utf-8")
        for match in BLOCK.finditer(text):
            if match["lang"] == lang:
                line = text[: match.start()].count("\n") + 1
                out.append(pytest.param(match["code"], match["opts"].strip(),
                                        id=f"{page.relative_to(DOCS)}:{line}"))
    return out


@pytest.fixture
def offline(monkeypatch: Any, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("ROUTER_") or name in KEYS:
            monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT)
    return tmp_path


def test_the_docs_have_runnable_examples() -> None:
    assert len(_blocks("python")) >= 8
    assert len(_blocks("sh")) >= 4


@pytest.mark.parametrize(("code", "opts"), _blocks("python"))
def test_python_examples_run(code: str, opts: str, offline: Path) -> None:
    script = offline / "example.py"
    script.write_text(code, "utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # run_path registers the script as a module, as pydantic needs for its models.
        runpy.run_path(str(script), run_name="__docs__")


@pytest.mark.parametrize(("code", "opts"), _blocks("sh"))
def test_cli_examples_run(code: str, opts: str, offline: Path) -> None:
    expected = int(m.group(1)) if (m := re.search(r"exit=(\d+)", opts)) else 0
    for line in code.splitlines():
        line = line.strip()
        if not line.startswith("router "):
            continue
        args = shlex.split(line, comments=True)[1:]
        result = CliRunner().invoke(cli, ["--today", "2026-11-25", *args])
        assert result.exit_code == expected, f"{line}\n{result.output}"


def test_config_reference_is_current() -> None:
    page = DOCS / "reference" / "config.md"
    hint = "regenerate: router config schema --markdown > docs/reference/config.md"
    assert page.read_text("utf-8") == schema_markdown(), hint
    schema = DOCS / "reference" / "config.schema.json"
    assert json.loads(schema.read_text("utf-8")) == config_schema(), (
        "regenerate: router config schema > docs/reference/config.schema.json")


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_configs_are_valid_and_pass_the_check(path: Path, offline: Path) -> None:
    resolve(path, env=dict.fromkeys(KEYS, "sk-example-0123456789abcdef"))
    result = CliRunner().invoke(cli, ["--today", "2026-11-25", "config", "check", str(path)])
    assert result.exit_code == 0, result.output + result.stderr


def test_every_page_is_in_the_nav() -> None:
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text("utf-8"))["nav"]
    listed: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            listed.add(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(nav)
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == listed


def test_the_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "index.html").is_file()


def test_config_reference_shows_every_top_level_default() -> None:
    from router.config import RouterConfig

    page = schema_markdown()
    for name, info in RouterConfig.model_fields.items():
        if isinstance(info.default, str | float | int) and not isinstance(info.default, bool):
            section = page.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
            assert f"Default: `{info.default}`." in section, name


def test_the_configuration_page_names_every_top_level_key() -> None:
    from router.config import RouterConfig

    intro = (DOCS / "concepts" / "configuration.md").read_text("utf-8").split("\n## ", 1)[0]
    assert [name for name in RouterConfig.model_fields if f"`{name}`" not in intro] == []


def test_the_strategies_page_sends_quality_routing_to_its_own_page() -> None:
    text = (DOCS / "concepts" / "strategies.md").read_text("utf-8")
    assert "[Quality routing](../quality.md)" in text
