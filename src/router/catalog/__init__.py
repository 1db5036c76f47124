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
    HOSTS,
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
    unknown_host,
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
    least `price` and `capabilities`). `lifecycle` merges per host: an entry replaces the fields it
    sets in the built-in entry for the same host and leaves the other hosts' entries alone. Every
    `replacement` must name a model of the merged catalog. Errors name the key path, e.g.
    `models.gpt-4o.price.input`.
    """
    raw = copy.deepcopy(_builtin_raw())
    models = raw.setdefault("models", {})
    patches = overrides or {}
    for name, patch in patches.items():
        if not isinstance(patch, Mapping):
            raise ConfigError(
                "expected a mapping of fields to override", path=f"models.{name}", source=source
            )
        merged = _merge(models.get(name, {}), {k: v for k, v in patch.items() if k != "lifecycle"})
        if "lifecycle" in patch:
            merged["lifecycle"] = _merge_lifecycle(
                models.get(name, {}).get("lifecycle", []), patch["lifecycle"],
                f"models.{name}.lifecycle", source)
        models[name] = merged
    for name, spec in models.items():
        spec["name"] = name
    _check_replacements(models, patches, source)
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


def _merge_lifecycle(base: list[Any], patch: Any, path: str,
                     source: str | None) -> list[dict[str, Any]]:
    """Merge config lifecycle entries into the built-in ones, host by host."""
    if not isinstance(patch, list):
        raise ConfigError("expected a list of entries such as {host: openai, shutdown_on: "
                          "2027-01-14, replacement: MODEL}", path=path, source=source)
    out = [dict(entry) for entry in base]
    for i, entry in enumerate(patch):
        where = f"{path}[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError("expected a mapping such as {host: openai, shutdown_on: 2027-01-14}",
                              path=where, source=source)
        host = entry.get("host")
        if host is None:
            raise ConfigError(f"is required: the host this entry applies to ({', '.join(HOSTS)})",
                              path=f"{where}.host", source=source)
        if host not in HOSTS:
            raise ConfigError(unknown_host(host), path=f"{where}.host", source=source)
        same = next((j for j, old in enumerate(out) if old.get("host") == host), None)
        if same is None:
            out.append(dict(entry))
        else:
            out[same] = _merge(out[same], entry)
    return out


def _check_replacements(models: Mapping[str, Any], patches: Mapping[str, Any],
                        source: str | None) -> None:
    """A `replacement` that is not a catalog model would leave a retired model's traffic nowhere.

    The config's entries are checked first, by their own index; then the merged ones."""
    found = [(name, i, entry) for name, patch in patches.items()
             for i, entry in enumerate(patch.get("lifecycle") or ())]
    found += [(name, i, entry) for name, spec in models.items()
              for i, entry in enumerate(spec.get("lifecycle") or ())]
    for name, i, entry in found:
        target = entry.get("replacement")
        if target is None or (target in models and target != name):
            continue
        where = f"models.{name}.lifecycle[{i}].replacement"
        if target == name:
            raise ConfigError("a model cannot replace itself; name its successor",
                              path=where, source=source)
        raise ConfigError(
            f"{target!r} is not a catalog model (known: {', '.join(sorted(models))}); "
            "name one of them, add the model under `models:` with its price and "
            "capabilities, or write a display name as `replacement_note` (advice only)",
            path=where, source=source)


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
