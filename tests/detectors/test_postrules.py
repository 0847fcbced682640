from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import admon.detectors as detectors
from admon.detectors.postrules import Calibrator, PostRules, contributions, severity, top_features
from admon.errors import ConfigError, NotFittedError


def test_calibration_is_monotonic_bounded_and_spreads_the_tail():
    rng = np.random.default_rng(0)
    cal = Calibrator().fit(rng.exponential(size=5000))
    grid = np.linspace(-1, 50, 500)
    out = cal.transform(grid)
    assert (np.diff(out) >= -1e-9).all()
    assert out.min() >= 0 and out.max() <= 100
    # the median maps low, far beyond the training max maps to 100
    assert cal.transform([np.log(2)])[0] < 10
    assert cal.transform([1e6])[0] == 100.0
    # ~1 in 1000 training scores exceed q999: about 3/6 of the way = 50
    q999 = np.quantile(rng.exponential(size=200_000), 0.999)
    assert 40 < cal.transform([q999])[0] < 60


def test_constant_training_scores_do_not_break_calibration():
    cal = Calibrator().fit(np.zeros(100))
    out = cal.transform([0.0, 0.001, 1.0, np.nan])
    assert np.isfinite(out).all()
    assert out[2] == 100.0 and out[3] == 0.0


def test_severity_bands_match_elastic():
    assert [severity(s) for s in (0, 24.9, 25, 49.9, 50, 74.9, 75, 100)] == [
        "warning", "warning", "minor", "minor", "major", "major", "critical", "critical"]


def test_post_rules_threshold_and_json_round_trip():
    rng = np.random.default_rng(1)
    rules = PostRules(threshold=50).fit(rng.normal(size=1000))
    raw = pd.Series([0.0, 2.5, 6.0], index=[10, 11, 12])
    out = rules.apply(raw)
    assert list(out.index) == [10, 11, 12]
    assert out["is_anomaly"].tolist() == list(out["anomaly_score"] >= 50)
    assert out["is_anomaly"].iloc[2] and not out["is_anomaly"].iloc[0]
    again = PostRules.from_dict(json.loads(json.dumps(rules.to_dict())))
    pd.testing.assert_frame_equal(again.apply(raw), out)


def test_threshold_is_validated_and_unfitted_calibration_fails():
    with pytest.raises(ConfigError, match="threshold"):
        PostRules(threshold=150)
    with pytest.raises(NotFittedError):
        Calibrator().transform([1.0])


@pytest.mark.parametrize("name", ["robust_zscore", "isolation_forest", "lstm_forecaster", "ensemble"])
def test_contributions_point_at_the_column_that_moved(name, frame_factory, fast_params):
    frame = frame_factory()
    det = detectors.create(name, **fast_params.get(name, {})).fit(frame)
    spiked = frame_factory(spike=("h2", 100, "alice_value", 30.0))
    row = spiked.index[(spiked["host"] == "h2") & (spiked["timestamp"] == spiked["timestamp"].min() + 100 * 300_000)][0]
    shares = contributions(det, spiked)
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert shares.loc[row].idxmax() == "alice_value"
    assert top_features(shares.loc[[row]], top=1) == [["alice_value"]]
