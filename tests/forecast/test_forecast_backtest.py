"""Rolling-origin backtest metrics, presets, and the `admon forecast` CLI on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import seasonal_series
from typer.testing import CliRunner

from admon.errors import ConfigError
from admon.forecast.backtest import PRESETS, BacktestConfig, backtest, origins_of

NAB = "/work/shared/data/nab-dev/data/realAWSCloudwatch/ec2_network_in_257a54.csv"


def test_metrics_by_hand():
    idx = pd.date_range("2022-05-10", periods=10, freq="h")
    y = pd.Series([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9], index=idx)
    # Naive (season 0 = last value) from origins 6 and 8, horizon 2; MASE lag 1 (mean |diff| = 1).
    t = backtest(y, [{"name": "seasonal_naive", "season": None}],
                 BacktestConfig(horizon=2, origins=2, mase_season=1)).iloc[0]
    # origin 6: forecast 5,5 for 6,7 -> errors 1,2; origin 8: forecast 7,7 for 8,9 -> 1,2
    assert t["test_rmse"] == pytest.approx(np.sqrt((1 + 4 + 1 + 4) / 4))
    assert t["mase"] == pytest.approx(1.5)
    assert t["train_rmse"] == pytest.approx(1.0)
    assert t["origins"] == 2 and t["cpu_s"] >= 0 and t["peak_mib"] >= 0 and t["error"] == ""


def test_origins_and_short_series():
    assert origins_of(100, BacktestConfig(horizon=10, origins=3)) == [70, 80, 90]
    assert origins_of(100, BacktestConfig(horizon=10, origins=3, origin_step=5)) == [80, 85, 90]
    with pytest.raises(ConfigError, match="too short for 5 origins"):
        origins_of(30, BacktestConfig(horizon=10, origins=5))


def test_model_errors_are_rows_not_crashes(series):
    holed = series.copy()
    holed.iloc[-40] = np.nan
    t = backtest(holed, ["seasonal_naive", {"name": "lstm", "look_back": 500}],
                 BacktestConfig(horizon=6, origins=2, mase_season=24, fill_gaps=False))
    assert t.loc[0, "error"] == "" and np.isfinite(t.loc[0, "mase"])
    assert "needs at least" in t.loc[1, "error"] and np.isnan(t.loc[1, "mase"])


def test_models_that_average_the_noise_beat_seasonal_naive():
    y = seasonal_series(days=14, noise=2.0, seed=4)
    t = backtest(y, [{"name": "seasonal_naive", "season": 24}, {"name": "ets", "season": 24},
                     {"name": "gbm", "season": 24, "max_iter": 60, "n_lags": 2}],
                 BacktestConfig(horizon=24, origins=5, mase_season=24)).set_index("model")
    # Seasonal naive repeats last day's noise too; a fitted season does not.
    assert t.loc["ets(season=24)", "mase"] < 0.85 * t.loc["seasonal_naive(season=24)", "mase"], t
    assert t.loc["gbm(season=24, n_lags=2, max_iter=60)", "mase"] < t.loc["seasonal_naive(season=24)", "mase"], t
    assert t.loc["seasonal_naive(season=24)", "mase"] == pytest.approx(1.0, abs=0.2)  # ~1 by construction


def test_noted_preset_is_the_slide_table():
    lstm = [m for m in PRESETS["noted"] if m["name"] == "lstm"]
    assert {(m["look_back"], m["epochs"], m["batch_size"]) for m in lstm} == {
        (lb, ep, bs) for lb in (1, 20) for ep in (1, 100) for bs in (1, 16)}


def test_cli_backtest_on_a_nab_file_and_a_generated_fts_link():
    from admon.cli import build_app

    app = build_app()
    runner = CliRunner()
    out = runner.invoke(app, ["forecast", "backtest", "--csv", NAB, "--model", "seasonal_naive",
                              "--model", "lstm:look_back=4,epochs=1,batch_size=64",
                              "--horizon", "12", "--origins", "2", "--max-train", "1500"])
    assert out.exit_code == 0, out.output
    for text in ("ec2_network_in_257a54", "train RMSE", "test RMSE", "MASE", "CPU s", "peak MiB",
                 "seasonal_naive", "lstm(look_back=4, epochs=1, batch_size=64)"):
        assert text in out.output, text
    out = runner.invoke(app, ["forecast", "backtest", "--days", "3", "--model", "seasonal_naive",
                              "--model", "arima:order=[1,0,0]", "--origins", "2"])
    assert out.exit_code == 0, out.output
    assert "generated FTS link CERN-PROD->BNL-ATLAS throughput" in out.output and "arima" in out.output
    out = runner.invoke(app, ["forecast", "backtest", "--csv", NAB, "--model", "prophet"])
    assert out.exit_code != 0 and "unknown forecaster 'prophet'" in str(out.exception)


def test_isolated_backtest_gives_the_same_errors_from_a_fresh_process(series):
    config = BacktestConfig(horizon=6, origins=2, mase_season=24)
    here = backtest(series, [{"name": "seasonal_naive", "season": 24}], config)
    there = backtest(series, [{"name": "seasonal_naive", "season": 24}], config.model_copy(update={"isolate": True}))
    cols = ["model", "train_rmse", "test_rmse", "mase", "origins", "error"]
    pd.testing.assert_frame_equal(here[cols], there[cols])
    assert there.loc[0, "peak_mib"] >= 0 and there.loc[0, "cpu_s"] >= 0


def test_cli_job_config_writes_a_loadable_config(tmp_path):
    from admon.cli import build_app
    from admon.forecast.job import ForecastJobConfig

    runner = CliRunner()
    path = tmp_path / "job.json"
    out = runner.invoke(build_app(), ["forecast", "job-config", "--model", "arima:order=[1,0,0]",
                                      "--threshold", "4e8", "--minutes", "45",
                                      "--webhook", "http://127.0.0.1:9/hook", "--header", "Authorization: Bearer t",
                                      "--out", str(path)])
    assert out.exit_code == 0, out.output
    job = ForecastJobConfig.model_validate_json(path.read_text())
    assert job.forecaster == {"name": "arima", "order": [1, 0, 0]}
    assert job.rule.threshold == 4e8 and job.rule.min_duration_minutes == 45
    assert job.rule.webhook_headers == {"Authorization": "Bearer t"}
    out = runner.invoke(build_app(), ["forecast", "job-config", "--threshold", "1"])
    assert out.exit_code != 0 and "needs both --threshold and --webhook" in str(out.exception)


def test_cli_backtest_on_lake_data(tmp_path):
    from admon.cli import build_app
    from admon.forecast.fts_lake import generate_fts_lake

    generate_fts_lake(tmp_path, links=2, days=3, seed=2, step_seconds=300)
    runner = CliRunner()
    args = ["forecast", "backtest", "--lake", "--root", str(tmp_path), "--days", "3", "--origins", "2",
            "--model", "seasonal_naive"]
    out = runner.invoke(build_app(), [*args, "--link", "CERN-PROD:FZK-LCG2"])
    assert out.exit_code == 0, out.output
    title = " ".join(out.output.split())  # the table's title wraps where the temporary path ends
    assert "CERN-PROD->FZK-LCG2 throughput from" in title and "864 points" in title
    out = runner.invoke(build_app(), [*args, "--link", "CERN-PROD:PIC"])
    assert out.exit_code != 0 and "link CERN-PROD:PIC has no data" in str(out.exception)
