"""Default fit time of every registered forecaster on a long NAB-like series (issue 17, part 3).

The series: ``--points`` (10,000) steps of 30 minutes (about seven months), a daily and a
weekly season, a slow trend, noise and a few spikes, like NAB's network and request series.
Each forecaster of :func:`admon.forecast.available` is created with its DEFAULT parameters
(``create(name)``), its libraries imported first (not charged to it), then fitted once and
asked for a 48-step forecast. Prints one table: forecaster, points, fit seconds (wall),
fit CPU seconds, forecast seconds, and for the LSTM the epochs it ran before early stopping.
Goal: every default fit <= 60 s on 2 cores. ``--extra SPEC`` adds non-default rows (not held
to the goal), e.g. ``--extra lstm:preset=noted,epochs=2`` to extrapolate the slides' 100 epochs.

    nice -n 5 .venv/bin/python bench/forecast_fit.py [--points 10000] [--only lstm] [--extra SPEC]
"""

from __future__ import annotations

import argparse
import importlib
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from admon.cli.forecast import parse_model
from admon.forecast import available, from_dict
from admon.forecast.backtest import model_label

STEP = "30min"
GOAL_SECONDS = 60.0


def nab_like_series(points: int, seed: int = 0) -> pd.Series:
    """Daily + weekly season, trend, noise and rare spikes at 30-minute steps."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2022-01-01", periods=points, freq=STEP)
    t = np.arange(points)
    day, week = 48, 48 * 7
    y = (1000 + 0.01 * t + 300 * np.sin(2 * np.pi * t / day) + 120 * np.sin(2 * np.pi * t / week)
         + rng.normal(0, 40, points))
    spikes = rng.choice(points, size=max(points // 1000, 1), replace=False)
    y[spikes] += rng.uniform(800, 2000, len(spikes))
    return pd.Series(y, index=idx, name="value")


def measure(spec: dict, series: pd.Series) -> dict:
    model = from_dict(spec)
    for module in ("scipy.stats", *model.requires):
        importlib.import_module(module)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(series)
    fit_s, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall = time.perf_counter()
    model.forecast(48)
    label = spec["name"] if len(spec) == 1 else model_label(model)
    return {"forecaster": label, "default": len(spec) == 1, "points": len(series), "fit_s": fit_s, "fit_cpu_s": fit_cpu,
            "forecast_s": time.perf_counter() - wall, "epochs": getattr(model, "epochs_run_", None)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", action="append", help="forecaster name (repeatable); default: all registered")
    p.add_argument("--extra", action="append", default=[], help="also time name:key=value,... (repeatable)")
    args = p.parse_args(argv)
    series = nab_like_series(args.points, args.seed)
    specs = [{"name": name} for name in (args.only or available())] + [parse_model(e) for e in args.extra]
    rows = [measure(spec, series) for spec in specs]
    table = Table(title=f"default fit of each forecaster, {args.points} points of {STEP}")
    for col in ("forecaster", "points", "fit s", "fit CPU s", "forecast(48) s", "epochs run"):
        table.add_column(col, justify="left" if col == "forecaster" else "right")
    for r in rows:
        table.add_row(r["forecaster"], str(r["points"]), f"{r['fit_s']:.2f}", f"{r['fit_cpu_s']:.2f}",
                      f"{r['forecast_s']:.2f}", "-" if r["epochs"] is None else str(r["epochs"]))
    Console(width=120).print(table)
    slow = [r["forecaster"] for r in rows if r["default"] and r["fit_s"] > GOAL_SECONDS]
    print(f"default fits over {GOAL_SECONDS:.0f} s: {', '.join(slow) if slow else 'none'}")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
