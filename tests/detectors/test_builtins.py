"""Each built-in finds what it is built to find (behaviour, not just shape)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import admon.detectors as detectors

STEP = 300_000


@pytest.mark.parametrize("name", ["robust_zscore", "ewma", "seasonal_stl", "isolation_forest", "lof",
                                  "one_class_svm", "pca", "hbos", "autoencoder", "lstm_forecaster",
                                  "ensemble"])
def test_a_spike_ranks_first_in_its_host(name, frame_factory, fast_params):
    train = frame_factory(n=200, seed=1)
    det = detectors.create(name, **fast_params.get(name, {})).fit(train)
    test = frame_factory(n=200, seed=2, spike=("h3", 150, "gled_value", 160.0))
    # both columns far out: row-wise detectors (Isolation Forest) saturate on one extreme
    # column and tie it with ordinary 3-sigma rows; a joint outlier is what they are for
    test.loc[(test["host"] == "h3") & (test["timestamp"] == test["timestamp"].min() + 150 * STEP), "alice_value"] = 12.0
    scores = det.score(test)
    h3 = test["host"] == "h3"
    top = scores[h3].idxmax()
    assert test.loc[top, "timestamp"] == test["timestamp"].min() + 150 * STEP


def test_pca_finds_a_broken_correlation():
    rng = np.random.default_rng(0)
    n = 500
    a = rng.normal(size=n)
    frame = pd.DataFrame({"host": "h", "timestamp": np.arange(n, dtype="int64") * STEP,
                          "a": a, "b": 2 * a + rng.normal(0, 0.05, n)})
    det = detectors.create("pca").fit(frame)
    broken = frame.copy()
    broken.loc[300, "b"] = -2 * broken.loc[300, "a"]  # each value ordinary, the pair is not
    broken.loc[300, "a"] = 1.0
    broken.loc[300, "b"] = -2.0
    assert broken["b"].min() < -2.0  # -2 alone is not extreme for b
    assert det.score(broken).idxmax() == 300


def test_seasonal_stl_sees_a_dip_at_the_wrong_time_of_day():
    rng = np.random.default_rng(0)
    n = 288 * 5
    t = np.arange(n)
    season = 10 * np.sin(2 * np.pi * t / 288)
    frame = pd.DataFrame({"host": "h", "timestamp": t.astype("int64") * STEP, "v": season + rng.normal(0, 0.2, n)})
    det = detectors.create("seasonal_stl", robust=False).fit(frame.iloc[: 288 * 4])
    test = frame.iloc[288 * 4:].copy()
    peak = test.index[72]  # the daily maximum (+10)
    test.loc[peak, "v"] = 0.0  # an ordinary level overall, wrong for that time of day
    scores = det.score(test)
    assert scores.idxmax() == peak


def test_groups_are_scored_independently(frame_factory):
    # a level that is normal for one host is anomalous for another
    frame = frame_factory(hosts=("low", "high"), n=100)
    frame.loc[frame["host"] == "high", "gled_value"] += 1000
    det = detectors.create("robust_zscore", features=["gled_value"]).fit(frame)
    probe = frame[frame["host"] == "low"].copy()
    probe["timestamp"] += 100 * STEP
    probe.iloc[0, probe.columns.get_loc("gled_value")] = 1100.0
    scores = det.score(probe)
    assert scores.iloc[0] > 50 and scores.iloc[1:].max() < 10


def test_deep_training_records_decreasing_loss(frame_factory):
    det = detectors.create("autoencoder", epochs=8, hidden=8, window=4).fit(frame_factory())
    assert len(det.losses_) == 8 and det.losses_[-1] < det.losses_[0]


@pytest.mark.parametrize("name", ["robust_zscore", "seasonal_stl", "isolation_forest", "autoencoder",
                                  "lstm_forecaster", "hbos", "ensemble"])
def test_lookback_history_is_enough_for_the_full_series_scores(name, frame_factory, fast_params):
    frame = frame_factory(n=120)
    det = detectors.create(name, **fast_params.get(name, {})).fit(frame)
    full = det.score(frame)
    first_kept = frame["timestamp"].min() + 100 * STEP  # a 20-point "window" at the end
    window = frame["timestamp"] >= first_kept
    with_history = frame[frame["timestamp"] >= first_kept - det.lookback * STEP]
    np.testing.assert_allclose(det.score(with_history)[window].to_numpy(), full[window].to_numpy(), rtol=1e-9)


def test_ewma_lookback_makes_old_history_negligible(frame_factory):
    frame = frame_factory(n=300)
    det = detectors.create("ewma", alpha=0.2).fit(frame)
    window = frame["timestamp"] >= frame["timestamp"].min() + 280 * STEP
    with_history = frame[frame["timestamp"] >= frame["timestamp"].min() + (280 - det.lookback) * STEP]
    np.testing.assert_allclose(det.score(with_history)[window], det.score(frame)[window], rtol=1e-2)
