"""Model lifecycles as data: which deployments are deprecated or retired on a day, and where
requests pinned to a retired model go instead (its `replacement`, when that model is configured).

Pure functions over deployments and a date; `Router` warns with `notices()` at construction and
uses `substitute_retired()` for `models=[...]`; `router config check` prints the same notices.
A retired model needs no deployment of its own for its requests to move: the catalog's lifecycle
names the replacement.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from router.catalog import Catalog, Lifecycle
from router.deployments import Deployment, LifecycleState

__all__ = ["ModelLifecycleWarning", "Notice", "notices", "substitute_retired", "warn_notices"]

log = logging.getLogger("router")
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class ModelLifecycleWarning(UserWarning):
    """A configured deployment is deprecated (shutdown announced) or already retired."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One deployment that is not simply active on `today`."""

    deployment: str
    model: str
    state: LifecycleState
    message: str
    shutdown_on: dt.date | None = None
    days_left: int | None = None  # None once retired or when no shutdown date is announced
    replacement: str | None = None


def notices(deployments: Iterable[Deployment], today: dt.date) -> list[Notice]:
    """A notice per deprecated or retired deployment, with the days left and the replacement."""
    out: list[Notice] = []
    for dep in deployments:
        state = dep.lifecycle_state(today)
        life = dep.lifecycle
        if state is LifecycleState.ACTIVE or life is None:
            continue
        hint = life.hint()
        days: int | None = None
        if state is LifecycleState.RETIRED:
            assert life.shutdown_on is not None
            message = (
                f"deployment {dep.id!r}: {dep.model_id} was retired on {dep.host} on "
                f"{life.shutdown_on.isoformat()} and will receive no traffic{hint}"
            )
        elif life.shutdown_on is not None:
            days = (life.shutdown_on - today).days
            message = (
                f"deployment {dep.id!r}: {dep.model_id} on {dep.host} shuts down on "
                f"{life.shutdown_on.isoformat()} ({days} day{'s' if days != 1 else ''} left){hint}"
            )
        else:
            message = (
                f"deployment {dep.id!r}: {dep.model_id} on {dep.host} deprecated since "
                f"{life.deprecated_on}{hint}"
            )
        out.append(Notice(dep.id, dep.model, state, message, life.shutdown_on, days,
                          life.replacement))
    return out


def warn_notices(found: Sequence[Notice], category: type[Warning] = ModelLifecycleWarning) -> None:
    """Log and warn each notice; the warning points at the first caller outside this package
    (`Router(...)` and `Router.from_config(...)` alike), not at the router's own code."""
    if not found:
        return
    frame, level = sys._getframe(0), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    for notice in found:
        log.warning("%s", notice.message)
        warnings.warn(notice.message, category, stacklevel=level)


def substitute_retired(
    models: Sequence[str], deployments: Sequence[Deployment], today: dt.date,
    catalog: Catalog | None = None,
) -> tuple[list[str], list[str]]:
    """Swap each requested model that no live deployment serves for its configured replacement.

    Returns the models to route among and a note per swap. A retired model that some deployment
    serves stays in the list (the decision then explains its retirement); one that no deployment
    serves is dropped for the replacement its `catalog` lifecycle names. A replacement that no
    deployment serves is not added: the decision then explains the retirement, naming it.
    """
    live = {d.model for d in deployments if d.lifecycle_state(today) is not LifecycleState.RETIRED}
    served = {d.model for d in deployments}
    out: list[str] = []
    notes: list[str] = []
    for model in models:
        if model in live:
            out.append(model)
            continue
        if model in served:
            out.append(model)
            replacement = _replacement(model, deployments, today, live)
            note = (f"{model} is retired on every configured host; its replacement "
                    f"{replacement} takes its requests")
        else:
            retired = _retired_in_catalog(model, catalog, today, live)
            if retired is None:
                out.append(model)  # nothing to move it to: the decision says nothing serves it
                continue
            replacement = retired.replacement
            assert retired.shutdown_on is not None
            note = (f"{model} was retired on {retired.host} on {retired.shutdown_on.isoformat()} "
                    f"and no deployment serves it; its replacement {replacement} takes its "
                    "requests")
        if replacement is None:
            continue
        if replacement not in out and replacement not in models:
            out.append(replacement)
        elif model in served:
            continue  # the replacement was asked for anyway: nothing moved
        notes.append(note)
    return out, notes


def _replacement(
    model: str, deployments: Sequence[Deployment], today: dt.date, live: set[str]
) -> str | None:
    for dep in deployments:
        if dep.model != model or dep.lifecycle_state(today) is not LifecycleState.RETIRED:
            continue
        life = dep.lifecycle
        if life is not None and life.replacement in live:
            return life.replacement
    return None


def _retired_in_catalog(
    model: str, catalog: Catalog | None, today: dt.date, live: set[str]
) -> Lifecycle | None:
    """The catalog entry that retired `model` on some host by `today`, naming a live replacement."""
    spec = catalog.models.get(model) if catalog is not None else None
    if spec is None:
        return None
    for life in spec.lifecycle:
        shut = life.shutdown_on
        if shut is not None and today >= shut and life.replacement in live:
            return life
    return None
