"""Forecast backtest benchmark: every model of a preset on NAB network/request series and FTS links.

Prints one table: per series and model, train/test RMSE, MASE, CPU seconds and peak memory
of a rolling-origin backtest (admon.forecast.backtest), then which model won each series.

    .venv/bin/python bench/forecast_backtest.py                       # default preset, NAB + FTS
    .venv/bin/python bench/forecast_backtest.py --preset noted --no-nab --fts-interval 3600 \\
        --horizon 24 --origins 1                                       # the NOTED slide table
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from admon.forecast.backtest import BacktestConfig, backtest

NAB_ROOT = Path("/work/shared/data/nab-dev/data/realAWSCloudwatch")
NAB_SERIES = [
    "ec2_network_in_257a54.csv",
    "ec2_network_in_5abac7.csv",
    "elb_request_count_8c0756.csv",
    "iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
]


def fts_series(days: int, interval: int, seed: int, links: int) -> dict[str, pd.Series]:
    from admon.data.source import DataSource
    from admon.forecast.fts_lake import fts_input_config, generate_fts_lake
    from admon.forecast.series import series_by_group

    with tempfile.TemporaryDirectory(prefix="admon-fts-bench-") as root:
        generate_fts_lake(root, links=links, days=days, start="2022-05-10", seed=seed, step_seconds=60)
        start = pd.Timestamp("2022-05-10").value // 10**6
        end = start + days * 86_400_000
        idc = fts_input_config(interval)
        frame = DataSource(None, idc, lake_root=root).read(start, end)
    return {f"fts {a}->{b}": s for (a, b), s in series_by_group(frame, idc.group_by, "throughput", interval, end)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default")
    p.add_argument("--horizon", type=int, default=12)
    p.add_argument("--origins", type=int, default=8)
    p.add_argument("--origin-step", type=int, default=144, help="steps between origins (144 = 12 h of 5 min)")
    p.add_argument("--max-train", type=int, default=288 * 7)
    p.add_argument("--no-nab", action="store_true")
    p.add_argument("--fts-links", type=int, default=2)
    p.add_argument("--fts-days", type=int, default=14)
    p.add_argument("--fts-interval", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-train", type=int, default=2 * 288 + 24,
                   help="fewer origins for short series, so the first still has this many points")
    p.add_argument("--no-isolate", action="store_true", help="run all models in this process")
    args = p.parse_args(argv)

    config = BacktestConfig(horizon=args.horizon, origins=args.origins, origin_step=args.origin_step,
                            max_train=args.max_train, mase_season="1D", isolate=not args.no_isolate)
    series: dict[str, pd.Series] = {}
    if not args.no_nab:
        from admon.forecast.series import load_csv_series

        for name in NAB_SERIES:
            series[name.removesuffix(".csv")] = load_csv_series(NAB_ROOT / name)
    if args.fts_links:
        series.update(fts_series(args.fts_days, args.fts_interval, args.seed, args.fts_links))

    console = Console(width=190)
    table = Table(title=f"forecast backtest, preset {args.preset}: {config.model_dump()}", title_justify="left")
    for col in ["series", "points", "origins", "model", "train RMSE", "test RMSE", "MASE", "CPU s", "peak MiB", "error"]:
        table.add_column(col, justify="left" if col in ("series", "model", "error") else "right")
    winners = []
    started = time.perf_counter()
    for name, s in series.items():
        fits = (len(s) - args.horizon - args.min_train) // args.origin_step + 1
        cfg = config.model_copy(update={"origins": max(1, min(args.origins, fits))})
        result = backtest(s, args.preset, cfg)
        ok = result[result["error"] == ""]
        best = ok.loc[ok["mase"].idxmin()] if len(ok) else None
        naive = ok[ok["model"].str.startswith("seasonal_naive")]
        naive_mase = float(naive["mase"].iloc[0]) if len(naive) else float("nan")
        for i, row in enumerate(result.itertuples()):
            mark = best is not None and row.model == best["model"]
            table.add_row(
                name if i == 0 else "", str(len(s)) if i == 0 else "", str(row.origins) if i == 0 else "", row.model,
                f"{row.train_rmse:.4g}", f"{row.test_rmse:.4g}",
                f"[bold]{row.mase:.3f}[/]" if mark else f"{row.mase:.3f}",
                f"{row.cpu_s:.2f}", f"{row.peak_mib:.1f}", row.error[:60],
            )
        table.add_section()
        if best is not None:
            winners.append((name, best["model"], float(best["mase"]), naive_mase))
    console.print(table)
    beats = sum(1 for _, model, mase, naive in winners if not model.startswith("seasonal_naive") and mase < naive)
    for name, model, mase, naive in winners:
        console.print(f"{name}: best {model} MASE {mase:.3f} vs seasonal naive {naive:.3f}", highlight=False)
    console.print(f"best model beats seasonal naive on {beats}/{len(winners)} series; "
                  f"wall {time.perf_counter() - started:.0f} s", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
