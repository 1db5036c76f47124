"""Fixtures for quality tests: small trace files built at test time from ../shared/data (never copied)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
MODELS = {"gpt-4o": STRONG, "gpt-4o-mini": WEAK}


def _find_data() -> Path | None:
    given = os.environ.get("ROUTER_RESEARCH_DATA")  # the folder holding routellm/
    if given:
        return Path(given) / "routellm"
    for parent in [ROOT, *ROOT.parents]:
        candidate = parent / "shared" / "data" / "routellm"
        if candidate.is_dir():
            return candidate
    return None


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def data_root() -> Path:
    found = _find_data()
    if found is None:
        pytest.skip("../shared/data/routellm is not beside the repository (or set "
                    "ROUTER_RESEARCH_DATA to the folder that holds routellm/)")
    return found


@pytest.fixture(scope="session")
def converter() -> ModuleType:
    return _script("routellm_traces")


@pytest.fixture(scope="session")
def gsm8k_rows(data_root: Path, converter: ModuleType) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = converter.convert(data_root, "gsm8k")
    return rows


@pytest.fixture(scope="session")
def gsm8k_file(tmp_path_factory: pytest.TempPathFactory, gsm8k_rows: list[dict[str, Any]]) -> Path:
    """The first 300 GSM8K traces as a JSONL file."""
    path = tmp_path_factory.mktemp("traces") / "gsm8k.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in gsm8k_rows[:300]), encoding="utf-8")
    return path
