"""Scoring throughput of every registered detector: points/s on hosts x days of 5-minute data.

A point is one row of the frame (one host at one 5-minute bucket, with two value
columns ``gled_value`` and ``alice_value``), i.e. one score. Each detector is
fitted on the first ``--fit-days`` days, then ``score`` is timed on the whole
frame (default 100 hosts x 30 days = 864,000 points). Fit time is shown too but
is not the measure. Prints one markdown table.

    .venv/bin/python bench/scoring.py                       # every detector, 100 hosts x 30 days
    .venv/bin/python bench/scoring.py --detectors default robust_zscore --hosts 10 --days 3
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

STEP_MS = 300_000
T0 = 1_652_140_800_000

# Parameters that keep fitting affordable at this size; scoring uses the same model.
BENCH_PARAMS: dict[str, dict] = {
    "autoencoder": {"epochs": 3},
    "lstm_forecaster": {"epochs": 2, "max_train_windows": 20_000},
    "seasonal_stl": {"robust": False},
}


def make_frame(hosts: int, days: int, seed: int = 0) -> pd.DataFrame:
    """Two daily-seasonal metrics per host with noise, spikes and 1 % missing values."""
    rng = np.random.default_rng(seed)
    n = days * 288
    t = np.arange(n)
    day = np.sin(2 * np.pi * t / 288)
    parts = []
    for h in range(hosts):
        scale = rng.uniform(0.5, 1.5)
        gled = 1.2e6 * scale * (1 + 0.35 * day) * rng.lognormal(0, 0.05, n)
        alice = 2.0e4 * scale * (1 + 0.25 * day) * rng.lognormal(0, 0.08, n)
        spikes = rng.choice(n, size=max(1, n // 2000), replace=False)
        gled[spikes] *= 4
        alice[rng.random(n) < 0.01] = np.nan
        parts.append(pd.DataFrame({"host": f"host-{h:03d}", "timestamp": T0 + t.astype("int64") * STEP_MS,
                                   "gled_value": gled, "alice_value": alice}))
    frame = pd.concat(parts, ignore_index=True)
    frame["host"] = frame["host"].astype("str")
    return frame


def main() -> None:
    import admon.detectors as detectors

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--fit-days", type=int, default=3)
    ap.add_argument("--detectors", nargs="*", default=None, help="default: every registered detector")
    ap.add_argument("--repeat", type=int, default=1, help="score this many times, report the best")
    args = ap.parse_args()

    frame = make_frame(args.hosts, args.days)
    fit_frame = frame[frame["timestamp"] < T0 + args.fit_days * 288 * STEP_MS]
    names = args.detectors or detectors.available()
    rows = []
    for name in names:
        det = detectors.create(name, **BENCH_PARAMS.get(name, {}))
        t0 = time.perf_counter()
        det.fit(fit_frame)
        fit_s = time.perf_counter() - t0
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            scores = det.score(frame)
            best = min(best, time.perf_counter() - t0)
        assert len(scores) == len(frame) and np.isfinite(scores.to_numpy()).all()
        rows.append((name, fit_s, best, len(frame) / best))
        print(f"  {name}: fit {fit_s:.1f}s, score {best:.2f}s", flush=True)

    print()
    print(f"Scoring {len(frame):,} points ({args.hosts} hosts x {args.days} days of 5-minute buckets, "
          f"2 value columns); fitted on {args.fit_days} days. {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} cpus.")
    print()
    print("| detector | fit (s) | score (s) | points/s |")
    print("|---|---:|---:|---:|")
    for name, fit_s, score_s, rate in sorted(rows, key=lambda r: -r[3]):
        print(f"| {name} | {fit_s:.1f} | {score_s:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
