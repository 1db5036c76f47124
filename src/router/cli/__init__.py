"""The `router` command: the catalog, cost estimates, dry-run decisions, config checks, the demo.

Thin over the library; needs the `cli` extra (click and rich), imported only when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `router` console script."""
    try:
        from router.cli.app import cli
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "click/rich"
        sys.stderr.write(
            f"router: the command line needs the 'cli' extra ({missing} is not installed): "
            "pip install 'router[cli]'\n"
        )
        raise SystemExit(3) from None
    cli.main(args=list(argv) if argv is not None else None, prog_name="router")
