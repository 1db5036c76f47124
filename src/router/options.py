"""The options of a call besides its messages: their names and types, `models=`, `stop=`,
`metadata=`, and the `user`/`team`/`tags` scope. Each error names the option and the fix."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from router.budgets import CallScope
from router.errors import InvalidRequestError

if TYPE_CHECKING:
    from router.types import Tool

__all__ = [
    "RequestOptions",
    "check_options",
    "check_period",
    "check_scope",
    "check_spend_query",
    "is_listlike",
    "parse_metadata",
    "parse_models",
    "parse_stop",
    "split_scope",
]


class RequestOptions(TypedDict, total=False):
    """The keyword options of `Router.complete()`, `acomplete()`, `stream()`, `astream()` and
    `route()`, besides `budget`, `models` and `strategy`."""

    max_tokens: int | None
    tools: Sequence[Mapping[str, Any] | Tool] | None
    tool_choice: str | Mapping[str, Any] | None
    response_format: Any  # a pydantic model class, or an OpenAI response_format dict
    temperature: float | None
    stop: str | Sequence[str] | None
    metadata: Mapping[str, Any] | None
    user: str | None
    team: str | None
    tags: Sequence[str] | None


_OPTION_NAMES = frozenset(RequestOptions.__annotations__)
_ALL_NAMES = sorted({"budget", "models", "strategy", *_OPTION_NAMES})


def is_listlike(value: Any) -> bool:
    """A collection of items: not a string, bytes or mapping (which would iterate characters,
    integers or keys), nor a scalar."""
    return isinstance(value, list | tuple) or (
        isinstance(value, Sequence | set | frozenset)
        and not isinstance(value, str | bytes | bytearray | Mapping)
    )


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse an option no call takes (a misspelling, usually), suggesting the nearest name."""
    if _OPTION_NAMES.issuperset(options):
        return
    name = min(k for k in options if k not in _OPTION_NAMES)
    near = difflib.get_close_matches(name, _ALL_NAMES, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}?" if near else f"the options are {', '.join(_ALL_NAMES)}"
    raise InvalidRequestError(f"is not an option; {hint}", field=name)


def parse_models(models: str | Iterable[str]) -> list[str]:
    """`models=`: one model name or several; never the characters of one name."""
    if isinstance(models, str):
        models = [models]
    elif not is_listlike(models):
        raise InvalidRequestError(
            f'expected a model name or a list of them, e.g. ["gpt-4o-mini"], got '
            f"{type(models).__name__}",
            field="models",
        )
    names = list(models)
    if not names:
        raise InvalidRequestError("is empty; name at least one model, or leave it out",
                                  field="models")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise InvalidRequestError(f"expected a model name, got {type(name).__name__}",
                                      field=f"models[{i}]")
    return names


def parse_stop(stop: str | Sequence[str] | None) -> tuple[str, ...]:
    """`stop=`: one string or up to 4."""
    if stop is None:
        return ()
    given = (stop,) if isinstance(stop, str) else tuple(stop) if is_listlike(stop) else (None,)
    if not all(isinstance(s, str) and s for s in given) or len(given) > 4:
        raise InvalidRequestError(
            f"got {stop!r:.40}; give a string or a list of up to 4 non-empty strings", field="stop"
        )
    return given  # type: ignore[return-value]  # checked to be strings just above


def parse_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """`metadata=`: string keys; values are kept as their `str()`."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidRequestError(
            f'expected a dict such as {{"ticket": "T-1"}}, got {type(metadata).__name__}',
            field="metadata",
        )
    meta: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InvalidRequestError("keys must be strings", field="metadata")
        meta[key] = str(value)
    return meta


_SCOPE_KEYS, _NO_SCOPE = ("user", "team", "tags"), CallScope(None, None, ())


def split_scope(options: Mapping[str, Any]) -> tuple[Mapping[str, Any], CallScope]:
    """The options without `user`, `team` and `tags`, and the (checked) scope those make."""
    if options.keys().isdisjoint(_SCOPE_KEYS):
        return options, _NO_SCOPE
    rest = dict(options)
    scope = {k: rest.pop(k) for k in _SCOPE_KEYS if k in rest}
    check_scope(scope)
    tags = tuple(dict.fromkeys(scope.get("tags") or ()))
    return rest, CallScope(scope.get("user"), scope.get("team"), tags)


def check_scope(scope: Mapping[str, Any]) -> None:
    """Validate the `user`, `team` and `tags` of a call."""
    for key in ("user", "team"):
        value = scope.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidRequestError("must be a non-empty string", field=key)
    tags = scope.get("tags")
    if tags is not None and (
        not is_listlike(tags) or not all(isinstance(t, str) and t for t in tags)
    ):
        raise InvalidRequestError('must be a list of strings, e.g. ["summarise"]', field="tags")


def check_period(since: Any, until: Any) -> None:
    """Validate a `[since, until)` period of `spend()` / `export_spend()`."""
    for key, value in (("since", since), ("until", until)):
        if value is not None and not isinstance(value, dt.datetime):
            raise InvalidRequestError(
                f"expected a datetime, got {type(value).__name__}; e.g. "
                "datetime(2026, 12, 1, tzinfo=timezone.utc)", field=key)
    if since is not None and until is not None and since.timestamp() >= until.timestamp():
        raise InvalidRequestError(f"{until.isoformat()} is not after since ({since.isoformat()})",
                                  field="until")


def check_spend_query(user: Any, team: Any, tags: Any, by: Any) -> None:
    """Validate the arguments of `spend()` as those of a call (`tags`) and a list (`by`)."""
    check_scope({"user": user, "team": team, "tags": tags})
    if not is_listlike(by) or not all(isinstance(b, str) for b in by):
        raise InvalidRequestError('must be a list of names, e.g. ["model", "user"]', field="by")
