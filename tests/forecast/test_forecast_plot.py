"""``admon forecast backtest --plot``: a PNG of the series, each model's forecast mean and band
per origin, and the rule's threshold; the table is still printed (issue 17, part 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import seasonal_series
from typer.testing import CliRunner

from admon.cli import build_app
from admon.errors import ConfigError
from admon.forecast.backtest import BacktestConfig, backtest
from admon.forecast.plot import plot_backtest

NAB = "/work/shared/data/nab-dev/data/realAWSCloudwatch/ec2_network_in_257a54.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TAB_RED, TAB_BLUE = (214, 39, 40), (31, 119, 180)


def _pixels_of(path, rgb) -> int:
    from matplotlib.image import imread

    image = (imread(path)[:, :, :3] * 255).round()
    return int((np.abs(image - np.array(rgb)).max(axis=2) <= 8).sum())


def test_backtest_hands_back_one_forecast_per_origin():
    series = seasonal_series(days=6)
    forecasts: dict[str, list[pd.DataFrame]] = {}
    table = backtest(series, [{"name": "seasonal_naive", "season": 24}], BacktestConfig(horizon=6, origins=3),
                     forecasts=forecasts)
    (label,) = forecasts
    assert label == table.loc[0, "model"] and len(forecasts[label]) == 3
    starts = [f.index[0] for f in forecasts[label]]
    assert starts == [series.index[-18], series.index[-12], series.index[-6]]
    assert all(list(f.columns) == ["mean", "lower", "upper"] and len(f) == 6 for f in forecasts[label])


def test_the_plot_draws_the_forecasts_and_the_threshold(tmp_path):
    series = seasonal_series(days=6)
    forecasts: dict[str, list[pd.DataFrame]] = {}
    backtest(series, [{"name": "seasonal_naive", "season": 24}], BacktestConfig(horizon=6, origins=3),
             forecasts=forecasts)
    bare = plot_backtest(series, {}, tmp_path / "bare.png")
    full = plot_backtest(series, forecasts, tmp_path / "full.png", threshold=float(series.mean()), title="t")
    assert _pixels_of(full, TAB_BLUE) > 100 and _pixels_of(bare, TAB_BLUE) == 0  # the first model's colour
    assert _pixels_of(full, TAB_RED) > 100 and _pixels_of(bare, TAB_RED) == 0  # the threshold line
    with pytest.raises(ConfigError, match=r"'.*plot\.svg' does not end in \.png"):
        plot_backtest(series, forecasts, tmp_path / "plot.svg")


def test_cli_backtest_plot_writes_a_png_and_still_prints_the_table(tmp_path):
    path = tmp_path / "backtest.png"
    runner = CliRunner()
    out = runner.invoke(build_app(), ["forecast", "backtest", "--csv", NAB, "--model", "seasonal_naive",
                                      "--model", "gbm:max_iter=20", "--horizon", "12", "--origins", "3",
                                      "--max-train", "1500", "--plot", str(path), "--threshold", "5e6"])
    assert out.exit_code == 0, out.output
    for text in ("ec2_network_in_257a54", "train RMSE", "test RMSE", "MASE", "seasonal_naive", "gbm(max_iter=20)",
                 "wrote plot"):
        assert text in out.output, text
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and 20_000 < len(data) < 2_000_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1080, 405)  # 12 x 4.5 inches at 90 dpi
    assert _pixels_of(path, TAB_RED) > 100


def test_cli_backtest_plot_path_errors_come_before_the_run(tmp_path):
    runner = CliRunner()
    args = ["forecast", "backtest", "--csv", NAB, "--model", "seasonal_naive", "--origins", "2"]
    out = runner.invoke(build_app(), [*args, "--plot", str(tmp_path / "missing" / "b.png")])
    assert out.exit_code != 0 and "of the plot 'b.png' does not exist" in str(out.exception)
    out = runner.invoke(build_app(), [*args, "--threshold", "5e6"])
    assert out.exit_code != 0 and "give --plot PATH.png too" in str(out.exception)
    assert "test RMSE" not in out.output
