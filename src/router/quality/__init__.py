"""Quality-aware routing: a cheap offline predictor, the `quality` strategy, cascades, replay eval."""

from __future__ import annotations

__all__: list[str] = []
