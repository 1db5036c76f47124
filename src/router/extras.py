"""Optional dependencies, imported only when used, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import `module`, or raise `ImportError` saying `pip install 'router[extra]'`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs the {extra!r} extra ({module} is not installed): "
            f"pip install 'router[{extra}]'"
        ) from exc
