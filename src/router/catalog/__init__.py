"""The built-in model catalog (a validated TOML data file) and how config overrides merge into it."""

from __future__ import annotations

import copy
import difflib
import functools
import tomllib
import typing
from collections.abc import Mapping
from importlib import resources
from typing import Any

from pydantic import BaseModel, ValidationError

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
    "key_path",
    "load_catalog",
    "merge_price",
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
        builtin = models.get(name, {})
        merged = _merge(builtin, {k: v for k, v in patch.items() if k not in ("lifecycle", "price")})
        if isinstance(patch.get("price"), Mapping):
            merged["price"] = merge_price(builtin.get("price", {}), patch["price"])
            # The config's price beats the built-in prices of known hosts (unless it sets those too)
            for host, offer in (merged.get("hosts") or {}).items():
                own = ((patch.get("hosts") or {}).get(host) or {})
                if isinstance(offer, Mapping) and "price" in offer and "price" not in own:
                    merged["hosts"][host] = {k: v for k, v in offer.items() if k != "price"}
        elif "price" in patch:
            merged["price"] = patch["price"]  # not a mapping: validation names it
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
        raise validation_error(exc, source=source, model=Catalog) from None


def merge_price(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A price with `patch` laid over `base`. A discount of `base` does not survive a new list
    price it was relative to: `input` set without `cached_input` (or `batch_input`), or `output`
    without `batch_output`, drops the inherited one, so a cached token is never priced above an
    uncached one (which would break every worst case) and no stale discount is assumed."""
    out = _merge(base, patch)
    for price, discounts in (("input", ("cached_input", "batch_input")), ("output", ("batch_output",))):
        if patch.get(price) is not None:
            for discount in discounts:
                if patch.get(discount) is None:
                    out.pop(discount, None)
    return out


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


def validation_error(exc: ValidationError, *, source: str | None = None, prefix: str = "",
                     model: type[BaseModel] | None = None) -> ConfigError:
    """Turn pydantic's error into one `ConfigError` naming the first bad key path and the fix
    (for an unknown key of `model`'s, the closest known one)."""
    first = exc.errors()[0]
    path = key_path(first["loc"])
    if prefix:
        path = f"{prefix}{'' if path.startswith('[') else '.'}{path}" if path else prefix
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key; " + _spelling(model, first["loc"])
    elif first["type"] == "missing":
        message = "is required"
    elif first["type"] in _TYPE_FIXES:
        # Says what to write, and what was found by kind only: the value may be a secret.
        message = f"{_TYPE_FIXES[first['type']]}, not {_kind(first.get('input'))}"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return ConfigError(message, path=path, source=source)


def _spelling(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """The fix for an unknown key at `loc`: the closest key `model` knows there, else the list."""
    known = _keys_at(model, loc[:-1]) if model is not None and loc else []
    if not known:
        return "check its spelling against the docs"
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"the keys here are {', '.join(known)}"


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found by following `loc` (fields, list items, dict values)."""
    current: Any = model
    keyed = False  # the next part is a key of a dict of models, not a field
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current, keyed = _inner_model(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _inner_model(annotation: Any) -> tuple[Any, bool]:
    """The model inside `annotation` (through Optional, list, tuple and dict values), and whether
    it sits behind dict keys."""
    keyed = False
    for _ in range(4):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation, keyed
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (dict, Mapping) and len(args) == 2:
            annotation, keyed = args[1], True
        elif args:
            annotation = args[0]
        else:
            break
    return None, False


def key_path(loc: Any) -> str:
    """`("deployments", 0, "model")` -> `deployments[0].model`: the one form every error uses."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_TYPE_FIXES = {
    "string_type": "expected text; quote the value",
    "int_type": "expected a whole number such as 300",
    "int_parsing": "expected a whole number such as 300",
    "int_from_float": "expected a whole number such as 300",
    "float_type": "expected a number such as 0.5",
    "float_parsing": "expected a number such as 0.5",
    "decimal_type": 'expected a decimal amount written as a string, e.g. "0.15"',
    "decimal_parsing": 'expected a decimal amount written as a string, e.g. "0.15"',
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping of keys to values (key: value)",
    "list_type": "expected a list ([a, b] or one '- item' per line)",
    "tuple_type": "expected a list ([a, b] or one '- item' per line)",
    "frozen_set_type": "expected a list ([a, b] or one '- item' per line)",
    "date_type": "expected a date written YYYY-MM-DD",
    "date_parsing": "expected a date written YYYY-MM-DD",
    "date_from_datetime_parsing": "expected a date written YYYY-MM-DD",
    "model_type": "expected a mapping of keys to values (key: value)",
    "model_attributes_type": "expected a mapping of keys to values (key: value)",
}


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text" if value else "empty text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"
