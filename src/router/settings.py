"""One precedence for every config value: arguments > environment > file > built-in.

The file is the `config` argument, else `$ROUTER_CONFIG`, else the built-in default (every catalog
model on the hosts whose keys the environment holds). `ROUTER_<KEY>` variables replace a top-level
key of the file (`ROUTER_LEDGER=sqlite:///spend.db`, `ROUTER_RESERVATION_TTL=300`) and
`ROUTER_<KEY>__<SUB>` a key inside a section (`ROUTER_ROUTING__STRATEGY=best`); JSON objects and
lists are parsed. `overrides` (arguments, dotted paths such as `{"routing.strategy": "best"}`)
override both. A `ROUTER_*` variable that names no config key is reported, never silently
ignored. Errors name where the bad value came from.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from router.config import (
    RouterConfig,
    builtin_key_hint,
    default_config,
    load_config,
    read_config_file,
)
from router.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "ConfigWarning",
    "Resolved",
    "env_overrides",
    "located",
    "located_errors",
    "resolve",
    "resolve_config",
]

ENV_PREFIX = "ROUTER_"
CONFIG_ENV = "ROUTER_CONFIG"
BUILTIN = "built-in"
# ROUTER_* variables that are not config keys: the file to read, and the command's --debug.
NOT_CONFIG = frozenset({CONFIG_ENV, "ROUTER_DEBUG"})
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class ConfigWarning(UserWarning):
    """Something in the config's environment is ignored (e.g. a misspelt `ROUTER_*` variable, or
    `MISTRAL_API_KEY`, which the built-in config has no use for)."""

ConfigLike = str | os.PathLike[str] | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A validated config, the api_key paths whose variable is unset, the file it came from, and
    where each overridden value came from (dotted path -> `environment ROUTER_...` or `argument`)."""

    config: RouterConfig
    unset: dict[str, str]
    source: str | None
    origins: Mapping[str, str] = field(default_factory=dict)
    layer: str = BUILTIN  # where the base came from: "built-in", "file NAME", "dict"
    key_hint: str | None = None  # why a key that is set serves nothing (built-in config only)


def env_overrides(env: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """`ROUTER_A=value` -> `{"a": (value, "ROUTER_A")}`, `ROUTER_A__B` -> `"a.b"`; JSON objects
    and lists are parsed. Whole keys come before their sub-keys, so the more specific one wins.

    A `ROUTER_X` whose `x` is no top-level config key warns (`ConfigWarning`) and is skipped."""
    out: dict[str, tuple[Any, str]] = {}
    for name in sorted(env, key=lambda n: (n.count("__"), n)):
        if not name.startswith(ENV_PREFIX) or name in NOT_CONFIG:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if len(parts) > 1 and not all(parts):
            raise ConfigError(
                "is not a config key; write ROUTER_SECTION__KEY, e.g. ROUTER_ROUTING__STRATEGY",
                source=f"environment variable {name}",
            )
        if len(parts) == 1 and parts[0] not in RouterConfig.model_fields:
            _ignored(name, parts[0])
            continue
        out[".".join(parts)] = (_env_value(env[name], name), name)
    return out


def _ignored(name: str, key: str) -> None:
    keys = sorted(RouterConfig.model_fields)
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f"did you mean {ENV_PREFIX}{close[0].upper()}? " if close else ""
    _warn(f"environment variable {name} is not a config key and is ignored; {hint}"
          f"top-level keys: {', '.join(keys)} (ROUTER_SECTION__KEY sets a key inside one)")


def _warn(message: str) -> None:
    frame, level = sys._getframe(0), 1  # point at the caller's line, not at the router's
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, ConfigWarning, stacklevel=level)


def _env_value(text: str, name: str) -> Any:
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"is not valid JSON: {exc}", source=f"environment variable {name}") from None
    return text  # pydantic turns "300" into 300 and "true" into True where the key wants them


def resolve(
    config: ConfigLike | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Resolved:
    """Merge the four layers, interpolate `${ENV}` in the file, validate once."""
    env = os.environ if env is None else env
    layer = BUILTIN
    source: str | None = None
    hint = None
    if config is None and env.get(CONFIG_ENV):
        config = env[CONFIG_ENV]
    if config is None:
        raw: Any = default_config(env)
        hint = builtin_key_hint(env)
    elif isinstance(config, Mapping):
        raw, layer = config, "dict"
    else:
        raw, source = read_config_file(config)
        layer = f"file {source}"
    if not isinstance(raw, Mapping):
        raise ConfigError("the config must be a mapping at the top level", source=source)
    merged: dict[str, Any] = _copy(raw)
    origins: dict[str, str] = {}
    for path, (value, name) in env_overrides(env).items():
        _set(merged, path, value, f"environment variable {name}")
        origins[path] = f"environment {name}"
    for path, value in (overrides or {}).items():
        _set(merged, path, value, f"argument {path}")
        origins[path] = "argument"
    try:
        cfg, unset, source = load_config(merged, env=env, source=source)
    except ConfigError as exc:
        origin = _origin_of(exc.path, origins)
        if origin is None:
            raise
        raise ConfigError(_message(exc), path=exc.path, source=origin) from None
    if hint is not None and "deployments" not in origins:  # ROUTER_DEPLOYMENTS: not built-in
        _warn(hint)
    else:
        hint = None
    return Resolved(cfg, unset, source, origins, layer, hint)


def resolve_config(
    config: ConfigLike | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[RouterConfig, dict[str, str], str | None]:
    """`resolve()` as the `(config, unset api_key paths, file name)` triple `load_config` returns."""
    r = resolve(config, env=env, overrides=overrides)
    return r.config, r.unset, r.source


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _set(tree: dict[str, Any], path: str, value: Any, where: str) -> None:
    keys = path.split(".")
    node = tree
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            at = ".".join(keys[: i + 1])
            raise ConfigError(
                f"{at} is a list or a value, not a mapping: set it in the config file instead",
                source=where,
            )
        node = child
    node[keys[-1]] = value


def _origin_of(path: str | None, origins: Mapping[str, str]) -> str | None:
    if not path:
        return None
    best = None
    for key, origin in origins.items():
        # The error may be at the overridden key, inside it, or at a new section it created.
        related = path == key or path.startswith(key + ".") or key.startswith(path + ".")
        if related and (best is None or len(key) > len(best[0])):
            best = (key, origin)
    return None if best is None else best[1]


def located(exc: ConfigError, resolved: Resolved) -> ConfigError:
    """`exc`, raised while acting on a `resolved` config (e.g. opening its ledger), naming where
    the value at fault came from: the environment variable or argument that set it, else the file."""
    origin = _origin_of(exc.path, resolved.origins) or resolved.source
    if exc.source is not None or origin is None:
        return exc
    return ConfigError(_message(exc), path=exc.path, source=origin)


@contextlib.contextmanager
def located_errors(resolved: Resolved) -> Iterator[None]:
    """Raise a `ConfigError` from the block `located` in `resolved` (its cause kept)."""
    try:
        yield
    except ConfigError as exc:
        raise located(exc, resolved) from exc.__cause__


def _message(exc: ConfigError) -> str:
    text = str(exc)
    for prefix in (f"{exc.source}: " if exc.source else "", f"{exc.path}: " if exc.path else ""):
        text = text.removeprefix(prefix)
    return text
