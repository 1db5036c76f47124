"""Every script or benchmark that the quality code and its docs point at exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "src" / "router" / "quality").glob("*.py")),
    *sorted((ROOT / "scripts").glob("*.py")),
    *sorted((ROOT / "bench").glob("*.py")),
    ROOT / "docs" / "quality.md",
    ROOT / "docs" / "results" / "evaluation.md",
]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_scripts_exist(source: Path) -> None:
    cited = set(re.findall(r"\b((?:scripts|bench)/\w+\.py)\b", source.read_text("utf-8")))
    missing = sorted(path for path in cited if not (ROOT / path).is_file())
    assert not missing, f"{source.name} cites {missing}"
