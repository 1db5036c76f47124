"""Model lifecycles as data: which deployments are deprecated or retired on a day, and where
requests pinned to a retired model go instead (its `replacement`, when that model is configured).

Pure functions over deployments and a date; `Router` warns with `notices()` at construction and
uses `substitute_retired()` for `models=[...]`; `router config check` prints the same notices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from router.deployments import Deployment, LifecycleState

__all__ = ["Notice", "notices", "substitute_retired"]


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
        hint = f"; replacement: {life.replacement}" if life.replacement else ""
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


def substitute_retired(
    models: Sequence[str], deployments: Sequence[Deployment], today: dt.date
) -> tuple[list[str], list[str]]:
    """Swap each requested model that no live deployment serves for its configured replacement.

    Returns the models to route among and a note per swap. A replacement that no deployment
    serves is not added: the decision then explains the retirement, naming the replacement.
    """
    live = {d.model for d in deployments if d.lifecycle_state(today) is not LifecycleState.RETIRED}
    served = {d.model for d in deployments}
    out: list[str] = []
    notes: list[str] = []
    for model in models:
        out.append(model)
        if model in live or model not in served:
            continue
        replacement = _replacement(model, deployments, today, live)
        if replacement is not None and replacement not in out and replacement not in models:
            out.append(replacement)
            notes.append(f"{model} is retired on every configured host; its replacement "
                         f"{replacement} takes its requests")
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
