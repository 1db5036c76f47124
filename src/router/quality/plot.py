"""Cost-quality curves of every policy on one figure (needs the `router[plot]` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from router.errors import ConfigError
from router.quality.evaluate import EvalResult

__all__ = ["plot_result"]


def plot_result(result: EvalResult, path: str | Path, *, title: str = "") -> Path:
    """Draw quality against cost (% of always-strong) for each policy and save to `path`."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ConfigError(
            "plotting needs matplotlib: pip install 'router[plot]'", path="plot"
        ) from None
    strong = result.baselines[f"always:{result.strong}"]
    full = float(strong.cost) or 1.0
    fig: Any
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, curve in result.curves.items():
        points = sorted(curve.points, key=lambda p: p.cost)
        ax.plot(
            [100 * float(p.cost) / full for p in points],
            [p.quality for p in points],
            marker="." if name not in ("oracle", "random") else None,
            linestyle="--" if name in ("oracle", "random") else "-",
            label=name,
        )
    for name, point in result.baselines.items():
        ax.scatter([100 * float(point.cost) / full], [point.quality], marker="x", label=name)
    ax.axhline(result.target * strong.quality, color="grey", linewidth=0.8,
               label=f"{result.target:.0%} of {result.strong}")
    ax.set_xlabel(f"cost, % of always {result.strong}")
    ax.set_ylabel("mean score")
    ax.set_title(title or f"cost vs quality ({result.n} traces)")
    ax.legend(fontsize="small")
    out = Path(path)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
