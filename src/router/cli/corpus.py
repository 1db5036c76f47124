"""Reading what `router estimate` prices: prompt text, text files, JSONL files, directories of them.

A JSONL line is a request: `{"messages": [...]}`, `{"prompt": "..."}`, `{"text": "..."}`, or a
JSON string; any other file is one request holding its whole text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.cli.common import CliError

__all__ = ["TEXT_KEYS", "Item", "Skipped", "collect_files", "looks_like_path", "read_items"]

TEXT_KEYS = ("messages", "prompt", "text", "content", "input", "question")
_SUFFIXES = (".txt", ".md", ".json", ".jsonl", ".ndjson", ".csv", ".html", ".xml", ".log", ".rst")


@dataclass(frozen=True, slots=True)
class Item:
    """One request to price: where it came from, its messages, and its size in bytes."""

    where: str
    messages: Any
    size: int


@dataclass(frozen=True, slots=True)
class Skipped:
    where: str
    reason: str


def looks_like_path(arg: str) -> bool:
    """Whether a missing argument was meant as a file (so it is an error, not a prompt)."""
    if any(c.isspace() for c in arg):
        return False
    return "/" in arg or "\\" in arg or arg.lower().endswith(_SUFFIXES)


def collect_files(paths: Sequence[Path], *, skip_bad: bool,
                  skipped: list[Skipped]) -> list[Path]:
    """Files named, and every non-hidden file under directories named, in a stable order.

    A directory that cannot be listed is an error (not silently left out) unless `skip_bad`,
    and then it is listed in `skipped`."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found, unreadable = _walk(path)
            for exc in unreadable:
                _bad(skipped, skip_bad, str(exc.filename or path),
                     f"cannot read the directory: {exc.strerror or exc}")
            if not found and not unreadable:
                raise CliError(f"{path}: the directory holds no files")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise CliError(f"no such file or directory: {path}")
    return out


def _walk(top: Path) -> tuple[list[Path], list[OSError]]:
    """Every non-hidden file under `top`, sorted, and the directories that could not be listed."""
    errors: list[OSError] = []
    found: list[Path] = []
    for root, dirs, files in os.walk(top, onerror=errors.append):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root, f) for f in files if not f.startswith(".")]
    return sorted(p for p in found if p.is_file()), errors


def read_items(files: Sequence[Path], *, field: str | None, skip_bad: bool,
               skipped: list[Skipped]) -> Iterator[Item]:
    """Every request of `files`; a bad file or line raises `CliError` unless `skip_bad`."""
    for path in files:
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            _bad(skipped, skip_bad, str(path), "not UTF-8 text (a binary file?)")
            continue
        except OSError as exc:
            _bad(skipped, skip_bad, str(path), f"cannot read it: {exc.strerror}")
            continue
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            yield from _jsonl(path, text, field=field, skip_bad=skip_bad, skipped=skipped)
        elif text.strip():
            yield Item(str(path), text, len(text.encode()))


def _jsonl(path: Path, text: str, *, field: str | None, skip_bad: bool,
           skipped: list[Skipped]) -> Iterator[Item]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            _bad(skipped, skip_bad, where, f"not JSON ({exc.msg})")
            continue
        messages = _messages(value, field)
        if messages is None:
            keys = field or ", ".join(TEXT_KEYS)
            _bad(skipped, skip_bad, where, f"holds none of: {keys} (choose one with --field)")
            continue
        yield Item(where, messages, len(line.encode()))


def _messages(value: Any, field: str | None) -> Any:
    if isinstance(value, str):
        return value or None
    if not isinstance(value, dict):
        return None
    for key in (field,) if field else TEXT_KEYS:
        found = value.get(key)
        if isinstance(found, str) and found:
            return found
        if key == "messages" and isinstance(found, list) and found:
            return found
    return None


def _bad(skipped: list[Skipped], skip_bad: bool, where: str, reason: str) -> None:
    if not skip_bad:
        raise CliError(f"{where}: {reason} (--skip-bad skips such input)")
    skipped.append(Skipped(where, reason))
