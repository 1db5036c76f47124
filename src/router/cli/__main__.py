"""`python -m router.cli`: the same as the `router` command."""

from router.cli import main

__all__: list[str] = []

main()
