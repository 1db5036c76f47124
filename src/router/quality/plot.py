"""Cost-quality curves of every policy on one figure (needs the `router[plot]` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from router.errors import ConfigError
from router.quality.evaluate import EvalResult

__all__ = ["plot_result"]

_REFERENCE = {"random": {"color": "grey", "linestyle": "--"},
              "oracle": {"color": "black", "linestyle": ":"}}


def _pyplot() -> Any:
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ConfigError(
            "plotting needs matplotlib, which is not installed: pip install 'router[plot]'",
            path="plot",
        ) from None
    return plt


def _pct(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1%}"


def plot_result(result: EvalResult, path: str | Path, *, title: str = "") -> Path:
    """Draw mean score against cost (% of always-strong) for each policy and save to `path`
    (PNG, SVG or PDF by its suffix). The target line and where each policy reaches it are
    marked; the legend gives each policy's savings there."""
    plt = _pyplot()
    strong = result.baselines[f"always:{result.strong}"]
    full = float(strong.cost) or 1.0
    goal = result.target * strong.quality
    pct = f"{result.target:.0%}"

    def x(cost: Any) -> float:
        return 100 * float(cost) / full

    fig: Any
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for name, curve in result.curves.items():
        points = sorted(curve.points, key=lambda p: (p.cost, p.quality))
        s = curve.summary
        style = _REFERENCE.get(name, {"marker": ".", "markersize": 3, "linewidth": 1.8})
        label = f"{name}: saves {_pct(s.savings)} at {pct}, APGR {s.apgr:.2f}"
        (line,) = ax.plot([x(p.cost) for p in points], [p.quality for p in points],
                          label=label, **style)
        if s.at_target is not None:
            ax.plot([x(s.at_target.cost)], [s.at_target.quality], marker="o", markersize=7,
                    markerfacecolor="none", color=line.get_color())
    for marker, (name, point) in zip("s^Dv", result.baselines.items(), strict=False):
        ax.plot([x(point.cost)], [point.quality], marker=marker, linestyle="none", markersize=8,
                label=f"{name.replace(':', ' ')} (score {point.quality:.3f})")
    ax.axhline(goal, color="tab:red", linewidth=1, linestyle="-.",
               label=f"{pct} of {result.strong}'s quality ({goal:.3f})")
    ax.set_xlabel(f"cost, % of always {result.strong} (100% = ${float(strong.cost):,.4g} "
                  f"for {result.n:,} prompts)")
    ax.set_ylabel("mean score per prompt (the traces' scale)")
    ax.set_title(title or f"Cost vs quality: {result.cheap} / {result.strong}, "
                          f"{result.n:,} prompts (circles: where each reaches {pct})")
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:.0f}%")
    ax.set_xlim(left=0, right=max(105.0, ax.get_xlim()[1]))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    out = Path(path)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
