from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import admon.detectors as detectors
from admon.detectors.postrules import (
    SEVERITY_BANDS,
    Calibrator,
    PostRuleChain,
    PostRules,
    available_post_rules,
    contributions,
    post_rule_from_dict,
    severity,
    top_features,
)
from admon.errors import ConfigError, DataError, NotFittedError
from admon.testing.checks import parametrize_with_checks


def test_calibration_is_monotonic_bounded_and_spreads_the_tail():
    rng = np.random.default_rng(0)
    cal = Calibrator().fit(rng.exponential(size=5000))
    grid = np.linspace(-1, 50, 500)
    out = cal.transform(grid)
    assert (np.diff(out) >= -1e-9).all()
    assert out.min() >= 0 and out.max() <= 100
    # the median maps low, far beyond the training max maps close to 100 (never onto it: issue 15)
    assert cal.transform([np.log(2)])[0] < 10
    assert 99.99 < cal.transform([1e6])[0] < 100.0
    # ~1 in 1000 training scores exceed q999: about 3/6 of the way = 50
    q999 = np.quantile(rng.exponential(size=200_000), 0.999)
    assert 40 < cal.transform([q999])[0] < 60


def test_constant_training_scores_do_not_break_calibration():
    cal = Calibrator().fit(np.zeros(100))
    out = cal.transform([0.0, 0.001, 1.0, np.nan])
    assert np.isfinite(out).all()
    assert 99.9 < out[2] < 100.0 and out[3] == 0.0 and out[0] < 75.0


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


# ---------------------------------------------------------------------------- the chain
def _old_post_rules_dict(threshold: float, calibrator: Calibrator) -> dict:
    """What PostRules.to_dict() wrote into postrules.json before post-rules were a chain."""
    return {"threshold": threshold, "calibrator": {"config": calibrator.config.model_dump(), "state": calibrator.state()}}


def test_every_rule_round_trips_as_name_and_params():
    assert {"calibrate", "threshold", "suppress", "sustained"} <= set(available_post_rules())
    for spec in ({"name": "calibrate", "max_surprise": 5.0}, {"name": "threshold", "threshold": 60.0},
                 {"name": "suppress", "period": 10, "gap": 0.1, "factor": 0.25, "top": 100.0},
                 {"name": "sustained", "min_duration_minutes": 15.0}):
        rule = post_rule_from_dict(spec)
        assert rule.get_config() == {**rule.config.model_dump(mode="json"), "name": spec["name"]}
        assert post_rule_from_dict(json.loads(json.dumps(rule.to_dict()))).get_config() == rule.get_config()


def test_a_fitted_chain_round_trips_through_json_with_identical_results():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"host": np.repeat(["a", "b"], 300), "timestamp": np.tile(np.arange(300) * 300_000, 2),
                          "v": 0.0})
    raw = pd.Series(rng.random(600), index=frame.index)
    chain = PostRuleChain([{"name": "suppress", "period": 5}, {"name": "calibrate"},
                           {"name": "threshold", "threshold": 60}]).fit(raw, frame)
    again = PostRuleChain.from_dict(json.loads(json.dumps(chain.to_dict())))
    assert [r.name for r in again] == ["suppress", "calibrate", "threshold"]
    pd.testing.assert_frame_equal(again.apply(raw, frame), chain.apply(raw, frame))


def test_an_old_post_rules_dict_loads_as_the_equivalent_chain():
    rng = np.random.default_rng(3)
    training, new = rng.normal(size=1000), pd.Series([0.0, 2.5, 6.0])
    old = _old_post_rules_dict(40.0, Calibrator(max_surprise=5.0).fit(training))
    chain = PostRuleChain.from_dict(old)
    assert [r.name for r in chain] == ["calibrate", "threshold"]
    expected = Calibrator(max_surprise=5.0).fit(training).transform(new.to_numpy())
    out = chain.apply(new)
    np.testing.assert_array_equal(out["anomaly_score"].to_numpy(), expected)
    assert out["is_anomaly"].tolist() == list(expected >= 40.0) and (out["threshold"] == 40.0).all()
    assert list(out.columns) == ["raw_score", "anomaly_score", "severity", "is_anomaly", "threshold"]


def test_an_old_default_model_gets_back_the_refractory_period_its_detector_applied():
    # before the chain, the default detector suppressed inside score(); its stored post-rules
    # only calibrate and threshold, so loading them with the detector puts suppress first
    det = detectors.create("default_v1", refractory=7, refractory_gap=0.1)
    old = _old_post_rules_dict(75.0, Calibrator().fit(np.linspace(0, 1, 100)))
    chain = PostRuleChain.from_dict(old, detector=det)
    assert [r.get_config() for r in chain][0] == {"name": "suppress", "period": 7, "gap": 0.1, "factor": 0.5, "top": 1.0,
                                                   "period_minutes": 0.0, "floor": 0.0}
    assert [r.name for r in PostRuleChain.from_dict(old, detector=detectors.create("ewma"))] == ["calibrate", "threshold"]


def test_suppress_needs_the_frame_and_works_per_group():
    chain = PostRuleChain([{"name": "suppress", "period": 3, "gap": 0.0}])
    with pytest.raises(ConfigError, match="suppress.*frame"):
        chain.apply(pd.Series([0.5, 0.4]))
    # rows of two hosts interleaved and out of time order: each host is its own series
    frame = pd.DataFrame({"host": ["a", "b", "a", "b", "a"], "timestamp": [2, 0, 0, 1, 1], "v": 0.0})
    raw = pd.Series([0.3, 0.8, 0.9, 0.6, 0.5], index=[10, 11, 12, 13, 14])
    frame.index = raw.index
    out = chain.apply(raw, frame)["anomaly_score"]
    # host a in time order: 0.9, 0.5, 0.3 -> 0.9, 0.25, 0.15; host b: 0.8, 0.6 -> 0.8, 0.3
    assert out.to_dict() == {10: 0.15, 11: 0.8, 12: 0.9, 13: 0.3, 14: 0.25}
    with pytest.raises(DataError, match="index"):
        chain.apply(raw, frame.reset_index(drop=True))


def test_sustained_keeps_only_runs_lasting_long_enough():
    ts = np.arange(8, dtype=np.int64) * 300_000  # 5-minute steps
    frame = pd.DataFrame({"timestamp": ts, "v": 0.0})
    raw = pd.Series([9.0, 9, 1, 9, 9, 9, 1, 9])
    chain = PostRuleChain([{"name": "threshold", "threshold": 5},
                           {"name": "sustained", "min_duration_minutes": 15}])
    assert chain.apply(raw, frame)["is_anomaly"].astype(int).tolist() == [0, 0, 0, 1, 1, 1, 0, 0]
    with pytest.raises(ConfigError, match="threshold"):
        PostRuleChain([{"name": "sustained", "min_duration_minutes": 15}])
    with pytest.raises(ConfigError, match="timestamp"):
        chain.apply(raw, frame[["v"]])


def test_bad_rules_are_config_errors_that_say_what_to_fix():
    with pytest.raises(ConfigError, match="unknown post-rule 'refractory'; available post-rules: calibrate"):
        PostRuleChain([{"name": "refractory"}])
    with pytest.raises(ConfigError, match="unknown parameter 'periods'"):
        PostRuleChain([{"name": "suppress", "periods": 3}])
    with pytest.raises(ConfigError, match="threshold 150.0 must be within 0..100"):
        PostRuleChain([{"name": "calibrate"}, {"name": "threshold", "threshold": 150}])
    # before calibrate a threshold is on the detector's own scale
    assert len(PostRuleChain([{"name": "threshold", "threshold": 150}])) == 1
    with pytest.raises(DataError, match="unknown key"):
        PostRuleChain.from_dict({"rules": [], "extra": 1})


def test_a_trained_default_model_runs_the_chain_the_benchmark_runs(tmp_path):
    # training stores the detector's chain (suppress, calibrate, threshold) and every
    # inference path applies it: the scores runs see are suppressed as the benchmark's are
    from admon.models.store import ModelStore
    from admon.models.training import train

    rng = np.random.default_rng(5)
    x = np.sin(np.arange(1600) * 2 * np.pi / 96) + 0.1 * rng.standard_normal(1600)
    x[1500:1510] += 4.0
    frame = pd.DataFrame({"host": "h", "timestamp": np.arange(1600, dtype=np.int64) * 300_000, "v": x})
    result = train(None, 0, 1600 * 300_000, "default", namespace="ns", model="m",
                   frame=frame.iloc[:1200], store=ModelStore(tmp_path), record=False)
    assert [r.name for r in result.post_rules] == ["suppress", "calibrate", "threshold", "missing_data"]
    loaded = ModelStore(tmp_path).load("ns", "m")
    assert [r.name for r in loaded.post_rules] == ["suppress", "calibrate", "threshold", "missing_data"]
    window = frame.iloc[1400:].reset_index(drop=True)
    raw = loaded.detector.score(window)
    suppressed = PostRuleChain(loaded.post_rules.rules[:1]).apply(raw, window)["anomaly_score"]
    assert (suppressed < raw).any()
    expected = loaded.post_rules.apply(raw, window)
    got = loaded.predict(window)
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(), expected["anomaly_score"].to_numpy())


# ---------------------------------------------------------------------------- conformance
RULE_PARAMS = {"sustained": {"min_duration_minutes": 15}}


@parametrize_with_checks([post_rule_from_dict({"name": n, **RULE_PARAMS.get(n, {})}) for n in available_post_rules()])
def test_post_rule_conforms(obj, check):
    check(obj)


# ---------------------------------------------------------------- issue 15: ranked scores, severity on anomalies only
def test_very_rare_scores_stay_ranked_below_100():
    rng = np.random.default_rng(0)
    cal = Calibrator().fit(rng.exponential(size=5000))
    # far beyond the training maximum (the old calibrator clipped all of these to exactly 100)
    grid = np.concatenate([np.linspace(20, 200, 1000), [1e3, 1e4, 1e5, 1e6]])
    out = cal.transform(grid)
    assert (np.diff(out) > 0).all(), "distinct rare raw scores must keep distinct, ordered calibrated scores"
    assert out.max() < 100.0 and out.min() > 75.0


def test_calibration_keeps_the_threshold_and_the_scale_below_it():
    rng = np.random.default_rng(0)
    cal = Calibrator().fit(rng.exponential(size=5000))
    grid = np.linspace(0, 15, 3000)
    linear = 100.0 * cal.surprise(grid) / cal.config.max_surprise
    out = cal.transform(grid)
    below = linear <= 75.0
    np.testing.assert_allclose(out[below], linear[below])
    assert ((out >= 75.0) == (linear >= 75.0)).all()


def test_only_anomalous_rows_carry_a_severity():
    rng = np.random.default_rng(1)
    rules = PostRules(threshold=75).fit(rng.normal(size=2000))
    out = rules.apply(pd.Series([0.0, 2.0, 3.0, 6.0, 9.0, 40.0]))
    flagged = out["is_anomaly"].to_numpy()
    assert flagged.any() and not flagged.all()
    assert out["severity"][~flagged].isna().all()
    assert out["severity"][flagged].notna().all()
    # ranked above the threshold: bands grow with the score
    bands = [b for _, b in SEVERITY_BANDS]
    ranks = [bands.index(s) for s in out["severity"][flagged]]
    assert ranks == sorted(ranks)


def test_severity_relative_to_a_threshold_splits_the_anomalous_range():
    assert severity(74.9, threshold=75) is None
    assert [severity(s, threshold=75) for s in (75, 82, 88, 95)] == ["warning", "minor", "major", "critical"]


def test_top_features_names_none_on_normal_rows_and_only_significant_ones():
    shares = pd.DataFrame({"a": [0.5, 0.95, 0.6], "b": [0.5, 0.05, 0.4]})
    assert top_features(shares, anomalous=np.array([False, True, True])) == [[], ["a"], ["a", "b"]]


def test_a_period_counted_in_time_needs_fewer_rows_of_coarser_buckets():
    from admon.detectors.postrules import PostRuleChain

    chain = PostRuleChain([{"name": "suppress", "period": 0, "period_minutes": 360.0, "floor": 0.9, "factor": 0.0},
                           {"name": "calibrate"}, {"name": "threshold"}, {"name": "missing_data"}])
    assert chain.lookback == 360 + 2  # rows of a minute: the most a period of 6 hours can span
    assert chain.lookback_rows(60_000) == 362
    assert chain.lookback_rows(300_000) == 72 + 2  # 5-minute buckets
    assert chain.lookback_rows(10_000) == 362  # rows closer than a minute: still counted at a minute (as before)
