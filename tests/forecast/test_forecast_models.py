"""One conformance suite over every registered forecaster, plus the errors of bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import QUICK, SEASON, seasonal_series, true_shape

import admon.forecast as fc
from admon.errors import ConfigError, DataError, NotFittedError

ALL = fc.available()


def test_registry_lists_the_built_ins():
    assert ALL == ["arima", "ets", "gbm", "lstm", "seasonal_naive"]
    assert set(QUICK) == set(ALL), "every forecaster needs quick test parameters"


@pytest.mark.parametrize("name", ALL)
def test_recovers_a_known_seasonality(name, series):
    f = fc.create(name, **QUICK[name]).fit(series)
    out = f.forecast(SEASON)
    truth = true_shape(np.arange(len(series), len(series) + SEASON))
    err = np.abs(out["mean"].to_numpy() - truth)
    flat = np.abs(series.mean() - truth)  # what a model that ignored the season would score
    # A 4-unit LSTM trained for 40 epochs learns the shape only roughly; the others closely.
    tolerance = 0.7 if name == "lstm" else 0.2
    assert err.mean() < tolerance * flat.mean(), (name, err.mean(), flat.mean())
    # The evening peak (phase 20) is forecast above the level of its neighbours.
    peak = out["mean"].to_numpy()[20]
    assert peak > out["mean"].to_numpy()[18] + 5, (name, out["mean"].to_numpy()[17:23])


@pytest.mark.parametrize("name", ALL)
def test_forecast_frame_shape_index_and_band(name, series):
    f = fc.create(name, **QUICK[name], level=0.8).fit(series)
    out = f.forecast(7)
    assert list(out.columns) == ["mean", "lower", "upper"]
    expected = pd.date_range(series.index[-1] + pd.Timedelta("1h"), periods=7, freq="h")
    assert out.index.equals(expected)
    assert (out["lower"] <= out["mean"]).all() and (out["mean"] <= out["upper"]).all()
    assert (out["upper"] - out["lower"]).gt(0).all(), "a band of zero width on noisy data"
    assert np.isfinite(out.to_numpy()).all()
    assert len(f.fitted_) == len(series) and f.fitted_.index.equals(series.index)


@pytest.mark.parametrize("name", ALL)
def test_same_config_same_forecast_input_unchanged_and_pickles(name, series):
    before = series.copy()
    a = fc.create(name, **QUICK[name]).fit(series).forecast(5)
    b = fc.from_dict(fc.create(name, **QUICK[name]).to_dict()).fit(series)
    pd.testing.assert_frame_equal(a, b.forecast(5))
    pd.testing.assert_series_equal(series, before)
    clone = pickle.loads(pickle.dumps(b))
    pd.testing.assert_frame_equal(clone.forecast(5), a)


@pytest.mark.parametrize("name", ALL)
def test_too_short_series_is_a_clear_error(name):
    f = fc.create(name, **QUICK[name])
    short = seasonal_series(days=10).iloc[: f.min_length(SEASON) - 1]
    with pytest.raises(DataError, match=rf"series has {len(short)} points; {name} needs at least"):
        f.fit(short)
    f.fit(seasonal_series(days=10).iloc[: f.min_length(SEASON)])  # the minimum itself is enough


@pytest.mark.parametrize("name", ALL)
def test_gaps_are_handled_or_refused_clearly(name, series):
    holed = series.copy()
    holed.iloc[100:104] = np.nan
    f = fc.create(name, **QUICK[name])
    if f.handles_gaps:
        out = f.fit(holed).forecast(SEASON)
        assert np.isfinite(out.to_numpy()).all()
        truth = true_shape(np.arange(len(series), len(series) + SEASON))
        assert np.abs(out["mean"].to_numpy() - truth).mean() < 5
    else:
        with pytest.raises(DataError, match=r"4 missing values \(first at 2022-05-14 04:00:00\).*cannot handle gaps"):
            f.fit(holed)


def test_gap_at_the_season_seasonal_naive_uses_an_earlier_season(series):
    holed = series.copy()
    holed.iloc[-SEASON] = np.nan  # the value seasonal naive would repeat first
    out = fc.create("seasonal_naive", season=SEASON).fit(holed).forecast(1)
    assert out["mean"].iloc[0] == series.iloc[-2 * SEASON]


def test_irregular_index_names_the_steps_and_the_fix(series):
    irregular = series.drop(series.index[5])
    with pytest.raises(DataError, match=r"not regular: step 0 days 01:00:00 and 0 days 02:00:00.*resample"):
        fc.create("seasonal_naive", season=SEASON).fit(irregular)


def test_bad_inputs_and_params_are_clear_errors(series):
    with pytest.raises(DataError, match="not a DatetimeIndex"):
        fc.create("ets").fit(series.reset_index(drop=True))
    with pytest.raises(NotFittedError, match="call fit"):
        fc.create("gbm").forecast(3)
    with pytest.raises(ConfigError, match="unknown parameter 'lookback'"):
        fc.create("lstm", lookback=3)
    with pytest.raises(ConfigError, match=r"epochs: .*greater than or equal to 1 \(got 0\)"):
        fc.create("lstm", epochs=0)
    with pytest.raises(ConfigError, match="horizon 0 is not a positive"):
        fc.create("seasonal_naive", season=SEASON).fit(series).forecast(0)
    with pytest.raises(ConfigError, match="season '7min' is not a whole number"):
        fc.create("seasonal_naive", season="7min").fit(series)


def test_season_as_a_duration_resolves_against_the_step(series):
    f = fc.create("seasonal_naive", season="1D").fit(series)
    assert f.season_ == 24
    assert f.to_dict() == {"name": "seasonal_naive", "level": 0.9, "season": "1D"}


def test_config_is_frozen():
    f = fc.create("gbm")
    with pytest.raises(Exception, match="frozen"):
        f.config.n_lags = 3  # type: ignore[misc]
