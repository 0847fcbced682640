"""The picture of a backtest (``admon forecast backtest --plot``): the series, each model's
forecast mean and band at every origin, and the rule's threshold.

matplotlib is imported when a plot is drawn, never at import time; no pyplot global state
(a :class:`matplotlib.figure.Figure` draws straight to a file, so any backend works).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from admon.errors import ConfigError

#: How much history before the first origin is drawn, as a multiple of the forecast span.
CONTEXT_SPANS = 1.0


def checked_plot_path(path: str | Path) -> Path:
    """``path`` if a PNG can be written there, else a ConfigError naming it (check before a long run)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"plot path {str(path)!r} does not end in .png; give e.g. backtest.png")
    if not path.parent.is_dir():
        raise ConfigError(f"folder {str(path.parent)!r} of the plot {path.name!r} does not exist; "
                          "create it or give another path")
    return path


def plot_backtest(series: pd.Series, forecasts: dict[str, list[pd.DataFrame]], path: str | Path, *,
                  threshold: float | None = None, title: str = "") -> Path:
    """Write a PNG to ``path``: ``series`` (the history and what happened), and per model its
    forecast ``mean`` and ``[lower, upper]`` band at every origin (one colour per model), and a
    dashed line at ``threshold`` if given. Returns the path written."""
    from matplotlib.figure import Figure

    path = checked_plot_path(path)
    frames = [f for folds in forecasts.values() for f in folds]
    if frames:
        first = min(f.index[0] for f in frames)
        span = series.index[-1] - first
        shown = series[series.index >= first - CONTEXT_SPANS * max(span, 4 * (series.index[1] - series.index[0]))]
    else:
        shown = series
    fig = Figure(figsize=(12, 4.5), dpi=90)
    ax = fig.add_subplot()
    ax.plot(shown.index, shown.to_numpy(dtype=float), lw=0.8, color="0.25", label=series.name or "series")
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
               "tab:cyan", "tab:red"]
    for k, (label, folds) in enumerate(forecasts.items()):
        colour = colours[k % len(colours)]
        for i, fold in enumerate(folds):
            ax.fill_between(fold.index, fold["lower"].to_numpy(), fold["upper"].to_numpy(), color=colour,
                            alpha=0.18, lw=0, label=f"{label} band" if i == 0 else None)
            ax.plot(fold.index, fold["mean"].to_numpy(), lw=1.2, color=colour, label=label if i == 0 else None)
            ax.axvline(fold.index[0], color="0.6", lw=0.5, ls=":")
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", lw=1.0, ls="--", label=f"threshold {threshold:g}")
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlabel("time (UTC)")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.grid(alpha=0.25)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    return path
