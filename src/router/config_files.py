"""Reading a config file: YAML, TOML or JSON, by suffix; a malformed one is a `ConfigError` that
says where and what, never quoting the text (a line may hold an API key)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from router.errors import ConfigError

__all__ = ["read_config_file"]


def read_config_file(config: str | os.PathLike[str]) -> tuple[Any, str]:
    """Parse a YAML, TOML or JSON file (no validation, no interpolation); return it and its name."""
    path = Path(config)
    source = str(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", source=source) from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", source=source) from None
    return _parse(text, path.suffix.lower(), source), source


def _parse(text: str, suffix: str, source: str) -> Any:
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
        if suffix in (".yaml", ".yml"):
            import io

            import yaml

            stream = io.StringIO(text)
            stream.name = source  # yaml's error marks name the file
            return yaml.safe_load(stream) or {}
    except Exception as exc:  # each parser has its own error class; all mean "malformed file"
        raise ConfigError(
            f"is not valid {suffix[1:].upper()}: {_syntax_problem(exc)}", source=source
        ) from None
    raise ConfigError(
        f"unknown config format {suffix!r}; use .yaml, .yml, .toml or .json", source=source
    )


_TOML_AT = re.compile(r"^(.*) \(at (line \d+, column \d+|end of document)\)$", re.S)
_QUOTED = re.compile(r"'(?!<)[^']{4,}'|\"(?!<)[^\"]{4,}\"")


def _syntax_problem(exc: Exception) -> str:
    """Where a parser stopped and what it found, without the text around it: the parsers quote
    the offending line, which may hold an API key."""
    import yaml

    where = problem = None
    if isinstance(exc, yaml.MarkedYAMLError):
        if exc.problem_mark is not None:
            where = _at(exc.problem_mark.line + 1, exc.problem_mark.column + 1)
        context = exc.context
        if context and exc.context_mark is not None:
            context += f" from {_at(exc.context_mark.line + 1, exc.context_mark.column + 1)}"
        problem = "; ".join(p for p in (context, exc.problem) if p)
    elif isinstance(exc, json.JSONDecodeError):
        where, problem = _at(exc.lineno, exc.colno), exc.msg
        if problem.endswith(" at"):  # "Unterminated string starting at": json appends the place
            where, problem = None, f"{problem} {where}"
    elif isinstance(exc, tomllib.TOMLDecodeError) and (m := _TOML_AT.match(str(exc))):
        where, problem = m[2].replace("end of document", "end of file"), m[1]
    # A quoted run of 4+ characters is scanned text (a scalar, a tag), not the kind of problem;
    # YAML's token names ('<stream end>') are kept.
    problem = _QUOTED.sub("'...'", problem) if problem else type(exc).__name__
    return f"{where}: {problem}" if where else problem


def _at(line: int, column: int) -> str:
    return f"line {line}, column {column}"
