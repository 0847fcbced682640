"""What a detector expected, and its band (issue 17, part 3): the robust z-score, EWMA and
seasonal detectors say, per row, the value they expected and a band of ``width`` scales; a
value's per-feature score is its distance from the expected value in those scales."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admon.detectors import create

STEP = 300_000


def _frame(days: int = 3, spike_at: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = days * 288
    ts = np.arange(n, dtype="int64") * STEP
    hours = ts / 3_600_000 % 24
    rows = []
    for host, level in (("a", 100.0), ("b", 50.0)):
        v = level * (1 + 0.3 * np.sin(2 * np.pi * hours / 24)) + rng.normal(0, 1.0, n)
        if spike_at is not None and host == "a":
            v[spike_at] += 40.0
        rows.append(pd.DataFrame({"host": host, "timestamp": ts, "cpu": v}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("name", ["robust_zscore", "ewma", "seasonal_stl"])
def test_the_score_is_the_distance_from_the_expected_value_in_band_scales(name):
    det = create(name).fit(_frame())
    test = _frame(days=1, spike_at=200)
    band = det.expected(test, width=3.0)
    assert list(band.columns) == ["cpu:expected", "cpu:lower", "cpu:upper"] and band.index.equals(test.index)
    scale = (band["cpu:upper"] - band["cpu:expected"]) / 3.0
    distance = (test["cpu"] - band["cpu:expected"]).abs() / scale
    np.testing.assert_allclose(distance.to_numpy(), det.feature_scores(test)["cpu"].to_numpy(), rtol=1e-9)
    spike = test.index[(test["host"] == "a")][200]
    assert not band.loc[spike, "cpu:lower"] <= test.loc[spike, "cpu"] <= band.loc[spike, "cpu:upper"]
    inside = (test["cpu"] >= band["cpu:lower"]) & (test["cpu"] <= band["cpu:upper"])
    assert inside.mean() > 0.9  # ordinary values lie in the band


def test_a_detector_without_expected_values_has_no_expected_method():
    assert not hasattr(create("pca"), "expected")


def test_the_lstm_forecaster_band_is_its_one_step_forecast_and_typical_error():
    # Its per-feature score is the squared forecast error in units of the median squared training
    # error, so the band of width w typical errors holds exactly the values scoring <= w**2.
    det = create("lstm_forecaster", window=12, epochs=60, hidden=8, lr=0.01, batch_size=64).fit(_frame(days=2))
    test = _frame(days=1, spike_at=200)
    band = det.expected(test, width=3.0)
    assert list(band.columns) == ["cpu:expected", "cpu:lower", "cpu:upper"] and band.index.equals(test.index)
    typical = (band["cpu:upper"] - band["cpu:expected"]) / 3.0
    np.testing.assert_allclose(band["cpu:expected"] - band["cpu:lower"], 3.0 * typical, rtol=1e-12)
    distance = (test["cpu"] - band["cpu:expected"]).abs() / typical
    np.testing.assert_allclose(distance.to_numpy() ** 2, det.feature_scores(test)["cpu"].to_numpy(),
                               rtol=1e-3, atol=1e-3)
    spike = test.index[(test["host"] == "a")][200]
    assert not band.loc[spike, "cpu:lower"] <= test.loc[spike, "cpu"] <= band.loc[spike, "cpu:upper"]
    inside = (test["cpu"] >= band["cpu:lower"]) & (test["cpu"] <= band["cpu:upper"])
    assert inside.mean() > 0.8  # ordinary values lie in the band
