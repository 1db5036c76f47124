"""Reading what `router estimate` prices: prompt text, text files, JSONL files, directories of them.

A JSONL line is a request: `{"messages": [...]}`, `{"prompt": "..."}`, `{"text": "..."}`, or a
JSON string; any other file is one request holding its whole text.
"""

from __future__ import annotations

import json
import os
import stat
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

    A directory that cannot be listed, a broken symbolic link, or something that is not a regular
    file (a named pipe, a device) is an error (not silently left out) unless `skip_bad`, and then
    it is listed in `skipped`."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found, unreadable, odd = _walk(path)
            for exc in unreadable:
                _bad(skipped, skip_bad, str(exc.filename or path),
                     f"cannot read the directory: {exc.strerror or exc}")
            for where, reason in odd:
                _bad(skipped, skip_bad, str(where), reason)
            if not found and not unreadable and not odd:
                raise CliError(f"{path}: the directory holds no files")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        elif os.path.lexists(path):
            _bad(skipped, skip_bad, str(path), _not_regular(path))
        else:
            raise CliError(f"no such file or directory: {path}")
    return out


def _walk(top: Path) -> tuple[list[Path], list[OSError], list[tuple[Path, str]]]:
    """Every non-hidden regular file under `top` (linked directories included, each once),
    sorted; the directories that could not be listed; and the other entries (broken links,
    pipes, devices), each with why it is not read."""
    errors: list[OSError] = []
    found: list[Path] = []
    read: set[str] = set()  # directories already walked: links are followed, loops are not
    for root, dirs, files in os.walk(top, onerror=errors.append, followlinks=True):
        real = os.path.realpath(root)
        if real in read:  # a link back to a directory already counted: count it once
            dirs[:] = []
            continue
        read.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root, f) for f in files if not f.startswith(".")]
    regular = sorted(p for p in found if p.is_file())
    odd = sorted((p, _not_regular(p)) for p in found if not p.is_file())
    return regular, errors, odd


def _not_regular(path: Path) -> str:
    """Why `path`, which exists (perhaps as a broken link) but is no regular file, is not read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        try:
            target = os.readlink(path)
        except OSError:
            return "no such file"
        return f"a broken symbolic link (to {target}, which does not exist)"
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    kinds = [(stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")]
    kind = next((name for test, name in kinds if test(mode)), "")
    return "not a regular file or directory" + (f" ({kind})" if kind else "")


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
