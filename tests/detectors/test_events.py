"""The ``default`` detector (issue 14): tail-probability scores, event onsets in time, one calibrated path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import admon.detectors as detectors
from admon.detectors.events import EventDetector
from admon.detectors.postrules import PostRuleChain, event_onsets, severity
from admon.detectors.streaming import DefaultDetector, score_series

STEP = 300_000  # 5 minutes


def _frame(values, host="h", step=STEP, start=0):
    n = len(values)
    return pd.DataFrame({"host": host, "timestamp": start + np.arange(n, dtype=np.int64) * step, "value": values})


def _series(n=1500, seed=0, scale=1.0, level=10.0):
    rng = np.random.default_rng(seed)
    return level + scale * (np.sin(np.arange(n) * 2 * np.pi / 96) + 0.1 * rng.standard_normal(n))


def _events(det, frame):
    return PostRuleChain(det.default_post_rules()).apply(det.score(frame), frame)["anomaly_score"].to_numpy()


def test_default_is_the_event_detector_and_v1_stays_available():
    assert detectors.get_class("default") is EventDetector
    assert detectors.get_class("default_v1") is DefaultDetector
    assert [r["name"] for r in detectors.create("default").default_post_rules()] == ["suppress"]


def test_output_is_sparse_and_marks_only_the_onset_of_a_level_shift():
    x = _series()
    x[1200:] += 2.5
    frame = _frame(x)
    det = detectors.create("default").fit(frame.iloc[:300])
    events = _events(det, frame)
    onsets = np.flatnonzero(events[300:] > 0) + 300
    assert 1200 <= onsets[np.argmax(events[onsets])] < 1205  # the strongest event is the shift's onset
    assert (events > 0).sum() <= 10  # sparse: a handful of non-zero values in 1500 points
    assert ((events >= 0) & (events <= 1)).all()


def test_the_unit_does_not_depend_on_the_series_scale_or_level():
    # the same shape at another scale and level: the same tail probabilities (up to float32 ties
    # in the nearest-neighbour search) and the same event onsets
    x = _series(1200, seed=3)
    x[1000:1004] += 0.8
    a = EventDetector().fit(_frame(x)).score(_frame(x)).to_numpy()
    y = 1e6 + 250.0 * x
    b = EventDetector().fit(_frame(y)).score(_frame(y)).to_numpy()
    np.testing.assert_allclose(a, b, atol=2e-3)
    chain = PostRuleChain(EventDetector().default_post_rules())
    onsets = [np.flatnonzero(chain.apply(pd.Series(s), _frame(x))["anomaly_score"].to_numpy()).tolist() for s in (a, b)]
    assert onsets[0] == onsets[1] and any(1000 <= t < 1004 for t in onsets[0])


def test_scores_are_causal_and_streaming_continues_the_stream():
    x = _series(1000, seed=4)
    frame = _frame(x)
    det = EventDetector()
    full = det.fit(frame).score(frame).to_numpy()
    for cut in (200, 555):
        head = frame.iloc[:cut]
        np.testing.assert_array_equal(EventDetector().fit(head).score(head).to_numpy(), full[:cut])
    streamed = EventDetector().fit(frame.iloc[:600]).score(frame.iloc[600:]).to_numpy()
    np.testing.assert_allclose(streamed, score_series(x, det.config.channel_config())[600:])


def test_refractory_is_counted_in_time_not_in_points():
    # one row a minute vs one row an hour: the same scores are held for 6 hours either way
    scores = np.array([0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99])
    per_minute = event_onsets(scores, np.arange(8) * 60_000, 360, 0.9, floor=0.968)
    per_hour = event_onsets(scores, np.arange(8) * 3_600_000, 360, 0.9, floor=0.968)
    assert np.flatnonzero(per_minute).tolist() == [0]
    assert np.flatnonzero(per_hour).tolist() == [0, 6]
    # a sampling gap longer than the period: the next event counts again
    gap = event_onsets(scores[:3], np.array([0, 60_000, 10 * 3_600_000]), 360, 0.9, floor=0.968)
    assert np.flatnonzero(gap).tolist() == [0, 2]
    # inside an event, a ten times smaller tail probability is a new alarm (the rising bar)
    rising = event_onsets(np.array([0.99, 0.995, 0.9995]), np.arange(3) * 60_000, 360, 0.9, floor=0.968)
    assert rising.tolist() == [0.99, 0.0, 0.9995]


def test_the_suppress_rule_in_event_mode_needs_timestamps():
    from admon.errors import ConfigError

    chain = PostRuleChain(EventDetector().default_post_rules())
    with pytest.raises(ConfigError, match="timestamp"):
        chain.apply(pd.Series([0.5, 0.99]), pd.DataFrame({"host": ["a", "a"], "v": [0.0, 1.0]}))


def test_a_trained_default_model_gets_severity_from_the_one_calibrated_score(tmp_path):
    # issue 14 item 5: the detector's scores go through suppress -> calibrate -> threshold
    # unchanged, and every result's severity is the band of its calibrated score
    from admon.models.scoring import score_with_detector
    from admon.models.store import ModelStore
    from admon.models.training import train

    a, b = _series(1600, 5), _series(1600, 6, scale=40.0, level=500.0)
    a[1500:1506] += 4.0
    b[1450:1456] += 160.0
    frame = pd.concat([_frame(a, "a"), _frame(b, "b")], ignore_index=True)
    train_frame = frame[frame.timestamp < 1200 * STEP]
    result = train(None, 0, 1600 * STEP, "default", namespace="ns", model="m",
                   frame=train_frame, store=ModelStore(tmp_path), record=False)
    assert [r.name for r in result.post_rules] == ["suppress", "calibrate", "threshold", "missing_data"]
    loaded = ModelStore(tmp_path).load("ns", "m")
    window = frame[frame.timestamp >= 1300 * STEP]
    raw = loaded.detector.score(window)
    expected = loaded.post_rules.apply(raw, window, group_by=["host"])
    scores = score_with_detector(loaded.detector, loaded.post_rules, window)
    rows = scores.rows
    np.testing.assert_array_equal(rows["raw_score"].to_numpy(), raw.to_numpy())
    np.testing.assert_array_equal(rows["anomaly_score"].to_numpy(), expected["anomaly_score"].to_numpy())
    bands = [severity(s, t) if flag else None
             for s, t, flag in zip(rows["anomaly_score"], rows["threshold"], rows["is_anomaly"])]
    assert rows["severity"].tolist() == bands
    # both spikes, and only their onsets, are anomalies
    flagged = window[rows["is_anomaly"].to_numpy()]
    assert list(zip(flagged.host, flagged.timestamp // STEP)) == [("a", 1500), ("b", 1450)]
    # a fixed unit: the same raw score is the same 0-100 score on every series and entity,
    # and 75 sits at the event floor (every event onset is an anomaly, nothing else is)
    other = PostRuleChain.for_detector(EventDetector().fit(_frame(_series(300, 9)))).fit(
        pd.Series(np.zeros(300)), _frame(np.zeros(300)))
    probe = pd.Series([0.5, 0.968, 0.999])
    assert [r.name for r in other] == ["suppress", "calibrate", "threshold", "missing_data"]
    mine = loaded.post_rules.rules[1].calibrator.transform(probe)
    np.testing.assert_array_equal(mine, other.rules[1].calibrator.transform(probe))
    assert mine[0] < 75.0 and mine[1] == pytest.approx(75.0, abs=0.1) and mine[2] > 90.0
