"""The forecast job on a generated FTS lake read through DataSource, and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admon.data.source import DataSource
from admon.errors import ConfigError, DataError
from admon.forecast.actions import ThroughputRule, evaluate_rule
from admon.forecast.fts_lake import fts_input_config, generate_fts_lake, read_episodes
from admon.forecast.job import ForecastJobConfig, run_forecast_job

DAY0 = pd.Timestamp("2022-05-10").value // 10**6
STEP = 300_000


@pytest.fixture(scope="module")
def fts(tmp_path_factory):
    """Three days of one link, seed 1: a 233-minute episode starts about 31 hours in."""
    root = tmp_path_factory.mktemp("fts-lake")
    generate_fts_lake(root, links=1, days=3, start="2022-05-10", seed=1, step_seconds=60)
    frame = DataSource(None, fts_input_config(300), lake_root=str(root)).read(DAY0, DAY0 + 3 * 86_400_000)
    episode = read_episodes(root)[0]
    assert episode["end_ms"] - episode["start_ms"] >= 3 * 3_600_000
    return frame, episode


def test_a_large_transfer_episode_is_announced_once(fts):
    frame, episode = fts
    ts = frame["timestamp"].to_numpy()
    inside = (ts >= episode["start_ms"] + 15 * 60_000) & (ts < episode["end_ms"] - 15 * 60_000)
    quiet = frame["throughput"][ts < episode["start_ms"] - STEP].max()
    busy = frame["throughput"][inside].min()
    assert busy > quiet, "the generator must make an episode stand out from ordinary traffic"
    rule = ThroughputRule(threshold=(quiet + busy) / 2, min_duration_minutes=30, webhook_url="http://127.0.0.1:9/")
    config = ForecastJobConfig(
        forecaster={"name": "seasonal_naive", "season": None}, interval_seconds=300, horizon=12,
        history_points=288, rule=rule,
    )
    notices, fired_at, open_episode = [], [], None
    first = episode["start_ms"] // STEP * STEP - 2 * 3_600_000
    for now in range(first, episode["end_ms"] + 2 * 3_600_000, STEP):  # one run per 5-minute slide
        result = run_forecast_job(config, frame, now)
        assert len(result.forecasts) == 12 and not result.errors
        steps = result.forecasts.set_index(pd.to_datetime(result.forecasts["timestamp"], unit="ms"))
        decision = evaluate_rule(rule, open_episode, ("source_se", "dest_se"), ("CERN-PROD", "BNL-ATLAS"),
                                 steps, now)
        if decision.notice is not None:
            notices.append(decision.notice)
            fired_at.append(now)
            open_episode = decision.notice["episode_id"]
        if decision.close:
            open_episode = None
    assert len(notices) == 1, [n["expected_start"] for n in notices]
    notice = notices[0]
    assert notice["link"] == {"source_se": "CERN-PROD", "dest_se": "BNL-ATLAS"}
    assert episode["start_ms"] <= notice["expected_start_ms"] <= episode["start_ms"] + 30 * 60_000
    assert fired_at[0] <= episode["start_ms"] + 30 * 60_000, "the notice comes early in the episode"
    assert notice["predicted_volume_bytes"] >= rule.threshold * 30 * 60
    assert open_episode is None, "closed once it cleared"


def test_forecast_frame_and_documents(fts):
    frame, _ = fts
    config = ForecastJobConfig(forecaster={"name": "arima", "order": [1, 0, 0]}, horizon=6)
    now = DAY0 + 2 * 86_400_000
    result = run_forecast_job(config, frame, now)
    f = result.forecasts
    assert list(f.columns) == ["source_se", "dest_se", "timestamp", "mean", "lower", "upper"]
    assert f["timestamp"].tolist() == [now + i * STEP for i in range(6)]
    assert ((f["lower"] <= f["mean"]) & (f["mean"] <= f["upper"])).all()
    docs = result.documents(config)
    assert docs[0]["source_se"] == "CERN-PROD" and docs[0]["forecast_made_at"] == now
    assert set(docs[0]) >= {"timestamp", "forecast_mean", "forecast_lower", "forecast_upper"}


def test_job_errors_are_per_link_or_clear(fts):
    frame, _ = fts
    two = pd.concat([frame, frame.tail(5).assign(dest_se="TINY")], ignore_index=True)  # a new link
    config = ForecastJobConfig(forecaster={"name": "seasonal_naive", "season": "1D"}, horizon=3)
    now = int(frame["timestamp"].max()) + STEP
    result = run_forecast_job(config, two, now)
    assert set(result.forecasts["dest_se"]) == {"BNL-ATLAS"}
    assert "needs at least" in result.errors["source_se=CERN-PROD|dest_se=TINY"]
    with pytest.raises(DataError, match="no link could be forecast"):
        run_forecast_job(config, frame.tail(5), now)
    with pytest.raises(DataError, match=r"frame lacks columns \['bandwidth'\]"):
        run_forecast_job(config.model_copy(update={"value_column": "bandwidth"}), frame, DAY0 + 86_400_000)
    with pytest.raises(DataError, match="no rows before now"):
        run_forecast_job(config, frame, DAY0 - 1)
    with pytest.raises(ConfigError, match="unknown forecaster 'prophet'"):
        ForecastJobConfig(forecaster={"name": "prophet"})
    rule = ThroughputRule(threshold=1, min_duration_minutes=90, webhook_url="http://127.0.0.1:9/")
    with pytest.raises(ConfigError, match="covers 60 min, less than the rule's 90 min"):
        ForecastJobConfig(horizon=12, interval_seconds=300, rule=rule)


def test_gaps_are_filled_for_models_that_cannot_take_them(fts):
    frame, _ = fts
    holed = frame.drop(frame.index[-30:-25])  # five missing buckets near the end
    config = ForecastJobConfig(forecaster={"name": "ets", "season": None}, horizon=3)
    out = run_forecast_job(config, holed, int(frame["timestamp"].max()) + STEP).forecasts
    assert np.isfinite(out[["mean", "lower", "upper"]].to_numpy()).all()
    with pytest.raises(DataError, match="cannot handle gaps"):
        run_forecast_job(config.model_copy(update={"fill_gaps": False}), holed, int(frame["timestamp"].max()) + STEP)
