"""The built-in model catalog (a validated TOML data file) and how config overrides merge into it."""

from __future__ import annotations

import copy
import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from pydantic import ValidationError

from router.catalog.schema import (
    Capabilities,
    Catalog,
    HostOffer,
    ImageTokens,
    Lifecycle,
    ModelSpec,
    Price,
    Quality,
    Source,
    Speed,
)
from router.errors import ConfigError

__all__ = [
    "Capabilities",
    "Catalog",
    "HostOffer",
    "ImageTokens",
    "Lifecycle",
    "ModelSpec",
    "Price",
    "Quality",
    "Source",
    "Speed",
    "builtin_catalog",
    "load_catalog",
    "validation_error",
]


@functools.cache
def _builtin_raw() -> dict[str, Any]:
    text = resources.files("router.catalog").joinpath("models.toml").read_text("utf-8")
    return tomllib.loads(text)


def builtin_catalog() -> Catalog:
    """The catalog shipped with the package, validated."""
    return load_catalog(None)


def load_catalog(overrides: Mapping[str, Any] | None, *, source: str | None = None) -> Catalog:
    """The built-in catalog with `overrides` (config `models:`) deep-merged in, then validated.

    An override may change any field of a known model or add a new model (which then needs at
    least `price` and `capabilities`). Errors name the key path, e.g. `models.gpt-4o.price.input`.
    """
    raw = copy.deepcopy(_builtin_raw())
    models = raw.setdefault("models", {})
    for name, patch in (overrides or {}).items():
        if not isinstance(patch, Mapping):
            raise ConfigError(
                "expected a mapping of fields to override", path=f"models.{name}", source=source
            )
        models[name] = _merge(models.get(name, {}), patch)
    for name, spec in models.items():
        spec["name"] = name
    try:
        return Catalog.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, source=source) from None


def _merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    # A figure changed by config no longer comes from the shipped source.
    if "source" in base and "source" not in patch and any(
        not isinstance(v, Mapping) for v in patch.values()
    ):
        out["source"] = "config"
        out.pop("as_of", None)
    return out


def validation_error(exc: ValidationError, *, source: str | None = None, prefix: str = "") -> ConfigError:
    """Turn pydantic's error into one `ConfigError` naming the first bad key path and the fix."""
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first["loc"])
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key; check its spelling against the docs"
    elif first["type"] == "missing":
        message = "is required"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(message, path=path, source=source)
